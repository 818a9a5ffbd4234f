"""A study that outlives its machine: a model store's records (JSON) kept apart from the weights, e.g.
committed under results/, so a study continues from any clone and is assembled from its records alone."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from support import farm
from support.__main__ import main
from support.experiments import lj_structures
from support.farm import ModelStore
from tests.test_experiments_lj import TINY_AE, TINY_WIDTHS
from tests.test_farm_and_training_loop import _jobs


def _cfg(**fields) -> lj_structures.Config:
    tiny = dict(n_atoms=108, n_train_traj=4, n_test_traj=2, latent_dim=4, p=1 / 4, lz_trajectories=1, frame_stride=25,
                widths=TINY_WIDTHS, ensemble=2, steps=10, batch_size=16, structures=("mlp",), protocols=("paper",),
                ae=TINY_AE)
    return replace(lj_structures.Config(), **{**tiny, **fields})


def _per_model(result) -> dict:
    per = result.metrics["results"]["paper"]["mlp"]
    return {loss: per[loss]["same start"]["per_model"] for loss in ("lz", "lx")}


def test_a_study_resumed_from_records_alone_trains_only_the_missing_models(tmp_path, monkeypatch):
    """Sitting 1 trains one model per loss with only a records directory (no latent model's weights
    kept anywhere; the autoencoder's travel with the records, compressed); sitting 2, as on a fresh
    clone that has only those records, loads that autoencoder instead of training it (checked against
    the records' fingerprint), loads the two finished models and trains only the two missing ones;
    the result equals a study run straight through, rollout figure included."""
    records = tmp_path / "results" / "stores" / "lj_structures"
    first = lj_structures.run(_cfg(ensemble=1), seed=0, progress=False, records=str(records))
    ex = first.metrics["execution"]
    assert (ex["models"]["loaded"], ex["models"]["trained"]) == (0, 2) and ex["store_weights"] == "records only"
    assert not list(tmp_path.rglob("*.pt"))                                      # no latent weights anywhere
    assert [p.name for p in tmp_path.rglob("*.gz")] == ["autoencoder.pt.gz"]    # the autoencoder, with the records
    assert "fingerprint" in json.loads((records / "autoencoder.json").read_text())

    trained, train = [], farm.train_job
    monkeypatch.setattr(farm, "train_job", lambda job: trained.append(job.key) or train(job))
    from support.experiments import lj_common
    monkeypatch.setattr(lj_common, "train_autoencoder", lambda *a, **k: pytest.fail("the autoencoder was retrained"))
    resumed = lj_structures.run(_cfg(), seed=0, progress=False, records=str(records))
    ex = resumed.metrics["execution"]["models"]
    assert (ex["loaded"], ex["trained"], ex["diverged"]) == (2, 2, 0)
    assert sorted(trained) == ["paper-mlp-lx-p0.25-F1080-s2", "paper-mlp-lz-p1-F1080-s2"]
    assert sorted(p.stem for p in records.glob("*.json")) == [
        "autoencoder", "identity", "paper-mlp-lx-p0.25-F1080-s1", "paper-mlp-lx-p0.25-F1080-s2",
        "paper-mlp-lz-p1-F1080-s1", "paper-mlp-lz-p1-F1080-s2"]

    monkeypatch.undo()
    straight = lj_structures.run(_cfg(), seed=0, progress=False)                 # no store at all
    assert _per_model(resumed) == _per_model(straight)
    assert resumed.metrics["figure_curves"] == straight.metrics["figure_curves"]
    assert resumed.metrics["figure_curves"]["pred"]["L_z"] is not None


def test_records_made_with_another_autoencoder_are_refused(tmp_path):
    records = tmp_path / "records"
    lj_structures.run(_cfg(ensemble=1), seed=0, progress=False, records=str(records))
    path = records / "autoencoder.json"
    rec = json.loads(path.read_text())
    rec["fingerprint"]["autoencoder"] = "0" * 16                   # as if trained on another machine
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="other autoencoder than this run's"):
        lj_structures.run(_cfg(), seed=0, progress=False, records=str(records))
    with pytest.raises(ValueError, match="another study"):          # a changed setting: refused, as before
        lj_structures.run(_cfg(steps=11), seed=0, progress=False, records=str(records))



def test_copied_weights_are_checked_against_the_records_too(tmp_path):
    """With the weights (--models) the autoencoder is loaded, not trained, and still checked: the
    records name the trajectories they were computed on."""
    weights, records = tmp_path / "models", tmp_path / "records"
    lj_structures.run(_cfg(ensemble=1), seed=0, progress=False, models=str(weights), records=str(records))
    assert (weights / "autoencoder.pt").exists() and not (weights / "autoencoder.json").exists()
    again = lj_structures.run(_cfg(ensemble=1), seed=0, progress=False, models=str(weights), records=str(records))
    assert again.metrics["execution"]["models"]["loaded"] == 2
    path = records / "autoencoder.json"
    rec = json.loads(path.read_text())
    rec["fingerprint"]["data"] = "0" * 16                          # as if simulated elsewhere
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="other data than this run's"):
        lj_structures.run(_cfg(ensemble=1), seed=0, progress=False, models=str(weights), records=str(records))


def test_weights_and_records_in_two_places(tmp_path):
    """With --models and --records the weights go to one directory and the records to the other;
    both remember the study, and a store of records only cannot hand out weights."""
    weights, records = tmp_path / "models", tmp_path / "records"
    store = ModelStore(weights, {"study": "toy"}, records=records)
    job = _jobs(1)[0]
    G, hist = farm.train_job(job)
    store.save(job.key, {"loss": hist.loss[-1]}, G)
    assert (weights / "m0.pt").exists() and not (weights / "m0.json").exists() and (records / "m0.json").exists()
    assert store.has("m0") and store.has_weights("m0") and store.keys() == ["m0"]
    with pytest.raises(ValueError, match="another study"):
        ModelStore(weights, {"study": "other"}, records=tmp_path / "new")
    only = ModelStore(None, {"study": "toy"}, records=records)
    assert only.has("m0") and not only.has_weights("m0")
    with pytest.raises(FileNotFoundError, match="records only"):
        only.load_into("m0", job.build())
    with pytest.raises(ValueError, match="weights, its records, or both"):
        ModelStore(None, {"study": "toy"})


def test_shared_weights_travel_with_the_records_byte_for_byte(tmp_path):
    """A ``shared`` key's weights are written beside its record (gzip, full precision, no timestamp:
    the same weights give the same bytes, so a committed file changes only with them) and a store of
    records only loads them; other keys' weights stay out of the records."""
    import torch
    job = _jobs(1)[0]
    G, _ = farm.train_job(job)
    a = ModelStore(None, {"study": "toy"}, records=tmp_path / "a", shared=("m",))
    b = ModelStore(tmp_path / "w", {"study": "toy"}, records=tmp_path / "b", shared=("x",))
    for store in (a, b):
        store.save("m0", {"loss": 1.0}, G)
    assert (tmp_path / "a" / "m0.pt.gz").exists() and not (tmp_path / "b" / "m0.pt.gz").exists()
    a.save("m0", {"loss": 1.0}, G)
    first = (tmp_path / "a" / "m0.pt.gz").read_bytes()
    ModelStore(None, {"study": "toy"}, records=tmp_path / "c", shared=("m",)).save("m0", {"loss": 1.0}, G)
    assert (tmp_path / "c" / "m0.pt.gz").read_bytes() == first
    loaded = ModelStore(None, {"study": "toy"}, records=tmp_path / "a").load_into("m0", job.build())
    assert all(torch.equal(x, y) for x, y in zip(loaded.state_dict().values(), G.state_dict().values()))
    assert next(iter(loaded.state_dict().values())).dtype == next(iter(G.state_dict().values())).dtype


def test_records_flag_on_the_command_line(capsys, tmp_path):
    assert main(["run", "lj_encoders", "--records", str(tmp_path / "records")]) == 2
    assert "does not take --records" in capsys.readouterr().err


def test_lj_scaling_resumes_from_records_alone(tmp_path):
    """lj_scaling assembles its curves and the ensemble disagreement from the records: a second
    seed added in a later sitting trains only its models, and the result equals a straight run."""
    from support.experiments import lj_scaling
    cfg = replace(lj_scaling.Config(), sizes=(108,), n_train_traj=2, n_test_traj=1, latent_dim=4, atoms_per_config=4,
                  lz_configs=(8,), lxp_configs=(16,), seeds=(1,), widths=TINY_WIDTHS, steps=10, batch_size=16,
                  tol=10.0, ae=TINY_AE, timing_sizes=(108,), timing_repeats=1)
    records = tmp_path / "records"
    lj_scaling.run(cfg, seed=0, progress=False, records=str(records))
    both = replace(cfg, seeds=(1, 2))
    resumed = lj_scaling.run(both, seed=0, progress=False, records=str(records))
    ex = resumed.metrics["execution"]["models"]
    assert (ex["loaded"], ex["trained"]) == (2, 2)
    straight = lj_scaling.run(both, seed=0, progress=False)
    for a, b in zip(resumed.metrics["per_size"], straight.metrics["per_size"]):
        for loss in ("lz", "lx"):
            assert a[loss]["per_seed"] == b[loss]["per_seed"] and a[loss]["disagreement"] == b[loss]["disagreement"]
