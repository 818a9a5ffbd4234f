"""support.stochastic.pipeline: one fit-and-roll-out step for every model, typed frozen results with a
JSON round trip that reads the saved runs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from support.results import ExperimentResult, saved_result
from support.stochastic.encoder import LatentPairs
from support.stochastic.pipeline import (EnsembleScore, ModelSpec, PatchSideResult, fit_and_roll_out,
                                         partial_and_naive, patch_sides, select_dims)
from support.stochastic.study import SDESettings

SETTINGS = SDESettings(steps=150, batch_size=256, hidden=(8,), init_scale=None)


def ou_pairs(n: int = 2000, K: int = 4, seed: int = 0) -> dict[str, LatentPairs]:
    """2-d Ornstein–Uhlenbeck increments dz = −z dt + dW over δt = 0.05; the partial target's
    increment carries K times the system's variance (a patch's observable is a 1/K-sized system's)."""
    g = torch.Generator().manual_seed(seed)
    dt = 0.05
    z0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    drift = -z0 * dt
    noise = torch.randn(n, 2, generator=g, dtype=torch.float64) * math.sqrt(dt)
    dts = torch.full((n,), dt, dtype=torch.float64)
    return {"partial": LatentPairs(z0, z0 + drift + noise * math.sqrt(K), dts, K, "partial"),
            "naive": LatentPairs(z0, z0 + drift + noise, dts, K, "naive")}


def test_every_model_is_fitted_and_rolled_out_with_common_random_numbers():
    pairs = ou_pairs()
    specs = (*partial_and_naive(4), ModelSpec("ours_again", "partial", 4.0), ModelSpec("m_only", "partial", 4.0, (0,)))
    starts = np.zeros((3, 5, 2)) + np.array([0.5, -0.5])
    ens = fit_and_roll_out(pairs, specs, SETTINGS, starts, dt=0.05, n_records=4, substeps=2, seed=3)
    assert list(ens) == ["ours", "naive", "ours_again", "m_only"]
    assert ens["ours"].paths.shape == (3, 5, 5, 2) and ens["m_only"].paths.shape == (3, 5, 5, 1)
    assert np.array_equal(ens["ours"].paths, ens["ours_again"].paths)        # same seed: same fit, same paths
    assert np.allclose(ens["ours"].paths[:, :, 0], starts)                     # paths start at the starts
    # λ = K on the partial target and λ = 1 on the naive one learn the same (system) noise
    z = torch.zeros(1, 2, dtype=torch.float64)
    var = {k: ens[k].model.diffusion_matrix(z)[0].diagonal().detach() for k in ("ours", "naive")}
    assert torch.allclose(var["ours"], var["naive"], rtol=0.3)


def test_bad_models_and_starts_are_refused():
    pairs = ou_pairs(200)
    with pytest.raises(ValueError, match="pairs must be"):
        ModelSpec("x", "full", 1.0)
    with pytest.raises(ValueError, match="positive"):
        ModelSpec("x", "partial", 0.0)
    with pytest.raises(ValueError, match="distinct"):
        ModelSpec("x", "partial", 1.0, (0, 0))
    with pytest.raises(ValueError, match="must be a number"):
        ModelSpec("x", "partial", "4")
    with pytest.raises(ValueError, match="integer indices"):
        ModelSpec("x", "partial", 1.0, (0.5,))
    assert ModelSpec("x", "partial", 4, [1, 0]).dims == (1, 0)              # a list becomes a tuple: hashable
    with pytest.raises(ValueError, match="K must be"):
        partial_and_naive(0)
    starts = np.zeros((1, 2, 2))
    kw = dict(dt=0.05, n_records=2, substeps=1, seed=0)
    with pytest.raises(ValueError, match="empty"):
        fit_and_roll_out(pairs, (), SETTINGS, starts, **kw)
    with pytest.raises(ValueError, match="distinct"):
        fit_and_roll_out(pairs, (ModelSpec("a", "partial", 1.0),) * 2, SETTINGS, starts, **kw)
    with pytest.raises(ValueError, match="needs the 'naive' pairs"):
        fit_and_roll_out({"partial": pairs["partial"]}, partial_and_naive(4), SETTINGS, starts, **kw)
    with pytest.raises(ValueError, match=r"\[n_starts, n_paths, d\]"):
        fit_and_roll_out(pairs, partial_and_naive(4), SETTINGS, np.zeros((2, 2)), **kw)
    with pytest.raises(ValueError, match="out of range"):
        select_dims(pairs["partial"], (0, 2))
    with pytest.raises(ValueError, match="out of range for 2-d starts"):
        fit_and_roll_out(pairs, (ModelSpec("a", "partial", 1.0, (2,)),), SETTINGS, starts, **kw)


def _side() -> PatchSideResult:
    score = EnsembleScore(4.0, 0.02, [0.01, 0.03], np.ones((2, 3)), np.zeros((2, 3)), {"std_ratio": 1.1})
    naive = EnsembleScore(1.0, 0.5, [0.4, 0.6], np.ones((2, 3)), np.ones((2, 3)), {"std_ratio": 4.0})
    return PatchSideResult(8, 4, 100, {"partial_evolution": 7, "total": 9}, {"ours": score, "naive": naive},
                           {"seconds": 1.5})


