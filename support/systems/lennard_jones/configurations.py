r"""Initial LJ configurations as ASE ``Atoms``: random insertion or fcc lattice, a loose relaxation,
and Maxwell–Boltzmann velocities rescaled exactly to a temperature.

Two loose relaxations (``relaxation``): ``"fire"`` — ASE FIRE on the compiled forces until
max_i |F_i| ≤ f_max (the book's default) — and ``"lammps_cg"`` — paper 1's own LAMMPS
``minimize 1.0e-1 1.0e-4 1000 10000`` (conjugate gradients, energy tolerance 0.1, force tolerance
10⁻⁴, at most 1000 iterations and 10,000 force evaluations).

Reduced units throughout: ASE's Å/eV/amu labels are reinterpreted as σ/ε/m (masses are set to
``params.mass``), so ``atoms.get_velocities()`` are reduced velocities.

Temperature (LAMMPS convention, k_B = 1, 3N − 3 degrees of freedom after removing the
centre-of-mass momentum):  T = Σ_i m_i |v_i|² / (3 (N − 1)); ``mass`` may be one number or one
per atom (a system built from any ASE ``Atoms``; T is then in its calculator's energy unit).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.optimize import FIRE

from ...validation import check_choice
from .ase_backend import BuiltinLJCalculator
from .geometry import as_box, check_positions
from .params import PAPER, LJParams

INSERTIONS = ("random", "lattice")
#: loose relaxations of the inserted configuration (see the module docstring)
RELAXATIONS = ("fire", "lammps_cg")


def atoms_from_state(positions: np.ndarray, box: float | np.ndarray,
                     velocities: np.ndarray | None = None, params: LJParams = PAPER) -> Atoms:
    """An argon-labelled periodic ``Atoms`` (masses = ``params.mass``) from reduced positions/velocities."""
    check_positions(positions)
    atoms = Atoms(f"Ar{len(positions)}", positions=np.asarray(positions, float),
                  cell=as_box(box), pbc=True)
    atoms.set_masses(np.full(len(atoms), params.mass))
    if velocities is not None:
        atoms.set_velocities(np.asarray(velocities, float))
    return atoms


def state_from_atoms(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions ``[n, 3]``, box sides ``[3]``, velocities ``[n, 3]``) of a periodic orthorhombic ``Atoms``."""
    cell = np.asarray(atoms.cell[:])
    if not atoms.pbc.all() or np.abs(cell - np.diag(np.diag(cell))).max() > 0:
        raise ValueError("the LJ system needs a periodic orthorhombic cell")
    return atoms.get_positions(), as_box(np.diag(cell)), atoms.get_velocities()


def random_configuration(n_atoms: int, seed: int, params: LJParams = PAPER) -> Atoms:
    """``n_atoms`` uniformly inserted into the cubic box of density ρ (like LAMMPS ``create_atoms random``)."""
    side = params.box_side(n_atoms)
    rng = np.random.default_rng(seed)
    return atoms_from_state(rng.uniform(0.0, side, size=(n_atoms, 3)), side, params=params)


def lattice_configuration(n_atoms: int, seed: int, params: LJParams = PAPER,
                          rattle: float = 0.05) -> Atoms:
    """``n_atoms`` on fcc sites of the density-ρ box (a random choice of sites if 4k³ ≠ n), rattled."""
    side = params.box_side(n_atoms)
    k = math.ceil((n_atoms / 4) ** (1 / 3) - 1e-9)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    sites = ((grid + basis).reshape(-1, 3) + 0.25) * (side / k)
    rng = np.random.default_rng(seed)
    if len(sites) > n_atoms:
        sites = sites[np.sort(rng.choice(len(sites), n_atoms, replace=False))]
    return atoms_from_state(sites + rattle * rng.standard_normal(sites.shape), side, params=params)


