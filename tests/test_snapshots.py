"""Regression snapshots: every experiment's seeded tiny run, compared number by number with committed values.

Re-evaluating the committed paper-scale JSON cannot notice a change of the code that produced it. These
tests run each experiment for seconds on a fixed seed, flatten the numbers of its ``metrics`` and
compare them with ``tests/snapshots/NAME.json`` at a relative tolerance of 2e-5: results are stored to
6 significant digits, and a different thread count (BLAS, numba) can move a number's last digit by
one (e.g. the barrier network's outputs); a real change of a method (e.g. λ = K replaced by λ = 1, the
wrong rows in L_x,p, Metropolis instead of Glauber rates) moves many numbers by percents.

When a change of numbers is intended, regenerate the snapshots and commit them with the change:

    MACRODYN_UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py

Numbers that measure the machine rather than the method (wall times, memory peaks, timings) are left
out (:data:`MACHINE_KEYS`); :func:`test_tiny_runs_repeat_exactly` guards that what is kept repeats.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

from support.experiments import EXPERIMENTS, load
from support.experiments.config import apply_overrides

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
#: ATOL: numbers below 1e-9 are round-off checks (e.g. theory's identity errors, 4e-13 on one CPU and
#: 7e-12 on another); a real change of the method moves numbers of order one
RTOL, ATOL = 2e-5, 1e-9
#: metric keys that measure the machine (time, memory, throughput), not the method
MACHINE_KEYS = re.compile(r"(second|wall|elapsed|time_s|_s$|_ms$|memory|peak|rss|mib|gib|bytes|per_s$|per_second|"
                          r"timing|speed|throughput|code_version|machine|torch_threads)", re.I)


def _quick(name: str, **overrides: Any):
    module = load(name)
    return module, apply_overrides(module.Config.for_scale("quick"),
                                   {k: json.dumps(v) for k, v in overrides.items()})


def _lj(name: str, **fields: Any):
    from support.experiments.lj_common import AEConfig
    module = load(name)
    ae = AEConfig(latent_dim=4, hidden=(8, 8), steps=4, lr=1e-3, batch_size=64, cond_samples=2)
    widths = {"mlp": {"hidden": (8, 8)}, "onsagernet": {"hidden": (8, 8)}, "gfinn": {"hidden": (8, 8), "K": 2}}
    return module, replace(module.Config(), ae=ae, widths=widths, **fields)


#: name -> (module, tiny config); each runs in seconds on one core
TINY: dict[str, Callable[[], tuple[Any, Any]]] = {
    "theory": lambda: _quick("theory", n_draws=100, ae_snapshots=600, ae_epochs=1, n_directions=20),
    "predator_prey": lambda: _quick(
        "predator_prey", n_train_traj=6, n_test_traj=2, ae_epochs=1, budgets=[1000, 2000], ps=[1.0, 0.5],
        seeds=[1], steps=20, curve_budget=1000, eval_every=10, lambda_sweep=[0.0], ablation_budget=1000,
        workers=1),
    "allen_cahn": lambda: _quick(
        "allen_cahn", grid=32, n_frames=64, n_train_traj=8, n_test_traj=3, ae_traj=4, traj_batch=4,
        ae_steps=20, steps=20, lz_configs=8, seeds=[1]),
    "lj_structures": lambda: _lj(
        "lj_structures", n_atoms=108, n_train_traj=4, n_test_traj=2, latent_dim=4, p=1 / 4, lz_trajectories=1,
        frame_stride=25, ensemble=2, steps=15, batch_size=16, control_structures=("mlp",)),
    "lj_scaling": lambda: _lj(
        "lj_scaling", sizes=(108, 144), n_train_traj=2, n_test_traj=1, latent_dim=4, atoms_per_config=4,
        lz_configs=(8, 16), lxp_configs=(16, 32), seeds=(1, 2), steps=10, batch_size=16, tol=10.0,
        timing_sizes=(108,), timing_repeats=1),
    "sde_closure": lambda: _quick(
        "sde_closure", n_patches=4, patch_sites=4, n_increments=4000, n_pairs=8000, lambda_factors=[1.0],
        patch_correlations=[0.0, 0.3], fit_steps=150),
    "curie_weiss": lambda: _quick(
        "curie_weiss", L=16, patch_sides=[4, 16], small_runs=10, small_records=10, n_upsampled=300,
        n_random=300, **{"sde.steps": 50}, test_paths=4, test_records=12, stationary_from=4),
    "ising": lambda: _quick(
        "ising", L=16, patch_sides=[4, 8], small_runs=6, small_records=5, relax_window=4, n_upsampled=60,
        n_random=60, pairs_per_snapshot=2, **{"closure.steps": 5, "closure.fit_lattices": 20, "sde.steps": 20},
        test_m0=[-0.5, 0.5], test_paths=3, test_records=6, stationary_from=3, equilibrium_lattices=3,
        equilibrium_time=20),
    "ising_criticality": lambda: _quick(
        "ising_criticality", L_small=8, sizes=[8, 16], temperatures=[2.25, 2.29], n_snapshots=40, small_runs=4,
        small_burn_in=20, small_interval=2, relax_window=8, relax_time=1, pairs_per_snapshot=2,
        correlation_per_snapshot=2, **{"sde.steps": 20}, rollout_paths=8, rollout_steps=40, record_every=2,
        direct_chains=2, direct_records=20, binder_grid=[2.2, 2.3]),
    "upsampling": lambda: _quick(
        "upsampling", L_small=8, L=16, relax_window=8, n_snapshots=8, small_runs=4, small_burn_in=20,
        small_interval=5, relax_times=[0, 1], reference_chains=4, direct_lattices=2, direct_time=20,
        direct_records=4),
    "nbmota": lambda: _quick(
        "nbmota", temperatures=[2000.0, 3000.0], small_seeds=2, record_hops=100, truth_hops=200,
        horizon_hops=400, pilot_hops=20, pairs_per_T=16, batch=16, partial_hops=8, sde_hidden=[8],
        sde_steps=10, sde_batch=16, truth_replicas=2, rollout_paths=4, substeps=2, stationary_paths=4,
        stationary_max_hops=400),
    "stochastic_predator_prey": lambda: _quick(
        "stochastic_predator_prey", n_small=20, patch=10, n_train_traj=4, n_steps=60, record_every=5,
        n_pairs=400, relax_steps=2, ae_epochs=1, sde_hidden=[16], sde_steps=30, sde_batch=128,
        test_parameters=[list(p) for p in _spde_test_parameters()[:2]], n_test_traj=4, test_record_every=10,
        band_condition=1),
    "lj_encoders": lambda: _lj(
        "lj_encoders", n_atoms=108, n_train_traj=2, n_test_traj=2, latent_dim=4, budget_configs=24, ensemble=1,
        steps=10, batch_size=16, normaliser_runs=1, test_stride=25, encoders=("mlp", "mlp_standardised")),
}


def _spde_test_parameters():
    from support.systems.spde_predator_prey import TEST_PARAMETERS
    return TEST_PARAMETERS


def flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    """``{"a.b.0.c": number}`` for every numeric leaf of a JSON-like tree (booleans as 0/1; machine
    measurements, :data:`MACHINE_KEYS`, left out; a non-finite number kept as its string)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not MACHINE_KEYS.search(str(k)):
                out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
    elif isinstance(obj, (bool, int, float)) and not isinstance(obj, str):
        x = float(obj)
        out[prefix[:-1]] = x if math.isfinite(x) else str(x)
    return out


