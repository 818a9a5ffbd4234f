"""Any ASE calculator as a partial force oracle: EMT copper (a many-body potential) through the
cluster-carving back-end and through a system built from a user's ``ase.Atoms``.

Independent truth: the same calculator on the whole periodic box (ASE's own neighbour lists)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.neighborlist import neighbor_list

from support.systems.lennard_jones import (LennardJonesSystem, all_forces, calculator_reach,
                                           carve_cluster, partial_forces)
from support.systems.lennard_jones.geometry import as_box


def copper(alloy: bool = False) -> Atoms:
    """fcc Cu, 4×4×4 conventional cells (256 atoms, L = 14.44 Å), rattled; optionally 1/4 Au."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    if alloy:
        numbers = atoms.get_atomic_numbers()
        numbers[np.random.default_rng(2).choice(len(atoms), 64, replace=False)] = 79
        atoms.set_atomic_numbers(numbers)
    atoms.rattle(0.05, seed=1)
    return atoms


def chosen(atoms: Atoms) -> np.ndarray:
    """Two atoms near box faces (their shells cross the boundary) and two inside."""
    w = atoms.get_scaled_positions()
    faces = np.flatnonzero(((w < 0.03) | (w > 0.97)).any(axis=1))
    return np.concatenate([faces[:2], [100, 137]])


@pytest.mark.parametrize("alloy", [False, True], ids=["Cu", "CuAu"])
def test_emt_partial_rows_equal_periodic_forces(alloy):
    atoms = copper(alloy)
    box, z = np.diag(atoms.cell[:]), atoms.get_atomic_numbers()
    calc = EMT()
    reference = all_forces(atoms.positions, box, "ase", calc, numbers=z)
    # the reach is read from the calculator: twice the neighbour radius EMT itself just used
    reach = calculator_reach(calc, z)
    assert reach == pytest.approx(2 * calc.rc_list, rel=1e-15)
    assert box[0] < 2 * reach     # so the cluster holds several images of some atoms
    idx = chosen(atoms)
    out = partial_forces(atoms.positions, box, idx, "ase", EMT(), numbers=z, buffer=reach)
    np.testing.assert_allclose(out, reference[idx], rtol=0, atol=1e-10)
    assert np.abs(reference[idx]).max() > 0.1   # eV/Å: the rattle makes the forces non-trivial
    # default buffer (reach + skin), unwrapped positions, torch in → torch out
    shifted = atoms.positions + np.random.default_rng(3).integers(-2, 3, size=(len(z), 3)) * box
    out_t = partial_forces(torch.tensor(shifted), box, idx, "ase", EMT(), numbers=z)
    assert torch.is_tensor(out_t)
    np.testing.assert_allclose(out_t.numpy(), reference[idx], rtol=0, atol=1e-10)


def test_emt_short_buffer_is_refused_and_would_be_wrong():
    atoms = copper()
    box, z = np.diag(atoms.cell[:]), atoms.get_atomic_numbers()
    reach = calculator_reach(EMT(), z)
    idx = chosen(atoms)
    with pytest.raises(ValueError, match="exceeds the cluster buffer"):
        partial_forces(atoms.positions, box, idx, "ase", EMT(), numbers=z, buffer=0.5 * reach)
    # why 2R and not R: a cluster cut at one EMT range gives the chosen atoms' neighbours truncated
    # environments, so their energies — and the chosen atoms' forces — change
    reference = all_forces(atoms.positions, box, "ase", EMT(), numbers=z)
    cluster, source, rows = carve_cluster(atoms.positions % box, as_box(box), idx, 0.5 * reach)
    short = Atoms(numbers=z[source], positions=cluster)
    short.calc = EMT()
    assert np.abs(short.get_forces()[rows] - reference[idx]).max() > 1e-5   # 10⁵ × the tolerance


