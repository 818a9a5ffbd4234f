"""LJ dynamics: initial states, NVE engines (built-in vs LAMMPS vs ASE forces), energy
conservation, trajectories and the DeterministicSystem wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support.budget import ForceBudget
from support.systems.lennard_jones import (LennardJonesSystem, all_forces, atoms_from_state,
                                           initial_positions, lammps_available, lammps_forces,
                                           lammps_nve, lattice_configuration, potential_energy,
                                           rescale_to_temperature, simulate, state_from_atoms,
                                           temperature_np, velocity_pattern, velocity_verlet)
from support.systems.lennard_jones.ase_backend import ase_lj_calculator, periodic_all_forces

N_ATOMS = 128
needs_lammps = pytest.mark.skipif(not lammps_available(), reason="LAMMPS Python module not usable")


@pytest.fixture(scope="module")
def start():
    positions, box = initial_positions(N_ATOMS, seed=11)
    velocities = rescale_to_temperature(velocity_pattern(N_ATOMS, seed=11), 1.2)
    return positions, velocities, box


def total_energy(frames, box, t):
    """E = U (shifted: continuous in r) + K."""
    return potential_energy(frames.positions[t], box, shifted=True) + 0.5 * (frames.velocities[t] ** 2).sum()


def test_velocities_have_zero_momentum_and_exact_temperature():
    v = rescale_to_temperature(velocity_pattern(200, seed=4), 0.73)
    np.testing.assert_allclose(v.sum(axis=0), 0.0, atol=1e-12)
    assert temperature_np(v) == pytest.approx(0.73, rel=1e-14)
    assert temperature_np(v) == pytest.approx((v ** 2).sum() / (3 * 199), rel=1e-14)
    with pytest.raises(ValueError):
        rescale_to_temperature(v, -1.0)


def test_relaxation_removes_overlaps_and_keeps_density(start):
    positions, _, box = start
    assert np.prod(box) == pytest.approx(N_ATOMS / 0.8)
    energy = potential_energy(positions, box) / N_ATOMS
    assert -6.5 < energy < -3.0      # loose: overlaps gone, still above the liquid minimum
    assert np.linalg.norm(all_forces(positions, box), axis=1).max() <= 50.0
    lattice = lattice_configuration(108, seed=0)
    assert len(lattice) == 108 and lattice.get_volume() == pytest.approx(108 / 0.8)


def test_ase_atoms_round_trip(start):
    positions, velocities, box = start
    atoms = atoms_from_state(positions, box, velocities)
    p, b, v = state_from_atoms(atoms)
    np.testing.assert_array_equal(p, positions)
    np.testing.assert_allclose(v, velocities, rtol=1e-14)
    np.testing.assert_array_equal(b, box)


def test_nve_conserves_energy_over_250_steps(start):
    positions, velocities, box = start
    frames = velocity_verlet(positions, velocities, box, 251, 0.001)
    energies = np.array([total_energy(frames, box, t) for t in range(251)])
    kinetic_scale = 1.5 * N_ATOMS * 1.2
    assert np.ptp(energies) < 2e-4 * kinetic_scale
    # second order: doubling Δt multiplies the energy fluctuation by ≈ 4
    coarse = velocity_verlet(positions, velocities, box, 126, 0.002)
    ratio = np.ptp([total_energy(coarse, box, t) for t in range(126)]) / np.ptp(energies)
    assert 2.5 < ratio < 6.0
    # the temperature does change (the macroscopic dynamics is not trivial)
    temps = (frames.velocities ** 2).sum((1, 2)) / (3 * (N_ATOMS - 1))
    assert np.ptp(temps) > 0.05
    # positions stay continuous (unwrapped): no jumps of a box length
    assert np.abs(np.diff(frames.positions, axis=0)).max() < 0.05


def test_torch_integrator_equals_numba_integrator(start):
    positions, velocities, box = start
    a = velocity_verlet(positions, velocities, box, 6, 0.001)
    b = velocity_verlet(positions, velocities, box, 6, 0.001, device="cpu")
    np.testing.assert_allclose(b.positions, a.positions, atol=1e-12)
    np.testing.assert_allclose(b.velocities, a.velocities, atol=1e-12)


@needs_lammps
def test_lammps_forces_equal_ase_lennard_jones(start):
    positions, _, box = start
    reference = periodic_all_forces(positions, box, ase_lj_calculator())
    np.testing.assert_allclose(lammps_forces(positions, box), reference, atol=1e-11 * np.abs(reference).max())


@needs_lammps
def test_lammps_and_builtin_verlet_agree(start):
    positions, velocities, box = start
    unwrapped = positions + box * np.array([2.0, -1.0, 0.0])  # an unwrapped input stays unwrapped
    a = velocity_verlet(unwrapped, velocities, box, 21, 0.001)
    b = lammps_nve(unwrapped, velocities, box, 21, 0.001)
    np.testing.assert_allclose(b.positions, a.positions, atol=1e-8, rtol=0)
    np.testing.assert_allclose(b.velocities, a.velocities, atol=1e-8, rtol=0)
    np.testing.assert_allclose(b.forces, a.forces, atol=1e-8 * np.abs(a.forces).max(), rtol=0)


@needs_lammps
def test_lammps_positions_are_unwrapped_across_faces(start):
    positions, velocities, box = start
    frames = lammps_nve(positions, velocities, box, 251, 0.001)
    images = np.floor(frames.positions / box)
    assert (images != images[0]).any(axis=(0, 2)).sum() >= 3   # atoms did cross faces ...
    assert np.abs(np.diff(frames.positions, axis=0)).max() < 0.05  # ... without jumps


@pytest.mark.parametrize("engine", [pytest.param("lammps", marks=needs_lammps), "builtin"])
def test_simulate_same_start_design(engine):
    runs = simulate(3, N_ATOMS, seed=2, engine=engine, n_frames=5, start_seed=11)
    assert runs.positions.shape == (3, 5, N_ATOMS, 3) and runs.engine == engine
    np.testing.assert_allclose(runs.temperatures()[:, 0], runs.t0, rtol=1e-12)
    assert ((runs.t0 >= 0.5) & (runs.t0 <= 1.5)).all()
    # same positions, same velocity pattern (directions), different temperatures
    np.testing.assert_array_equal(runs.positions[0, 0], runs.positions[2, 0])
    ratio = runs.velocities[1, 0] / runs.velocities[0, 0]
    np.testing.assert_allclose(ratio, np.sqrt(runs.t0[1] / runs.t0[0]), rtol=1e-10)
    states, derivs = runs.states(), runs.derivatives()
    assert states.shape == derivs.shape == (3, 5, 6 * N_ATOMS)
    np.testing.assert_array_equal(states[..., 3:6], derivs[..., 0:3])   # d(position)/dt = v of atom 0


def test_simulate_new_start_and_seeding():
    a = simulate(2, N_ATOMS, seed=7, engine="builtin", n_frames=2, same_start=False)
    b = simulate(2, N_ATOMS, seed=7, engine="builtin", n_frames=2, same_start=False)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert np.abs(a.positions[0, 0] - a.positions[1, 0]).max() > 0.1
    with pytest.raises(ValueError, match="unknown MD engine"):
        simulate(1, N_ATOMS, seed=0, engine="gromacs")
    with pytest.raises(ValueError, match="n_traj"):
        simulate(0, N_ATOMS, seed=0)


@pytest.fixture(scope="module")
def system_and_states():
    system = LennardJonesSystem(N_ATOMS, engine="builtin", n_frames=4, start_seed=11, temperature_scale=20.0)
    traj = system.trajectories(2, seed=0)
    return system, traj


def test_system_forces_are_the_free_derivative_rows(system_and_states):
    system, traj = system_and_states
    x, exact = traj.x[:, 2], traj.forces[:, 2]
    units = torch.tensor([[0, 5, 127, 64], [3, 2, 1, 100]])
    budget = ForceBudget()
    rows = system.unit_rows(units)
    for backend in ("builtin", "torch", "ase"):
        system.backend = backend
        f = system.force(x, units, budget)
        torch.testing.assert_close(f, torch.gather(exact, 1, rows), rtol=0, atol=1e-10)
    assert budget.total == 3 * units.numel()
    system.backend = "builtin"
    torch.testing.assert_close(system.full_force(x), exact, rtol=0, atol=1e-10)


def test_system_observable_is_scaled_temperature(system_and_states):
    system, traj = system_and_states
    x = traj.x[:, 0].clone().requires_grad_(True)
    z = system.observables(x)
    runs = system.simulate(2, seed=0)
    torch.testing.assert_close(z[:, 0].detach(), torch.tensor(20.0 * runs.t0), rtol=1e-12, atol=0)
    (grad,) = torch.autograd.grad(z.sum(), x)
    v = system.velocities(x.detach())
    expected = 20.0 * 2 * v / (3 * (N_ATOMS - 1))
    torch.testing.assert_close(system.velocities(grad), expected)
    torch.testing.assert_close(system.positions(grad), torch.zeros_like(expected))


def test_system_splits_atoms_and_bad_input(system_and_states):
    system, traj = system_and_states
    test = system.simulate(2, seed=0, split="test")
    assert not np.allclose(test.t0, system.simulate(2, seed=0).t0)
    np.testing.assert_array_equal(test.positions[0, 0], traj.x[0, 0].reshape(N_ATOMS, 6)[:, :3].numpy())
    state = traj.x[0, 1]
    torch.testing.assert_close(system.state_from_atoms(system.atoms_from_state(state)), state)
    x = traj.x[:, 1]
    with pytest.raises(ValueError, match="empty"):
        system.force(x, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(IndexError):
        system.force(x, torch.tensor([[0, N_ATOMS]]))
    bad = x.clone()
    bad[0, 7] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        system.force(bad, torch.tensor([0]))
    with pytest.raises(ValueError, match="2·rc"):
        LennardJonesSystem(64)
    with pytest.raises(ValueError, match="split"):
        system.simulate(1, seed=0, split="validation")
