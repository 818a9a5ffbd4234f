"""The one partial evolution and the one Algorithm 1 (support.stochastic.protocol's hooks): what they
guarantee for any system, and the clear errors they give."""

from __future__ import annotations

import numpy as np
import pytest

from support.stochastic.partial_evolution import evolve_random_patches
from support.stochastic.upsampling import upsample_hierarchically
from support.systems.spins import ising, magnetisation
from support.systems.spins.patch_dynamics import (CurieWeissDynamics, IsingDynamics, levels_to,
                                                 upsample_lattices)


def _lattices(n: int, L: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random((n, L, L)) < 0.5, 1, -1).astype(np.int8)


def test_partial_evolution_moves_only_the_drawn_patch_and_pairs_every_snapshot():
    x = _lattices(6, 16)
    hooks = IsingDynamics(2.3, ell=4, dt=2.0)
    ev = evolve_random_patches(hooks, x, np.random.default_rng(1), per_snapshot=3)
    assert list(ev.which) == [b for b in range(6) for _ in range(3)]
    assert ev.patches.shape == (18, 4, 4) and ev.info.shape == (18,) and (ev.info > 0).all()
    assert ((0 <= ev.index) & (ev.index < 16)).all()
    # written back, the evolved patch is the only change: the lattice outside it is as before
    o = hooks.origins(x, ev.index)
    for b in range(18):
        y = x[ev.which[b]].copy()
        y[o[b, 0]:o[b, 0] + 4, o[b, 1]:o[b, 1] + 4] = ev.patches[b]
        outside = np.ones((16, 16), bool)
        outside[o[b, 0]:o[b, 0] + 4, o[b, 1]:o[b, 1] + 4] = False
        assert np.array_equal(y[outside], x[ev.which[b]][outside])
    again = evolve_random_patches(hooks, x, np.random.default_rng(1), per_snapshot=3)
    assert np.array_equal(again.patches, ev.patches)                           # seeded


def test_algorithm_1_sums_the_relaxation_cost_over_levels():
    small = _lattices(4, 8)
    hooks = IsingDynamics(2.3, relax_window=8, relax_time=0.5)
    big, cost = upsample_hierarchically(hooks, small, 2, np.random.default_rng(2))
    r = np.random.default_rng(2)
    one, c1 = hooks.relax(hooks.upsample(small, r), r)
    two, c2 = hooks.relax(hooks.upsample(one, r), r)
    assert np.array_equal(big, two) and np.array_equal(cost, c1 + c2)
    # Curie–Weiss: one exact level (replicate, permute): m kept, nothing to relax, no cost reported
    cw_big, cw_cost = upsample_hierarchically(CurieWeissDynamics(1.2, factor=4), small, 1,
                                              np.random.default_rng(3))
    assert cw_big.shape == (4, 32, 32) and cw_cost is None
    assert np.allclose(magnetisation(cw_big), magnetisation(small))
    assert not np.array_equal(cw_big, ising.replicate(small, 4))               # permuted


def test_the_loops_refuse_bad_input():
    x = _lattices(2, 8)
    with pytest.raises(TypeError, match="lacks a hook"):
        evolve_random_patches(object(), x, np.random.default_rng(0))
    with pytest.raises(TypeError, match="lacks a hook"):
        upsample_hierarchically(object(), x, 1, np.random.default_rng(0))
    hooks = IsingDynamics(2.3, ell=4)
    with pytest.raises(ValueError, match="per_snapshot"):
        evolve_random_patches(hooks, x, np.random.default_rng(0), per_snapshot=0)
    with pytest.raises(ValueError, match="no configurations"):
        evolve_random_patches(hooks, x[:0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_levels"):
        upsample_hierarchically(hooks, x, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="power of 2"):
        levels_to(8, 24)
    with pytest.raises(ValueError):
        IsingDynamics(-1.0)
    with pytest.raises(ValueError, match="dt"):
        CurieWeissDynamics(1.2, dt=0.0)
    with pytest.raises(ValueError, match="choose one of"):
        CurieWeissDynamics(1.2, mean_field="local")
    # the budget is keyword-only: a fifth positional argument is the boundary, as it reads
    positional = IsingDynamics(2.3, 0.0, 8, 1.0, "periodic")
    assert positional.boundary == "periodic" and positional.budget is None
    with pytest.raises(ValueError, match="batch_size"):
        evolve_random_patches(hooks, x, np.random.default_rng(0), batch_size=-1)


def test_a_patch_as_large_as_the_lattice_needs_no_upsampling():
    small = _lattices(3, 16)
    big, cost = upsample_lattices(IsingDynamics(2.3, relax_time=1.0), small, 16, np.random.default_rng(0))
    assert big is small and not cost.any()


def test_every_flip_and_hop_is_charged_to_the_budget():
    from support.budget import ForceBudget, stage_costs
    from support.systems.spins import curie_weiss as cw
    x = _lattices(3, 16)
    b = ForceBudget()
    ising.simulate(x, 4, 2.3, events_per_record=10, budget=b)       # n-fold way: every event flips
    assert b.counts["spin_flips"] == 3 * 4 * 10
    b = ForceBudget()
    cw.simulate(x, 2, 1.2, events_per_record=7, budget=b)
    assert b.counts["spin_flips"] == 3 * 2 * 7
    b = ForceBudget()
    ev = evolve_random_patches(IsingDynamics(2.3, ell=4, dt=1.0, budget=b), x, np.random.default_rng(0))
    assert b.counts["spin_flips"] == int(ev.info.sum()) > 0
    b = ForceBudget()
    _, cost = upsample_hierarchically(IsingDynamics(2.3, relax_window=8, relax_time=0.5, budget=b),
                                      _lattices(2, 8), 1, np.random.default_rng(1))
    assert b.counts["spin_flips"] == int(cost.sum()) > 0
    assert stage_costs({"a": b, "b": ForceBudget()}) == {"a": int(cost.sum()), "b": 0, "total": int(cost.sum())}


def test_the_alloy_charges_its_hops():
    from support.budget import ForceBudget
    from support.systems.alloy import evolution as E, lattice as L
    rng = np.random.default_rng(3)
    cells = L.random_alloys(8, 4, rng)
    b = ForceBudget()
    evolve_random_patches(E.AlloyDynamics(2500.0, n_hops=5, side=8, budget=b), cells, rng)
    assert b.counts["kmc_hops"] == 4 * 5
    b = ForceBudget()
    hooks = E.AlloyDynamics(2500.0, m=2, upsampling="tile", relax_hops=3, n_out=2, budget=b)
    big, _ = upsample_hierarchically(hooks, cells, 1, rng)
    assert big.shape[0] == 2 and b.counts["kmc_hops"] == 2 * 3
