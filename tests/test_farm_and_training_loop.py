"""The training loop's finiteness checks, and resumable / parallel latent training (support.farm)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from support.farm import LatentJob, ModelStore, run_latent_jobs
from support.latent import LatentFactory, build_latent_model
from support.normalise import LatentNormaliser
from support.train import TrainConfig, fit


def _linear_data(n: int = 64, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    a = torch.tensor([[-1.0, 2.0, 0.0], [-2.0, -1.0, 0.0], [0.0, 0.0, -0.5]], dtype=torch.float64)
    return z, z @ a.T


def _mse(model, batch):
    return (model(batch[0]) - batch[1]).pow(2).mean()


@pytest.mark.parametrize("check_every", [1, 3, 1000])
def test_nan_loss_is_reported_whatever_the_check_interval(check_every):
    z, t = _linear_data()
    t[40] = float("nan")                                  # one poisoned sample: its batch's loss is NaN
    model = build_latent_model("mlp", 3, hidden=(8,)).double()
    cfg = TrainConfig(steps=20, batch_size=16, progress=False, check_every=check_every)
    with pytest.raises(FloatingPointError, match="loss became nan"):
        fit(model, _mse, (z, t), cfg)


def test_check_interval_does_not_change_training():
    z, t = _linear_data()
    runs = []
    for every in (1, 7):
        model = build_latent_model("mlp", 3, hidden=(8,), seed=2).double()
        hist = fit(model, _mse, (z, t), TrainConfig(steps=30, batch_size=16, progress=False, check_every=every))
        runs.append((hist.loss, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_bad_check_interval_raises():
    with pytest.raises(ValueError, match="check_every"):
        TrainConfig(check_every=0)


def _jobs(n_models: int = 3):
    z, t = _linear_data(96)
    norm = LatentNormaliser(3)                              # the identity normalisation
    factory = LatentFactory("onsagernet", 3, {"hidden": (8, 8)})
    cfg = TrainConfig(steps=25, batch_size=32, progress=False, schedule="cosine", threads=1)
    return [LatentJob(f"m{k}", "lz", (z, t), factory, norm.double(), seed=k, cfg=cfg) for k in range(n_models)]


def test_models_do_not_depend_on_the_number_of_workers(tmp_path):
    trained = {}
    for workers in (1, 2):
        out = {}
        run_latent_jobs(_jobs(), lambda job, G, hist: out.__setitem__(job.key, (G, hist.loss)), workers=workers)
        trained[workers] = out
    assert set(trained[1]) == set(trained[2]) == {"m0", "m1", "m2"}
    for key in trained[1]:
        G1, loss1 = trained[1][key]
        G2, loss2 = trained[2][key]
        assert loss1 == loss2
        for a, b in zip(G1.state_dict().values(), G2.state_dict().values()):
            assert torch.equal(a, b)


def test_store_saves_each_model_and_a_rerun_resumes(tmp_path):
    store = ModelStore(tmp_path / "models", {"study": "toy", "version": 1})
    calls = []

    def done(job, G, hist):
        calls.append(job.key)
        store.save(job.key, {"loss": hist.loss[-1], "seed": job.seed}, G)

    def pending():
        return (job for job in _jobs() if not store.has(job.key))

    # "interrupted" after the first model: only it is stored
    first = next(pending())
    run_latent_jobs([first], done)
    assert store.keys() == ["m0"]
    run_latent_jobs(pending(), done)                      # the rerun trains only the other two
    assert calls == ["m0", "m1", "m2"] and store.keys() == ["m0", "m1", "m2"]
    job = _jobs()[1]
    G = store.load_into("m1", job.build())
    z = job.tensors[0][:5]
    assert math.isfinite(store.record("m1")["loss"]) and G(z).shape == (5, 3)


def test_store_refuses_another_study_and_bad_keys(tmp_path):
    ModelStore(tmp_path, {"study": "a", "ensemble": 10})
    with pytest.raises(ValueError, match="ensemble"):
        ModelStore(tmp_path, {"study": "a", "ensemble": 5})
    with pytest.raises(ValueError, match="plain file name"):
        ModelStore(tmp_path, {"study": "a", "ensemble": 10}).has("../x")
    with pytest.raises(ValueError, match="workers"):
        run_latent_jobs([], lambda *a: None, workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_diverging_model_is_handed_back_not_fatal(workers):
    jobs = _jobs()
    z, t = jobs[1].tensors
    poisoned = t.clone()
    poisoned[5] = float("nan")                             # every epoch meets a NaN batch
    jobs[1] = LatentJob("m1", "lz", (z, poisoned), jobs[1].factory, jobs[1].norm, 1, jobs[1].cfg)
    done, failed = [], {}
    n = run_latent_jobs(jobs, lambda job, G, hist: done.append(job.key), workers=workers,
                        on_diverged=lambda job, why: failed.__setitem__(job.key, why))
    assert n == 3 and sorted(done) == ["m0", "m2"] and list(failed) == ["m1"]
    assert "loss became nan" in failed["m1"].message and failed["m1"].seconds >= 0
    with pytest.raises(FloatingPointError, match="m1: loss became nan"):  # nobody to record it: fatal
        run_latent_jobs(jobs[1:2], lambda *a: None, workers=workers)


def test_compiled_training_follows_the_eager_path(monkeypatch):
    """``TrainConfig(compile=True)`` trains through torch.compile: the OnsagerNet L_z step (exact
    gradients, no double backward) is captured as graphs, each new model starts from a reset cache
    (no silent eager fallback after dynamo's recompile limit), and the loss history equals eager
    training to round-off. The ``aot_eager`` back-end traces forward and backward exactly as
    inductor does but needs no C++ compiler (inductor is measured in benchmarks/bench_latent_training.py)."""
    from torch._dynamo.utils import counters

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: real_compile(model, backend="aot_eager"))
    resets = []
    real_reset = torch._dynamo.reset
    monkeypatch.setattr(torch._dynamo, "reset", lambda: (resets.append(1), real_reset())[1])
    job = _jobs(1)[0]
    runs = {}
    for compiled in (False, True, True):
        counters.clear()
        G = job.build()
        hist = fit(G, lambda m, b: _mse(m, b), job.tensors, replace(job.cfg, compile=compiled, seed=0))
        runs.setdefault(compiled, []).append(hist.loss)
        if compiled:
            assert counters["stats"]["unique_graphs"] >= 1 and not counters["graph_break"]
    assert len(resets) == 2
    assert runs[True][0] == runs[True][1]                                 # a second model compiles afresh
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=1e-10, atol=0)
