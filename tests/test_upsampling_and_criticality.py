"""The upsampling and Ising-criticality experiments: tiny end-to-end runs, claims readable, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from support.claims import evaluate
from support.experiments import ising_criticality as crit
from support.experiments import upsampling as ups
from support.experiments.config import apply_overrides
from support.systems.spins import ising

TINY_UPS = {"L_small": "8", "L": "16", "relax_window": "8", "n_snapshots": "8", "small_runs": "4",
            "small_burn_in": "20", "small_interval": "5", "relax_times": "[0, 1]", "reference_chains": "4",
            "direct_lattices": "2", "direct_time": "20", "direct_records": "4"}

TINY_CRIT = {"L_small": "8", "sizes": "[8, 16]", "temperatures": "[2.25, 2.29]", "n_snapshots": "40",
             "small_runs": "4", "small_burn_in": "20", "small_interval": "2", "relax_window": "8",
             "relax_time": "1", "pairs_per_snapshot": "2", "correlation_per_snapshot": "2", "sde.steps": "20",
             "rollout_paths": "8", "rollout_steps": "40", "record_every": "2", "direct_chains": "2",
             "direct_records": "20", "binder_grid": "[2.2, 2.3]"}


def test_upsampling_tiny_run_reads_every_claim():
    cfg = apply_overrides(ups.Config.for_scale("quick"), TINY_UPS)
    r = ups.run(cfg, progress=False)
    verdicts = {v.claim.key: v for v in evaluate(r, ups.CLAIMS)}
    assert set(verdicts) == {c.key for c in ups.CLAIMS}
    assert all(v.holds is not None for v in verdicts.values())
    assert verdicts["replication_exact"].holds                     # exact maps, whatever the size
    c = r.metrics["conditions"]["critical"]
    runs = {(row["t_relax"], row["boundary"]) for row in c["runs"]}
    assert runs == {(0.0, "frozen"), (1.0, "frozen"), (1.0, "periodic")}
    assert c["runs"][0]["inside_over_between"] == 0.0             # replication: no wall inside a block
    assert set(r.figures) == {"snapshots", "histograms", "distances", "correlation", "cost"}


def test_upsampling_rejects_bad_configs():
    cfg = ups.Config.for_scale("quick")
    for change, msg in [({"conditions": '["boiling"]'}, "unknown condition"),
                        ({"relax_times": "[1, 2]"}, "include 0"), ({"L": "48"}, "power of two"),
                        ({"relax_window": "5"}, "relax_window")]:
        with pytest.raises(ValueError, match=msg):
            ups.run(apply_overrides(cfg, change), progress=False)


def test_hierarchical_upsample_without_relaxation_is_replication():
    rng = np.random.default_rng(0)
    small = np.where(rng.random((3, 8, 8)) < 0.5, 1, -1).astype(np.int8)
    big, events = ising.hierarchical_upsample(small, 32, 8, 0.0, 2.3, return_events=True)
    assert np.array_equal(big, ising.replicate(small, 4)) and not events.any()
    relaxed, events = ising.hierarchical_upsample(small, 32, 8, 1.0, 2.3, seed=1, return_events=True)
    assert relaxed.shape == (3, 32, 32) and (events > 0).all()
    with pytest.raises(ValueError, match="power of two"):
        ising.hierarchical_upsample(small, 24, 8, 1.0, 2.3)


def test_criticality_tiny_run_reads_every_claim():
    cfg = apply_overrides(crit.Config.for_scale("quick"), TINY_CRIT)
    r = crit.run(cfg, progress=False)
    verdicts = {v.claim.key: v for v in evaluate(r, crit.CLAIMS)}
    assert set(verdicts) == {c.key for c in crit.CLAIMS}
    assert all(v.holds is not None for v in verdicts.values()), [v for v in verdicts.values() if v.holds is None]
    big = [p for p in r.metrics["points"] if p["L"] == 16]
    assert all(p["K"] == 4 and p["rho_p"] is not None for p in big)
    assert set(next(p for p in big if p["T"] == 2.25)["models"]) == {"measured", "K", "degree_5"}   # nearest T_c
    assert set(next(p for p in big if p["T"] == 2.29)["models"]) == {"measured"}
    assert "sde_degree_5" in r.metrics["fits"]
    assert set(r.metrics["fits"]["direct"]) >= {"beta_over_nu", "gamma_over_nu", "dU_dT"}


@pytest.mark.parametrize("with_rho", [False, True])
def test_criticality_pairs_are_symmetrised(with_rho):
    cfg = apply_overrides(crit.Config.for_scale("quick"), {"with_rho": str(with_rho).lower()})
    rng = np.random.default_rng(1)
    snaps = np.where(rng.random((10, 32, 32)) < 0.7, 1, -1).astype(np.int8)
    pairs = crit.training_pairs(cfg, snaps, 2.27, rng)
    n = len(pairs) // 2
    assert pairs.z0.shape[1] == (2 if with_rho else 1) and pairs.n_patches == 4
    assert np.allclose(pairs.z0[:n, 0], -pairs.z0[n:, 0]) and np.allclose(pairs.z1[:n, 0], -pairs.z1[n:, 0])
    assert np.allclose(pairs.z0[:n, 1:], pairs.z0[n:, 1:]) and np.allclose(pairs.z1[:n, 1:], pairs.z1[n:, 1:])
    assert np.allclose(pairs.z0[:n, 0], np.repeat(snaps.mean(axis=(1, 2)), cfg.pairs_per_snapshot * 4))


def test_criticality_rejects_bad_configs():
    cfg = crit.Config.for_scale("quick")
    for change, msg in [({"sizes": "[16, 48]"}, "power of two"), ({"temperatures": "[2.27]"}, "two temperatures"),
                        ({"rollout_steps": "3"}, "rollout_steps")]:
        with pytest.raises(ValueError, match=msg):
            crit.run(apply_overrides(cfg, change), progress=False)