def tiny_numbers(name: str) -> dict[str, float]:
    """The flattened metrics of ``name``'s seeded tiny run (one torch thread, seed 0)."""
    import torch
    torch.set_num_threads(1)
    module, cfg = TINY[name]()
    result = module.run(cfg, seed=0, progress=False)
    return flatten(json.loads(json.dumps(result.to_json()["metrics"])))


def differences(numbers: dict, expected: dict) -> list[str]:
    """What differs between two flattened runs, beyond RTOL/ATOL, in words (first 8)."""
    bad = [f"missing {k}" for k in sorted(set(expected) - set(numbers))]
    bad += [f"new {k}" for k in sorted(set(numbers) - set(expected))]
    for k in sorted(set(numbers) & set(expected)):
        a, b = numbers[k], expected[k]
        if isinstance(a, str) or isinstance(b, str):
            ok = a == b
        else:
            ok = math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
        if not ok:
            bad.append(f"{k}: {a!r} != {b!r}")
    return bad


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_run_matches_its_snapshot(name):
    numbers = tiny_numbers(name)
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("MACRODYN_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(numbers, indent=0, sort_keys=True) + "\n")
        pytest.skip(f"snapshot {path.name} written ({len(numbers)} numbers)")
    assert path.exists(), f"no snapshot {path}: write it with MACRODYN_UPDATE_SNAPSHOTS=1"
    expected = json.loads(path.read_text())
    assert len(expected) >= 10, f"{path.name} holds too few numbers to notice a change"
    bad = differences(numbers, expected)
    assert not bad, (f"{name}: {len(bad)} numbers differ from {path.name} (intended? regenerate with "
                     "MACRODYN_UPDATE_SNAPSHOTS=1): " + "; ".join(bad[:8]))


def test_every_experiment_with_a_fast_tiny_run_has_a_snapshot():
    """The experiments left out take minutes even when tiny (LAMMPS setups, KMC equilibration): their
    end-to-end tiny tests live in their own test files."""
    assert set(TINY) <= set(EXPERIMENTS)


def test_tiny_runs_repeat_exactly():
    """What a snapshot keeps repeats bit for bit (on one machine) — otherwise the test could fail by itself."""
    assert differences(tiny_numbers("sde_closure"), tiny_numbers("sde_closure")) == []


def test_a_changed_number_is_reported():
    assert differences({"a": 1.0, "b": 2.22389}, {"a": 1.0, "b": 2.2239}) == []     # last of 6 digits
    assert differences({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.001}) == ["b: 2.0 != 2.001"]
    assert differences({"a": 1.0}, {"b": 1.0}) == ["missing b", "new a"]
    assert flatten({"x": [1, {"seconds": 3.2, "y": True}], "wall_time_s": 9}) == {"x.0": 1.0, "x.1.y": 1.0}


# ------------------------------------------------------------------ the snapshots notice real breaks
def _break_lambda(monkeypatch):
    """λ = K replaced by λ = 1 in the SDE loss L_p (the naive loss for every target)."""
    from support.stochastic import sde
    real = sde.gaussian_increment_nll
    monkeypatch.setattr(sde, "gaussian_increment_nll",
                        lambda z0, z1, dt, mu, sigma, lam, eps=sde.DEFAULT_EPS: real(z0, z1, dt, mu, sigma, 1.0, eps))


def _break_rows(monkeypatch):
    """L_x,p pairs each observed force row with the J^† row of the next sampled row."""
    from support.closure import ClosureAutoencoder
    real = ClosureAutoencoder.pinv_rows
    monkeypatch.setattr(ClosureAutoencoder, "pinv_rows", lambda self, x, rows: real(self, x, rows.roll(1, dims=1)))


def _break_glauber(monkeypatch):
    """Metropolis rates min(1, e^{−βΔE}) instead of Glauber's 1/(1 + e^{βΔE}) (same stationary law)."""
    import numpy as np

    from support.systems.spins import glauber_kernels as K

    def metropolis(beta, h):
        c = np.arange(10)
        s, n = np.where(c >= 5, 1.0, -1.0), 2.0 * (c % 5) - 4.0
        return np.minimum(1.0, np.exp(-beta * 2.0 * s * (n + h)))
    monkeypatch.setattr(K, "ising_rate_table", metropolis)


@pytest.mark.parametrize("name, breaks", [("ising", _break_lambda), ("predator_prey", _break_rows),
                                          ("ising", _break_glauber)],
                         ids=["lambda_K-ising", "lxp_rows-predator_prey", "glauber_rates-ising"])
def test_a_deliberate_break_is_caught_by_a_snapshot(name, breaks, monkeypatch):
    """Each break changes what the method computes; the snapshot of an experiment that uses it must
    notice (otherwise the snapshot tests could not fail on a real regression)."""
    expected = json.loads((SNAPSHOTS / f"{name}.json").read_text())
    breaks(monkeypatch)
    bad = differences(tiny_numbers(name), expected)
    assert len(bad) >= 3, f"the break went unnoticed by {name}'s snapshot: {bad}"


def test_machine_keys_leave_method_numbers_in():
    """Only measurements of the machine are left out: per-seed and per-size results, events per
    snapshot and runs per set are the method's numbers (a pattern ``per_s`` once dropped them all, so
    the lj_scaling snapshot guarded none of its per-size curves)."""
    kept = ("per_seed", "per_size", "relax_events_per_snapshot", "test_runs_per_set", "mean")
    dropped = ("train_seconds", "wall_time_s", "steps_per_s", "flips_per_second", "peak_rss", "code_version", "timings")
    assert not [k for k in kept if MACHINE_KEYS.search(k)]
    assert all(MACHINE_KEYS.search(k) for k in dropped)
