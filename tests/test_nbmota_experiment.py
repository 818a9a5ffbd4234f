"""The NbMoTa experiment end to end at a tiny size (seconds): every claim reads the result, the
README reference barriers hold whatever the run's seed, and bad configurations fail up front."""

from __future__ import annotations

import pytest

from support.claims import evaluate
from support.experiments import nbmota
from support.experiments.config import apply_overrides

# overrides apply one at a time, each validated: record_hops and truth_hops before horizon_hops
TINY = {"temperatures": "[2000.0, 3000.0]", "small_seeds": "2", "record_hops": "100", "truth_hops": "200",
        "horizon_hops": "400", "pilot_hops": "20", "pairs_per_T": "16", "batch": "16", "partial_hops": "8",
        "sde_hidden": "[8]", "sde_steps": "10", "sde_batch": "16", "truth_replicas": "2", "rollout_paths": "4",
        "substeps": "2", "stationary_paths": "4", "stationary_max_hops": "400"}


@pytest.fixture(scope="module")
def tiny_result():
    cfg = apply_overrides(nbmota.Config.for_scale("quick"), TINY)
    return nbmota.run(cfg, seed=3, progress=False)


def test_tiny_run_reads_every_claim(tiny_result):
    r = tiny_result
    verdicts = {v.claim.key: v for v in evaluate(r, nbmota.CLAIMS)}
    assert set(verdicts) == {c.key for c in nbmota.CLAIMS}
    assert all(v.holds is not None for v in verdicts.values()), {k: v.measured for k, v in verdicts.items()}
    # the reference crops do not depend on the run's seed (here 3): the barrier claim holds
    assert verdicts["barriers"].holds
    assert set(r.metrics["stationary"]) >= {2000.0, 3000.0}
    assert set(r.figures) == {"microscopic", "sro_trajectories", "sde_vs_kmc", "fluctuations"}


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
])
def test_bad_configs_fail_before_running(change, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(nbmota.Config.for_scale("quick"), change)


def test_saved_run_without_the_new_fields_still_loads_and_is_current():
    from support.results import saved_result, staleness
    saved = saved_result("nbmota")
    if saved is None:
        pytest.skip("no saved paper-scale run")
    assert "stationary_paths" not in saved.config            # recorded before these fields existed
    assert not staleness(saved, nbmota.VERSION)
    assert saved.provenance()
