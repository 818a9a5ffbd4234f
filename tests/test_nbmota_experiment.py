"""The NbMoTa experiment end to end at a tiny size (seconds): every claim reads the result and shows
its interval, the verdicts survive saving, the README reference barriers hold whatever the run's seed,
the intervals decide as they should on synthetic data, and bad configurations fail up front."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from support.claims import evaluate
from support.experiments import nbmota
from support.experiments.config import apply_overrides
from support.paper_numbers import paper2
from support.results import ExperimentResult

# overrides apply one at a time, each validated: record_hops and truth_hops before horizon_hops
# (at least two batches of pairs and a few runs of each kind: every claim's interval needs >= 2 units)
TINY = {"temperatures": "[2000.0, 3000.0]", "small_seeds": "3", "record_hops": "100", "truth_hops": "200",
        "horizon_hops": "400", "pilot_hops": "20", "pairs_per_T": "32", "batch": "16", "partial_hops": "8",
        "sde_hidden": "[8]", "sde_steps": "10", "sde_batch": "16", "truth_replicas": "4", "rollout_paths": "8",
        "substeps": "2", "stationary_paths": "4", "stationary_max_hops": "400"}


@pytest.fixture(scope="module")
def tiny_result():
    cfg = apply_overrides(nbmota.Config.for_scale("quick"), TINY)
    return nbmota.run(cfg, seed=3, progress=False)


def test_tiny_run_reads_every_claim(tiny_result, tmp_path):
    r = tiny_result
    verdicts = {v.claim.key: v for v in evaluate(r, nbmota.CLAIMS)}
    assert set(verdicts) == {c.key for c in nbmota.CLAIMS}
    # every measured text shows an interval (the barriers: exact, no sampling noise, said so)
    for key, v in verdicts.items():
        assert ("[" in v.measured) or key == "barriers", (key, v.measured)
    assert "no sampling noise" in verdicts["barriers"].measured
    # the reference crops do not depend on the run's seed (here 3): the barrier claim holds
    assert verdicts["barriers"].holds
    assert set(r.metrics["stationary"]) >= {2000.0, 3000.0}
    assert set(r.figures) == {"microscopic", "sro_trajectories", "sde_vs_kmc", "fluctuations"}
    # the per-unit data the intervals need survive saving (floats rounded to 6 digits): same verdicts
    r.save(tmp_path)
    again = {v.claim.key: v for v in evaluate(ExperimentResult.load(tmp_path), nbmota.CLAIMS)}
    assert {k: v.holds for k, v in again.items()} == {k: v.holds for k, v in verdicts.items()}
    # one SDE path group per direct run, every group non-empty
    assert len(r.metrics["pred_group_n"]) == len(r.metrics["truth_paths"]) and min(r.metrics["pred_group_n"]) >= 1


def _kmc_verdict(tiny_result, offset: float, spread: float, n: int = 12):
    """kmc_equilibrium on the tiny run with its 2000 K late δ per run replaced by synthetic ones:
    the official reference + ``offset`` with a per-run scatter of ``spread``."""
    m = dict(tiny_result.metrics)
    ref = np.asarray(paper2.NBMOTA["kmc_2000"])
    noise = np.random.default_rng(0).standard_normal((n, 6))
    noise = (noise - noise.mean(0)) / noise.std(0, ddof=1)           # exact mean 0, std 1
    m["small_late_seeds"] = {2000.0: ref + offset + spread * noise}
    fake = dataclasses.replace(tiny_result, scale="quick", metrics=m, figures={})
    return next(v for v in evaluate(fake, nbmota.CLAIMS) if v.claim.key == "kmc_equilibrium")


def test_kmc_equilibrium_is_decided_by_its_interval_and_the_stated_tolerance(tiny_result):
    tol = nbmota.KMC_REF_TOL
    assert _kmc_verdict(tiny_result, 0.0, 0.01).holds is True                 # interval inside ±tol
    assert _kmc_verdict(tiny_result, 3 * tol, 0.01).holds is False            # interval outside
    assert _kmc_verdict(tiny_result, tol, 0.01).holds is None                 # straddles the edge
    assert _kmc_verdict(tiny_result, 0.0, 0.2).holds is None                  # too noisy to decide
    # at the quick scale the claim is stated not to hold (too short a horizon): undecided is no pass
    assert not _kmc_verdict(tiny_result, 0.0, 0.2).ok


@pytest.mark.parametrize("change, match", [
    ({"patch_side": "2"}, "patch_side"),
    ({"patch_side": "33"}, "patch_side"),
    ({"partial_hops": "3"}, "partial_hops"),
    ({"truth_T": "2500.0", "temperatures": "[2000.0, 3000.0]"}, "truth_T"),
    ({"temperatures": "[2000.0]", "truth_T": "2000.0"}, "at least two"),
    ({"large_cells": "12"}, "multiple"),
    ({"truth_hops": "6100"}, "multiples"),
    ({"upsampling": "tiles"}, "upsampling"),
    ({"stationary_paths": "1"}, "stationary_paths"),
    ({"rollout_paths": "11"}, "rollout_paths"),
])
def test_bad_configs_fail_before_running(change, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(nbmota.Config.for_scale("quick"), change)


def test_saved_run_stores_what_the_intervals_need_and_is_current():
    from support.claims import assert_claims
    from support.results import saved_result, staleness
    saved = saved_result("nbmota")
    if saved is None:
        pytest.skip("no saved paper-scale run")
    for key in ("small_late_seeds", "truth_paths", "small_T_paths", "pred_group_n", "pred_group_mean",
                "pred_group_sq", "stationary_per_path", "late_from"):
        assert key in saved.metrics, key
    assert not staleness(saved, nbmota.VERSION)
    assert saved.provenance()
    assert_claims(saved, nbmota.CLAIMS)               # every verdict as the module states it at paper scale


def _json(x):
    import json
    from support.results import _jsonable
    return json.loads(json.dumps(_jsonable(x, 6)))


def test_typed_result_is_the_metrics_layout(tiny_result):
    """The typed result writes back the live run's metrics, and reads them from their JSON too."""
    m = nbmota.typed(tiny_result)
    assert _json(m.to_json()) == _json(tiny_result.metrics)
    assert _json(nbmota.NbMoTaResult.from_json(_json(tiny_result.metrics)).to_json()) == _json(tiny_result.metrics)
    assert set(m.stationary) >= {2000.0, 3000.0} and m.small_late[2000] is m.small_late["2000.0"]
    assert m.late_std.kmc_8192.shape == (6,) and m.increment_variance[3000.0].hops == (2, 4, 8)


def test_saved_run_reads_as_typed_result():
    """The saved paper-scale run (never rewritten) reads through the typed reader, number for number."""
    import json
    from pathlib import Path
    from support.results import saved_result
    saved = saved_result("nbmota", "paper")
    raw = json.loads((Path(__file__).resolve().parents[1] / "results" / "paper" / "nbmota" / "results.json")
                     .read_text())["metrics"]
    m = nbmota.typed(saved)
    assert m.barriers.mean == raw["barriers"]["mean"] and m.late_from == raw["late_from"]
    assert m.small_late[2000].tolist() == raw["small_late"]["2000.0"]
    assert m.increment_variance[1400].per_time == tuple(raw["increment_variance"]["1400.0"]["per_time"])
    assert m.truth_paths.shape == np.asarray(raw["truth_paths"]).shape and m.sqrtK_kmc == raw["sqrtK_kmc"]
    assert m.simulation_cost is None                      # saved before the cost was counted
    assert _json(m.to_json()) == raw                      # no key, number or key spelling lost
