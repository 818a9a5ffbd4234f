"""Hierarchical upsampling: Upsample modes, LocalRelax coverage/cost/seams, seeding, errors."""

import math

import numpy as np
import pytest
import torch

from support.budget import ForceBudget
from support.stochastic import (StepResult, StochasticSystem, hierarchical_upsample, local_relax,
                                upsample)
from support.systems.spde_predator_prey import PredatorPreySPDE


class _Counter(StochasticSystem):
    """Test double: every patch step adds 1 to the window interior (halo 1, frozen)."""

    name, channels, spatial_dims, halo = "counter", 1, 2, 1
    n_observables = 1

    def __init__(self, boundary):
        self.boundary = boundary

    def observables(self, x):
        return x.flatten(1).mean(1, keepdim=True)

    def step(self, x, generator):
        return StepResult(x + 1, torch.ones(x.shape[0]), x[0].numel() * x.shape[0])

    def evolve_patch(self, window, n_steps, generator, context=None):
        inner = window[..., 1:-1, 1:-1] + n_steps
        return StepResult(inner, torch.ones(window.shape[0]), inner[0].numel() * len(inner) * n_steps)


def test_replicate_upsampling_makes_constant_blocks():
    x = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(0))
    up = upsample(x, 3)
    assert up.shape == (3, 2, 12, 15)
    for i in range(4):
        for j in range(5):
            block = up[:, :, 3 * i:3 * i + 3, 3 * j:3 * j + 3]
            assert torch.equal(block, x[:, :, i:i + 1, j:j + 1].expand_as(block))
    assert upsample(torch.zeros(1, 1, 2, 2, 2), 2).shape == (1, 1, 4, 4, 4)


def test_linear_upsampling_is_exact_for_linear_fields_and_close_for_smooth_periodic_ones():
    xi = torch.arange(10, dtype=torch.float64) + 0.5                   # coarse cell centres
    up = upsample((2 + 0.3 * xi).view(1, 1, -1), 2, mode="linear", boundary="replicate")[0, 0]
    fine = (torch.arange(20, dtype=torch.float64) + 0.5) / 2           # fine cell centres
    assert torch.allclose(up[1:-1], 2 + 0.3 * fine[1:-1])              # interior: exact
    wave = torch.cos(2 * math.pi * xi / 10).view(1, 1, -1)
    upw = upsample(wave, 2, mode="linear", boundary="periodic")[0, 0]
    err = (upw - torch.cos(2 * math.pi * fine / 10)).abs().max()
    assert err < 0.06                                                   # O(h²) incl. the wrap
    assert abs(upw.mean().item()) < 1e-12


def test_tile_upsampling_places_pool_members_and_is_seeded():
    pool = torch.arange(5 * 4, dtype=torch.float32).view(5, 1, 4)
    up = upsample(pool, 3, mode="tile", generator=7, n_out=6)
    assert up.shape == (6, 1, 12)
    blocks = up.view(6, 1, 3, 4).permute(0, 2, 1, 3).reshape(-1, 1, 4)
    assert all(any(torch.equal(b, p) for p in pool) for b in blocks)
    assert torch.equal(up, upsample(pool, 3, mode="tile", generator=7, n_out=6))
    assert not torch.equal(up, upsample(pool, 3, mode="tile", generator=8, n_out=6))


@pytest.mark.parametrize("boundary", ["periodic", "replicate"])
def test_local_relax_covers_every_site_and_counts_the_cost(boundary):
    n, p, b = 16, 4, 3
    budget = ForceBudget()
    out = local_relax(_Counter(boundary), torch.zeros(b, 1, n, n), (p, p), 2, 0, n_sweeps=2,
                      budget=budget)
    starts = range(0, n, 2) if boundary == "periodic" else range(0, n - p + 1, 2)
    cover = np.zeros((n, n))
    for a in starts:
        for c in starts:
            rows = np.arange(a, a + p) % n
            cols = np.arange(c, c + p) % n
            cover[np.ix_(rows, cols)] += 1
    np.testing.assert_array_equal(out[0, 0].numpy(), 2 * 2 * cover)   # sweeps × steps × coverage
    assert (cover > 0).all()
    if boundary == "periodic":
        assert (cover == 4).all()                                      # (p / stride)^D
    assert budget.counts["site_updates"] == 2 * len(starts) ** 2 * b * p * p * 2


def test_local_relax_keeps_a_fixed_point_and_smooths_a_seam():
    system = PredatorPreySPDE(noise=0.0)
    fixed = torch.tensor([0.4, 0.6], dtype=torch.float64).view(1, 2, 1).repeat(2, 1, 32)
    assert torch.allclose(local_relax(system, fixed, (8,), 5, 0), fixed, atol=1e-15)
    seam = fixed.clone()
    seam[:, 1, 16:] = 0.8                                              # a jump in the predator
    relaxed = local_relax(system, seam, (8,), 20, 0, n_sweeps=2)
    jump = lambda y: (y[:, 1, 16] - y[:, 1, 15]).abs().max()           # noqa: E731
    assert jump(relaxed) < 0.5 * jump(seam)


def test_hierarchical_upsampling_shape_cost_and_seed():
    system = PredatorPreySPDE()
    small = torch.tensor([0.4, 0.6]).view(1, 2, 1).repeat(4, 1, 10) + 0.01
    budget = ForceBudget()
    out = hierarchical_upsample(system, small, 3, relax_patch_shape=(10,), relax_steps=2,
                                factor=2, n_levels=2, mode="tile", n_out=5, budget=budget)
    assert out.shape == (5, 2, 40)
    # level 1: 20 cells, windows at 0, 5, 10 (replicate) ; level 2: 40 cells, 0, 5, …, 30
    assert budget.counts["site_updates"] == 5 * 10 * 2 * (3 + 7)
    again = hierarchical_upsample(system, small, 3, relax_patch_shape=(10,), relax_steps=2,
                                  factor=2, n_levels=2, mode="tile", n_out=5)
    assert torch.equal(out, again)
    free = ForceBudget()
    lin = hierarchical_upsample(system, small, 0, relax_patch_shape=(10,), relax_steps=0,
                                mode="linear", budget=free)
    assert lin.shape == (4, 2, 20) and free.counts.get("site_updates", 0) == 0


def test_bad_inputs_raise():
    x = torch.zeros(2, 1, 8)
    with pytest.raises(ValueError, match="unknown upsample mode"):
        upsample(x, 2, mode="cubic")
    with pytest.raises(ValueError, match="factor"):
        upsample(x, 0)
    with pytest.raises(ValueError, match="generator"):
        upsample(x, 2, mode="tile")
    with pytest.raises(ValueError, match="exceeds"):
        local_relax(_Counter("periodic"), torch.zeros(1, 1, 4, 4), (8, 8), 1, 0)
    with pytest.raises(ValueError, match="n_sweeps"):
        local_relax(_Counter("periodic"), torch.zeros(1, 1, 8, 8), (4, 4), 1, 0, n_sweeps=0)