def relax(atoms: Atoms, params: LJParams = PAPER, fmax: float = 50.0, max_steps: int = 2000) -> Atoms:
    """A copy of ``atoms`` relaxed by ASE FIRE on the compiled LJ forces until max_i |F_i| ≤ ``fmax``.

    The default is deliberately loose, like the paper's LAMMPS ``minimize 1.0e-1 1.0e-4 1000 10000``
    (which stops at potential energy ≈ −4.3 per atom with force components ~100): overlaps from
    random insertion are removed, but excess potential energy is left, so that the temperature
    relaxes during NVE — the macroscopic dynamics to be learned.
    """
    if not (fmax > 0 and max_steps >= 1):
        raise ValueError(f"need fmax > 0 and max_steps >= 1, got {fmax}, {max_steps}")
    out = atoms.copy()
    out.calc = BuiltinLJCalculator(params)
    FIRE(out, logfile=None).run(fmax=fmax, steps=max_steps)
    return atoms_from_state(out.get_positions(), np.diag(out.cell[:]), params=params)


def relax_lammps_cg(atoms: Atoms, params: LJParams = PAPER) -> Atoms:
    """A copy of ``atoms`` relaxed by paper 1's LAMMPS ``minimize 1.0e-1 1.0e-4 1000 10000``
    (see :func:`~.lammps_engine.lammps_minimize`; raises ``ImportError`` without LAMMPS)."""
    from .lammps_engine import lammps_minimize  # local: LAMMPS is optional
    box = np.diag(atoms.cell[:])
    return atoms_from_state(lammps_minimize(atoms.get_positions(), box, params).positions, box, params=params)


def initial_positions(n_atoms: int, seed: int, params: LJParams = PAPER, insertion: str = "random",
                      fmax: float = 50.0, relaxation: str = "fire") -> tuple[np.ndarray, np.ndarray]:
    """Relaxed positions ``[n, 3]`` and box sides ``[3]``: random insertion or fcc, then FIRE to
    ``fmax`` (``relaxation="fire"``) or paper 1's LAMMPS CG minimisation (``"lammps_cg"``; ``fmax``
    unused)."""
    check_choice("insertion", insertion, INSERTIONS)
    check_choice("relaxation", relaxation, RELAXATIONS)
    make = random_configuration if insertion == "random" else lattice_configuration
    if relaxation == "fire":
        atoms = relax(make(n_atoms, seed, params), params, fmax=fmax)
    else:
        atoms = relax_lammps_cg(make(n_atoms, seed, params), params)
    return atoms.get_positions(), as_box(np.diag(atoms.cell[:]))


def _per_atom(mass: float | np.ndarray) -> float | np.ndarray:
    """A scalar mass as is; per-atom masses ``[N]`` as a column ``[N, 1]`` to multiply ``[N, 3]``."""
    return mass if np.ndim(mass) == 0 else np.asarray(mass, float)[:, None]


def temperature_np(velocities: np.ndarray, mass: float | np.ndarray = 1.0) -> float:
    """T = Σ_i m_i |v_i|² / (3 (N − 1)) for velocities ``[N, 3]`` (``mass``: scalar or ``[N]``)."""
    v = np.asarray(velocities, float)
    if np.ndim(mass) == 0:
        return float(mass * (v * v).sum() / (3 * (len(v) - 1)))
    return float((_per_atom(mass) * v * v).sum() / (3 * (len(v) - 1)))


def velocity_pattern(n_atoms: int, seed: int, masses: np.ndarray | None = None) -> np.ndarray:
    """Gaussian velocities ``[n, 3]`` with zero total momentum Σ m_i v_i (not yet at any temperature);
    without ``masses`` (equal masses) the mean velocity is removed."""
    if n_atoms < 2:
        raise ValueError(f"need at least 2 atoms, got {n_atoms}")
    v = np.random.default_rng(seed).standard_normal((n_atoms, 3))
    if masses is None:
        return v - v.mean(axis=0)
    m = np.asarray(masses, float)[:, None]
    return v - (m * v).sum(axis=0) / m.sum()


def rescale_to_temperature(velocities: np.ndarray, temperature: float,
                           mass: float | np.ndarray = 1.0) -> np.ndarray:
    """Velocities scaled by √(T / T_now) so that :func:`temperature_np` equals ``temperature`` exactly."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    now = temperature_np(velocities, mass)
    if now <= 0:
        raise ValueError("cannot rescale zero velocities to a temperature")
    return np.asarray(velocities, float) * math.sqrt(temperature / now)
