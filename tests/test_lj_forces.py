"""LJ partial force oracle: every back-end equals the rows of the full computation, and the full
computation equals independent truth (ASE's LennardJones, −∇E by finite differences, Newton 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.calculators.lj import LennardJones as LennardJonesCalc
from ase.calculators.morse import MorsePotential

from support.systems.lennard_jones import (PAPER, LJParams, all_forces, carve_cluster,
                                           initial_positions, partial_forces, potential_energy,
                                           potential_energy_and_forces)
from support.systems.lennard_jones.ase_backend import ase_lj_calculator, periodic_all_forces
from support.systems.lennard_jones.geometry import as_box

N_ATOMS = 800  # L = 10: 4 cells per axis, so the 27-cell stencil (not "all cells") is exercised


@pytest.fixture(scope="module")
def relaxed():
    """A relaxed 800-atom configuration translated so that atom 0 sits 0.05 from a box corner."""
    positions, box = initial_positions(N_ATOMS, seed=3)
    corner = np.array([0.05, box[1] - 0.05, 0.03])
    shifted = positions - positions[0] + corner
    return shifted - box * np.floor(shifted / box), box


def near_faces(positions, box, margin=0.1):
    """Atoms with a coordinate within ``margin`` of a box face."""
    w = positions - box * np.floor(positions / box)
    return np.flatnonzero(((w < margin) | (w > box - margin)).any(axis=1))


def subsets(positions, box):
    rng = np.random.default_rng(0)
    faces = near_faces(positions, box)
    assert len(faces) >= 10 and 0 in faces  # the configuration really probes the faces
    return {"one": np.array([0]), "faces": faces, "random16": rng.choice(N_ATOMS, 16, replace=False),
            "sixteenth": rng.choice(N_ATOMS, N_ATOMS // 16, replace=False),
            "all": np.arange(N_ATOMS)}


def assert_rows_match(partial, full, idx):
    scale = np.abs(full).max()
    np.testing.assert_allclose(partial, full[idx], rtol=0, atol=1e-11 * scale)


@pytest.mark.parametrize("backend", ["numba", "torch", "ase", "builtin"])
def test_partial_equals_full_rows(relaxed, backend):
    positions, box = relaxed
    full = all_forces(positions, box, "numba")
    for name, idx in subsets(positions, box).items():
        if backend == "ase" and name == "all":
            continue  # the whole box as a cluster: slow in ASE and covered by the ASE full test
        assert_rows_match(partial_forces(positions, box, idx, backend), full, idx)


def test_partial_torch_float32_and_container_types(relaxed):
    positions, box = relaxed
    full = all_forces(positions, box, "numba")
    idx = subsets(positions, box)["faces"]
    out = partial_forces(torch.tensor(positions, dtype=torch.float32), box, torch.tensor(idx), "torch")
    assert out.dtype == torch.float32 and out.shape == (len(idx), 3)
    np.testing.assert_allclose(out.numpy(), full[idx], atol=1e-3 * np.abs(full).max())
    out64 = partial_forces(torch.tensor(positions), box, idx, "numba")
    assert torch.is_tensor(out64) and out64.dtype == torch.float64
    assert_rows_match(out64.numpy(), full, idx)


def test_unwrapped_positions_give_the_same_forces(relaxed):
    positions, box = relaxed
    images = np.random.default_rng(1).integers(-3, 4, size=positions.shape)
    unwrapped = positions + images * box
    idx = np.arange(0, N_ATOMS, 7)
    for backend in ("numba", "torch", "ase"):
        assert_rows_match(partial_forces(unwrapped, box, idx, backend),
                          all_forces(positions, box, "numba"), idx)


def test_translation_invariance(relaxed):
    positions, box = relaxed
    moved = positions + np.array([1.234, -2.5, 0.77])
    np.testing.assert_allclose(all_forces(moved, box), all_forces(positions, box),
                               atol=1e-11 * np.abs(all_forces(positions, box)).max())


def test_full_forces_equal_ase_lennard_jones(relaxed):
    positions, box = relaxed
    reference = periodic_all_forces(positions, box, ase_lj_calculator())
    for backend in ("numba", "torch", "ase"):
        np.testing.assert_allclose(all_forces(positions, box, backend), reference,
                                   atol=1e-11 * np.abs(reference).max())


def test_shifted_energy_equals_ase_energy(relaxed):
    from ase import Atoms
    positions, box = relaxed
    atoms = Atoms(f"Ar{N_ATOMS}", positions=positions, cell=box, pbc=True)
    atoms.calc = ase_lj_calculator()
    assert potential_energy(positions, box, shifted=True) == pytest.approx(atoms.get_potential_energy(),
                                                                          rel=1e-12)
    # the plain-cut (LAMMPS) energy is lower by u(r_c) < 0 per pair: it differs
    assert potential_energy(positions, box) < potential_energy(positions, box, shifted=True)


def test_forces_are_minus_energy_gradient(relaxed):
    positions, box = relaxed
    _, forces = potential_energy_and_forces(positions, box)
    h = 1e-5
    rng = np.random.default_rng(2)
    for flat in rng.choice(3 * N_ATOMS, 12, replace=False).tolist() + [0, 1, 2]:  # incl. the corner atom
        i, a = divmod(flat, 3)
        plus, minus = positions.copy(), positions.copy()
        plus[i, a] += h
        minus[i, a] -= h
        grad = (potential_energy(plus, box, shifted=True) - potential_energy(minus, box, shifted=True)) / (2 * h)
        assert -grad == pytest.approx(forces[i, a], abs=1e-6)


def test_newton_third_law(relaxed):
    positions, box = relaxed
    for backend in ("numba", "torch", "ase"):
        total = all_forces(positions, box, backend).sum(axis=0)
        assert np.abs(total).max() < 1e-10 * np.abs(all_forces(positions, box)).max() * N_ATOMS


def test_small_box_at_exactly_two_cutoffs():
    """100 atoms at ρ = 0.8: L = 5 = 2 r_c, fewer than 3 cells per axis (the stencil deduplicates)."""
    positions = np.random.default_rng(5).uniform(0, 5.0, size=(100, 3))
    reference = periodic_all_forces(positions, 5.0, ase_lj_calculator())
    scale = np.abs(reference).max()
    np.testing.assert_allclose(all_forces(positions, 5.0), reference, atol=1e-11 * scale)
    idx = np.array([3, 50, 99])
    np.testing.assert_allclose(partial_forces(positions, 5.0, idx, "torch"), reference[idx], atol=1e-11 * scale)


def test_orthorhombic_box_and_other_parameters():
    params = LJParams(epsilon=0.7, sigma=1.1, rc=2.2)
    box = np.array([6.0, 7.5, 9.0])
    positions = np.random.default_rng(6).uniform(0, 1, size=(120, 3)) * box
    from ase.calculators.lj import LennardJones
    calc = LennardJones(sigma=1.1, epsilon=0.7, rc=2.2, smooth=False)
    reference = periodic_all_forces(positions, box, calc)
    idx = np.arange(0, 120, 5)
    scale = np.abs(reference).max()
    for backend in ("numba", "torch"):
        np.testing.assert_allclose(partial_forces(positions, box, idx, backend, params=params),
                                   reference[idx], atol=1e-11 * scale)
    np.testing.assert_allclose(partial_forces(positions, box, idx, "ase", calc, params=params),
                               reference[idx], atol=1e-11 * scale)


def test_generic_ase_calculator_morse(relaxed):
    """Any ASE pair calculator works on the carved cluster when its range ≤ buffer."""
    positions, box = relaxed
    morse = dict(epsilon=1.0, r0=1.0, rho0=6.0, rcut1=1.9, rcut2=2.4)  # range rcut2·r0 = 2.4
    reference = periodic_all_forces(positions, box, MorsePotential(**morse))
    idx = subsets(positions, box)["faces"][:6]
    out = partial_forces(positions, box, idx, "ase", MorsePotential(**morse), buffer=2.5)
    np.testing.assert_allclose(out, reference[idx], atol=1e-11 * np.abs(reference).max())
    # the default buffer is read from the calculator (r_cut2 · r_0 + skin)
    np.testing.assert_allclose(partial_forces(positions, box, idx, "ase", MorsePotential(**morse)),
                               reference[idx], atol=1e-11 * np.abs(reference).max())
    # a buffer shorter than the calculator's range is refused (it would drop neighbours) ...
    with pytest.raises(ValueError, match="exceeds the cluster buffer"):
        partial_forces(positions, box, idx, "ase", MorsePotential(**morse), buffer=1.5)
    # ... and it would be wrong: the same cluster carved by hand misses neighbours
    cluster, source, rows = carve_cluster(positions, box, idx, 1.5)
    from ase import Atoms
    short = Atoms(numbers=np.full(len(source), 18), positions=cluster)
    short.calc = MorsePotential(**morse)
    assert np.abs(short.get_forces()[rows] - reference[idx]).max() > 1e-6


def test_ase_cluster_in_a_box_smaller_than_two_buffers():
    """Box 4.9 and an LJ cut-off 3.0 > L/2: a chosen atom meets several images of one atom; the
    carved cluster holds them all and matches ASE's periodic LJ (which handles
    small cells), where the minimum-image back-ends refuse the box."""
    positions = initial_positions(94, seed=8, params=LJParams(density=94 / 4.9 ** 3, rc=2.4))[0]
    calc = LennardJonesCalc(sigma=1.0, epsilon=1.0, rc=3.0, smooth=False)
    reference = periodic_all_forces(positions, 4.9, calc)
    idx = np.array([0, 13, 93])
    out = partial_forces(positions, 4.9, idx, "ase", calc)
    np.testing.assert_allclose(out, reference[idx], atol=1e-11 * np.abs(reference).max())
    _, source, _ = carve_cluster(positions, as_box(4.9), idx[:1], 3.1)
    assert np.bincount(source).max() >= 2  # two images of one atom in a chosen atom's shell


def test_cluster_grows_with_the_subset_and_holds_images(relaxed):
    positions, box = relaxed
    small, _, _ = carve_cluster(positions, box, np.array([0]), 2.6)
    large, source, rows = carve_cluster(positions, box, np.arange(0, N_ATOMS, 16), 2.6)
    assert len(small) < len(large) < 4 * N_ATOMS
    # the corner atom's shell crosses faces: some cluster atoms lie outside the box
    assert ((small < 0) | (small > box)).any()
    np.testing.assert_array_equal(large[rows], positions[np.arange(0, N_ATOMS, 16)])
    assert source.max() < N_ATOMS


@pytest.mark.parametrize("backend", ["numba", "torch", "ase"])
def test_bad_input_raises(relaxed, backend):
    positions, box = relaxed
    with pytest.raises(ValueError, match="empty"):
        partial_forces(positions, box, np.array([], dtype=int), backend)
    with pytest.raises(IndexError):
        partial_forces(positions, box, [0, N_ATOMS], backend)
    with pytest.raises(IndexError):
        partial_forces(positions, box, [-1], backend)
    with pytest.raises(TypeError):
        partial_forces(positions, box, np.array([0.5]), backend)
    bad = positions.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        partial_forces(bad, box, [0], backend)
    if backend != "ase":  # the cluster back-end enumerates every image: small boxes are fine
        with pytest.raises(ValueError, match="2·"):
            partial_forces(positions[:50] % 4.9, 4.9, [0], backend)
    with pytest.raises(ValueError, match="shape"):
        partial_forces(positions[:, :2], box, [0], backend)
    with pytest.raises(ValueError, match="box"):
        partial_forces(positions, [box[0], -1.0, box[2]], [0], backend)


def test_unknown_backend_and_short_buffer_raise(relaxed):
    positions, box = relaxed
    with pytest.raises(ValueError, match="unknown LJ force back-end"):
        partial_forces(positions, box, [0], "lammps")
    with pytest.raises(ValueError, match="exceeds the cluster buffer"):
        partial_forces(positions, box, [0], "ase", buffer=2.0)
    with pytest.raises(ValueError, match="positive"):
        LJParams(rc=-1.0)
    assert PAPER.rc == 2.5 and PAPER.density == 0.8


def test_batched_partial_oracle_equals_one_call_per_configuration():
    """LennardJonesSystem.force answers a batch of partial requests with one compiled call
    (oracle.partial_forces_batch); every row equals the single-configuration oracle's, bit for bit,
    and bad batches raise."""
    from support.systems.lennard_jones import LennardJonesSystem, lattice_configuration
    from support.systems.lennard_jones.oracle import partial_forces, partial_forces_batch
    system = LennardJonesSystem(108)
    gen = torch.Generator().manual_seed(3)
    x = system.state_from_atoms(lattice_configuration(108, 0)).unsqueeze(0).repeat(5, 1)
    x = x + 0.02 * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    units = torch.stack([torch.randperm(108, generator=gen)[:7] for _ in range(5)])
    rows = system.force(x, units).reshape(5, 7, 6)
    for b in range(5):
        per_atom = x[b].reshape(108, 6)
        one = partial_forces(per_atom[:, :3], system.box, units[b])
        assert torch.equal(rows[b, :, 3:], one / system.params.mass)
        assert torch.equal(rows[b, :, :3], per_atom[units[b], 3:])
    with pytest.raises(ValueError, match="atom_idx"):
        partial_forces_batch(x.reshape(5, 108, 6)[..., :3], system.box, units[:3])
    with pytest.raises(ValueError, match="positions"):
        partial_forces_batch(x.reshape(5, 108, 6)[0, :, :3], system.box, units)
    bad = x.reshape(5, 108, 6)[..., :3].clone()
    bad[2, 17, 1] = float("nan")
    bad[4, 3, 0] = float("inf")
    with pytest.raises(ValueError, match="positions contains 2 non-finite"):
        partial_forces_batch(bad, system.box, units)


@pytest.mark.parametrize("container", ["numpy", "torch"])
def test_oracle_leaves_callers_positions_untouched(relaxed, container):
    """The oracle works on float64 *views* of the caller's positions: unwrapped coordinates must come
    back exactly as they were passed (no path folds them into the box in place)."""
    from support.systems.lennard_jones.oracle import partial_forces_batch
    positions, box = relaxed
    unwrapped = positions + box * np.array([1.0, -2.0, 3.0])          # every atom outside the box
    given = torch.from_numpy(unwrapped.copy()) if container == "torch" else unwrapped.copy()
    before = unwrapped.copy()
    idx = np.array([0, 5, 17])
    for backend in ("numba", "torch", "ase"):
        partial_forces(given, box, idx, backend)
    all_forces(given, box, "numba")
    potential_energy_and_forces(given, box)
    partial_forces_batch(given[None], box, idx[None])
    np.testing.assert_array_equal(given.numpy() if container == "torch" else given, before)