class _NoRange(Calculator):
    """A pair calculator whose range the oracle cannot read (harmonic springs within 3 Å)."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        i, d = neighbor_list("iD", self.atoms, 3.0)          # d = r_j − r_i (periodic images)
        r = np.linalg.norm(d, axis=1, keepdims=True)
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, i, -(3.0 - r) * d / r)            # u = ½ (3 − r)²: pushes i away from j
        self.results = {"energy": 0.25 * ((3.0 - r) ** 2).sum(), "forces": forces}


def test_bad_input_gives_clear_errors():
    atoms = copper()
    box, z = np.diag(atoms.cell[:]), atoms.get_atomic_numbers()
    with pytest.raises(ValueError, match="one atomic number per atom"):
        partial_forces(atoms.positions, box, [0], "ase", EMT(), numbers=z[:-1])
    with pytest.raises(ValueError, match="EMT has no parameters for \\['Ar'\\]"):
        partial_forces(atoms.positions, box, [0], "ase", EMT())          # default labels: argon
    with pytest.raises(ValueError, match="EMT has no parameters for \\['Ar'\\]"):
        all_forces(atoms.positions, box, "ase", EMT())
    with pytest.raises(ValueError, match="one LJ species"):
        partial_forces(atoms.positions, box, [0], "numba", numbers=np.where(np.arange(256) == 0, 29, 18))
    with pytest.raises(ValueError, match="reach of _NoRange is unknown"):
        partial_forces(atoms.positions, box, [0], "ase", _NoRange(), numbers=z)
    # with an explicit buffer ≥ its range it is exact like any other calculator
    idx = chosen(atoms)
    reference = all_forces(atoms.positions, box, "ase", _NoRange(), numbers=z)
    np.testing.assert_allclose(partial_forces(atoms.positions, box, idx, "ase", _NoRange(), numbers=z,
                                              buffer=3.1), reference[idx], rtol=0, atol=1e-10)


def test_system_from_atoms_carries_elements_and_masses():
    atoms = copper(alloy=True)
    from ase.units import fs, kB
    system = LennardJonesSystem.from_atoms(atoms, EMT(), dt=2 * fs, t0_range=(300 * kB, 600 * kB),
                                           n_frames=3)
    assert system.n_atoms == 256 and np.array_equal(system.box, np.diag(atoms.cell[:]))
    np.testing.assert_array_equal(system.masses, atoms.get_masses())
    runs = system.simulate(2, seed=0)
    # every run starts from the atoms, with zero total momentum Σ m v and exactly its T0
    np.testing.assert_array_equal(runs.positions[:, 0], np.broadcast_to(atoms.positions, (2, 256, 3)))
    momentum = (atoms.get_masses()[:, None] * runs.velocities[:, 0]).sum(axis=1)
    np.testing.assert_allclose(momentum, 0.0, atol=1e-10)
    np.testing.assert_allclose(runs.temperatures()[:, 0], runs.t0, rtol=1e-13)
    # the recorded forces are EMT's periodic forces; the state derivative divides by each mass
    z = atoms.get_atomic_numbers()
    np.testing.assert_allclose(runs.forces[1, 2], all_forces(runs.positions[1, 2], system.box, "ase",
                                                             EMT(), numbers=z), atol=1e-12)
    traj = system.trajectories(1, seed=1)
    x = traj.x[0, 1:2]
    units = torch.as_tensor(chosen(atoms))[None]
    rows = system.force(x, units).reshape(-1, 6)
    full = all_forces(system.positions(x)[0].numpy(), system.box, "ase", EMT(), numbers=z)
    idx = chosen(atoms)
    np.testing.assert_allclose(rows[:, 3:].numpy(), full[idx] / atoms.get_masses()[idx, None],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows[:, :3].numpy(), system.velocities(x)[0, idx].numpy())
    # observable: T = Σ m_i |v_i|² / (3 (N − 1)) with the atoms' own masses
    v = system.velocities(x)[0].numpy()
    expected = (atoms.get_masses()[:, None] * v * v).sum() / (3 * 255)
    assert float(system.observables(x)[0, 0]) == pytest.approx(expected, rel=1e-13)
    back = system.atoms_from_state(x[0])
    assert (back.get_atomic_numbers() == z).all() and np.allclose(back.get_masses(), atoms.get_masses())


def test_system_from_atoms_bad_input():
    atoms = copper()
    with pytest.raises(ValueError, match="needs an ASE calculator"):
        LennardJonesSystem.from_atoms(atoms, dt=0.1, t0_range=(0.02, 0.04))
    argon = atoms.copy()
    argon.set_atomic_numbers(np.full(len(argon), 18))
    with pytest.raises(ValueError, match="EMT has no parameters"):
        LennardJonesSystem.from_atoms(argon, EMT(), dt=0.1, t0_range=(0.02, 0.04))
    with pytest.raises(ValueError, match="exceeds the cluster buffer"):
        LennardJonesSystem.from_atoms(atoms, EMT(), dt=0.1, t0_range=(0.02, 0.04), buffer=5.0)
    with pytest.raises(ValueError, match="backend='ase'"):
        LennardJonesSystem(256, atoms=atoms, calculator=EMT(), backend="numba")


def test_an_rc_parameter_alone_does_not_make_a_reach():
    """Only calculators whose range is known here have a reach: another calculator's ``rc`` may be
    the cut-off of a many-body potential (whose cluster needs twice it), so it is not trusted."""
    atoms = copper()
    z = atoms.get_atomic_numbers()
    calc = _NoRange(rc=3.0)
    assert calc.parameters["rc"] == 3.0 and calculator_reach(calc, z) is None
    with pytest.raises(ValueError, match="reach of _NoRange is unknown"):
        partial_forces(atoms.positions, np.diag(atoms.cell[:]), [0], "ase", calc, numbers=z)
    assert calculator_reach(LennardJones(sigma=2.0), z) == pytest.approx(6.0)     # ASE's default rc = 3σ