def test_results_are_frozen_and_survive_a_json_round_trip(tmp_path):
    side = _side()
    with pytest.raises(dataclasses.FrozenInstanceError):
        side.ell = 16
    with pytest.raises(TypeError):
        side.models["ours"] = side.models["naive"]                              # read-only mappings
    with pytest.raises(TypeError):
        side.models["ours"].extra["std_ratio"] = 0.0
    res = ExperimentResult("toy", "quick", 0, {}, {"per_ell": [side.to_json()]})
    back = patch_sides(ExperimentResult.load(res.save(tmp_path, figures=False)).metrics)[0]
    assert (back.ell, back.K, back.n_pairs, dict(back.simulation_cost)) == (8, 4, 100, {"partial_evolution": 7, "total": 9})
    assert back.models["ours"].error_per_start == (0.01, 0.03) and back.models["naive"].lam == 1.0
    assert np.array_equal(back.models["naive"].pred_std, np.ones((2, 3)))
    assert back.models["ours"].extra["std_ratio"] == 1.1 and back.extra["seconds"] == 1.5
    assert json.dumps(back.to_json(), default=lambda a: a.tolist()) == \
        json.dumps(side.to_json(), default=lambda a: a.tolist())


def test_scores_own_their_arrays_and_read_a_diverged_error():
    mean = np.ones((2, 3))
    score = EnsembleScore(1.0, 0.1, [0.1], mean, mean)
    mean[0, 0] = 99.0                                       # the caller's array is not the score's
    assert score.pred_mean[0, 0] == 1.0
    with pytest.raises(ValueError):
        score.pred_mean[0, 0] = 5.0                         # read-only
    saved = json.loads(json.dumps({**score.to_json(), "error": None, "error_per_m0": [None]},
                                  default=lambda a: a.tolist()))        # NaN is written as null
    back = EnsembleScore.from_json(saved)
    assert math.isnan(back.error) and math.isnan(back.error_per_start[0])
    with pytest.raises(ValueError, match="reserved"):
        EnsembleScore(1.0, 0.1, [0.1], mean, mean, {"error": 0.0})
    with pytest.raises(ValueError, match="reserved"):
        PatchSideResult(8, 4, 10, {}, {}, {"models": {}})


def test_a_row_missing_its_scores_is_refused():
    with pytest.raises(ValueError, match="missing"):
        PatchSideResult.from_json({"ell": 8, "K": 4, "models": {}})
    with pytest.raises(ValueError, match="missing"):
        EnsembleScore.from_json({"lambda": 1.0, "error": 0.1})
    with pytest.raises(ValueError, match="per_ell"):
        patch_sides({})
    with pytest.raises(ValueError, match="at least one start"):
        EnsembleScore(1.0, 0.1, [], [[0.0]], [[0.0]])


@pytest.mark.parametrize("name", ["curie_weiss", "ising"])
def test_the_saved_paper_runs_read_as_typed_results(name):
    saved = saved_result(name, "paper")
    sides = patch_sides(saved.metrics)
    assert [s.ell for s in sides] == [r["ell"] for r in saved.metrics["per_ell"]]
    for side, raw in zip(sides, saved.metrics["per_ell"]):
        assert set(side.models) == set(raw["models"])
        for key, model in side.models.items():
            assert model.error == raw["models"][key]["error"]
            assert list(model.error_per_start) == raw["models"][key]["error_per_m0"]
        assert side.to_json().keys() == raw.keys()                               # the saved layout, no key lost


def test_json_record_round_trip_number_keys_and_refusals():
    """The shared mechanism of the typed results: a record's fields name their JSON keys and
    normalise live and saved values alike; number-keyed mappings keep the run's key spelling."""
    from dataclasses import dataclass

    from support.stochastic.pipeline import (JsonRecord, floats, number_keyed, readonly_array, record_field,
                                             typed_metrics)

    @dataclass(frozen=True, eq=False, kw_only=True)
    class Inner(JsonRecord):
        lam: float = record_field("lambda", convert=float)
        curve: tuple[float, ...] = record_field(convert=floats)

    @dataclass(frozen=True, eq=False, kw_only=True)
    class Outer(JsonRecord):
        per_T: object = record_field(convert=number_keyed(readonly_array))
        inner: Inner = record_field(convert=Inner.coerce)
        late: object = record_field(convert=float, omit_none=True, default=None)

    live = {"per_T": {2000.0: np.arange(3.0), 2200: [1.0, 2.0]}, "inner": {"lambda": 4, "curve": [1.0, None]}}
    rec = Outer.from_json(live)
    assert rec.inner.lam == 4.0 and math.isnan(rec.inner.curve[1]) and rec.late is None
    assert rec.per_T[2000] is rec.per_T["2000.0"] and 2200.0 in rec.per_T and list(rec.per_T) == [2000.0, 2200.0]
    assert not rec.per_T[2000].flags.writeable
    out = rec.to_json()
    assert list(out["per_T"]) == [2000.0, 2200] and "late" not in out          # keys as given, None left out
    saved = json.loads(json.dumps({**live, "per_T": {"2000.0": [0.0, 1.0, 2.0], "2200": [1.0, 2.0]}}))
    assert list(Outer.from_json(saved).to_json()["per_T"]) == ["2000.0", "2200"]
    assert typed_metrics(rec, Outer) is rec
    with pytest.raises(ValueError, match="missing"):
        Outer.from_json({"per_T": {}})
    with pytest.raises(ValueError, match="unknown keys"):
        Outer.from_json({**live, "extra": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.late = 1.0
