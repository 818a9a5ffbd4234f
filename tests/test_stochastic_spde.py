"""Stochastic predator–prey SPDE: right-hand side by hand, frozen-halo exactness, noise, ICs."""

import math

import numpy as np
import pytest
import torch

from support.budget import ForceBudget
from support.stochastic import PatchGrid, partial_evolution
from support.systems.spde_predator_prey import (TEST_PARAMETERS, PredatorPreySPDE, initial_state,
                                                   sample_parameters)


def test_rhs_matches_hand_computation_on_three_cells():
    u = [0.2, 0.5, 0.7]
    v = [0.6, 0.3, 0.1]
    x = torch.tensor([[u, v]], dtype=torch.float64)
    rhs = PredatorPreySPDE().rhs(x)[0].numpy()
    # Neumann ghosts: v_{-1} = v_0, v_3 = v_2; unscaled Laplacian; D_u = 0, D_v = 1, a = 3, b = 0.4
    lap_v = [0.3 - 0.6, 0.1 - 2 * 0.3 + 0.6, 0.3 - 0.1]
    du = [u[i] * (1 - u[i] - v[i]) for i in range(3)]
    dv = [3 * v[i] * (u[i] - 0.4) + lap_v[i] for i in range(3)]
    np.testing.assert_allclose(rhs, [du, dv], rtol=0, atol=1e-14)


def test_fixed_point_is_stationary_without_noise():
    system = PredatorPreySPDE(noise=0.0)
    x = torch.tensor([[[0.4] * 5, [0.6] * 5]], dtype=torch.float64)
    assert system.rhs(x).abs().max() < 1e-15


@pytest.mark.parametrize("patch", [10, 40])
def test_frozen_halo_step_equals_full_step_on_every_patch(patch):
    system = PredatorPreySPDE(noise=0.0)
    gen = torch.Generator().manual_seed(0)
    x = initial_state(*sample_parameters(3, gen, torch.float64), 200, dtype=torch.float64)
    x = x + 0.05 * torch.randn(x.shape, generator=gen, dtype=torch.float64)   # break symmetry
    full = system.step(x, gen).x
    grid = PatchGrid((200,), (patch,), boundary=system.boundary)
    for j in range(grid.n_patches):
        index = torch.full((3,), j)
        out = system.run_patch(grid.extract(x, index, halo=1), 1, gen)
        np.testing.assert_allclose(out.x.numpy(), grid.extract(full, index).numpy(),
                                   rtol=0, atol=1e-15)
        assert out.dt.tolist() == [0.01] * 3 and out.cost == 3 * patch


def test_frozen_halo_is_not_a_periodic_patch():
    """Guard against a patch evolved with its own periodic wrap (the official Ising rule)."""
    system = PredatorPreySPDE(noise=0.0)
    x = torch.linspace(0.1, 0.9, 20, dtype=torch.float64).repeat(1, 2, 1)
    window = PatchGrid((20,), (5,), boundary="replicate").extract(x, torch.tensor([1]), halo=1)
    wrapped = torch.cat([window[..., -2:-1], window[..., 1:-1], window[..., 1:2]], dim=-1)
    gen = torch.Generator().manual_seed(0)
    assert not torch.allclose(system.run_patch(window, 1, gen).x, system.run_patch(wrapped, 1, gen).x)


def test_patch_ghost_cells_stay_frozen_over_several_steps():
    system = PredatorPreySPDE(noise=0.0)
    x = torch.rand(2, 2, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    window = x[..., 3:9]                          # interior 4 cells, ghosts x[3], x[8]
    gen = torch.Generator().manual_seed(0)
    out = system.run_patch(window, 2, gen).x
    # by hand: two EM steps of the interior with constant ghosts
    w = window.clone()
    for _ in range(2):
        inner = w[..., 1:-1] + 0.01 * system.rhs_padded(w)
        w = torch.cat([window[..., :1], inner, window[..., -1:]], dim=-1)
    np.testing.assert_allclose(out.numpy(), w[..., 1:-1].numpy(), rtol=0, atol=1e-15)


def test_noise_has_the_euler_maruyama_variance():
    system = PredatorPreySPDE()
    x = torch.tensor([[[0.4] * 1000, [0.6] * 1000]], dtype=torch.float64).repeat(4, 1, 1)
    inc = system.step(x, torch.Generator().manual_seed(3)).x - x       # fixed point: pure noise
    want = 0.02 * math.sqrt(0.01)
    assert abs(inc.std().item() / want - 1) < 0.02       # 8000 draws: relative SE 0.8 %
    assert abs(inc.mean().item()) < 4 * want / math.sqrt(inc.numel())


def test_initial_condition_has_a_fixed_wavelength_in_cells():
    small = initial_state(0.1, 0.5, 40)
    large = initial_state(0.1, 0.5, 200)
    assert small.shape == (1, 2, 40) and large.shape == (1, 2, 200)
    assert torch.allclose(large[..., :40], small)                      # same pattern, bigger domain
    assert torch.allclose(large[..., 20:], large[..., :-20], atol=1e-6)   # period 20 cells
    assert torch.allclose(large.sum(dim=1), torch.ones(1, 200))          # u0 + v0 = 1
    # the official unit-domain formula at 100 cells: u0 = m + k cos(10 pi x), x = (i + 1/2)/100
    xs = (torch.arange(100, dtype=torch.float64) + 0.5) / 100
    official = 0.5 + 0.1 * torch.cos(10 * math.pi * xs)
    assert torch.allclose(initial_state(0.1, 0.5, 100, dtype=torch.float64)[0, 0], official)
    assert len(TEST_PARAMETERS) == 9


def test_simulation_and_partial_evolution_cost():
    system = PredatorPreySPDE()
    x0 = initial_state(*sample_parameters(2, torch.Generator().manual_seed(0)), 80)
    budget = ForceBudget()
    paths = system.simulate(x0, 5, 0, budget=budget)
    assert paths.x.shape == (2, 6, 2, 80) and torch.allclose(paths.t[:, -1], torch.tensor(0.05,
                                                                       dtype=torch.float64))
    assert budget.counts["site_updates"] == 5 * 2 * 80
    grid = PatchGrid((80,), (20,), boundary="replicate")
    sample = partial_evolution(system, grid, paths.snapshots(), 1, 0, budget=budget, batch_size=5)
    assert budget.counts["site_updates"] == 5 * 2 * 80 + 12 * 20
    # outside the chosen patch nothing changed; inside it changed
    assert not torch.equal(sample.patch_next, sample.patch_now())


def test_bad_inputs_raise():
    system = PredatorPreySPDE()
    with pytest.raises(ValueError, match="shape"):
        system.simulate(torch.zeros(2, 3, 10), 1, 0)
    with pytest.raises(ValueError, match="non-finite"):
        system.simulate(torch.full((1, 2, 10), float("nan")), 1, 0)
    with pytest.raises(ValueError, match="interior"):
        system.run_patch(torch.zeros(1, 2, 2), 1, torch.Generator())
    with pytest.raises(ValueError, match="boundary"):
        partial_evolution(system, PatchGrid((10,), (5,)), torch.zeros(1, 2, 10), 1, 0)
    with pytest.raises(ValueError):
        PredatorPreySPDE(dt=0.0)
    with pytest.raises(ValueError, match="entries"):
        initial_state(torch.tensor([0.1, 0.1]), torch.tensor([0.5, 0.4, 0.3]), 10)
    assert initial_state(torch.tensor([0.1, 0.1]), 0.5, 10).shape == (2, 2, 10)
