r"""NVE trajectories of the LJ fluid, as in paper 1's official LAMMPS input: loose relaxation,
T0 ~ U(0.5, 1.5), velocity Verlet with Δt = 0.001, 250 frames per run.

Two initial-condition designs:

* ``same_start=True`` (the paper's): every run starts from the *same* relaxed positions and the
  *same* zero-momentum Gaussian velocity pattern, rescaled to its own T0 — a one-parameter family;
* ``same_start=False``: each run gets its own random insertion, relaxation and velocity pattern.

Two engines give the same frames (to round-off over short runs): ``lammps`` (LAMMPS Python
module) and ``builtin`` (velocity Verlet on the compiled or torch cell list; ``device`` selects a
GPU). ``auto`` uses LAMMPS when it is importable and no device is requested. A third, ``ase``,
integrates with any ASE calculator on the periodic box (:func:`simulate_atoms`: the start is a
user's ``Atoms``, with its elements and masses).

The loose relaxation of the start is ``relaxation="fire"`` (default) or paper 1's ``"lammps_cg"``
(see :mod:`.configurations`). :func:`temperature_change` measures the macroscopic signal both
leave: T(end) − T(start) per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from tqdm.auto import tqdm

from ...validation import check_choice
from ase.calculators.calculator import Calculator

from .configurations import _per_atom, initial_positions, rescale_to_temperature, velocity_pattern
from .integrators import MDFrames, velocity_verlet, velocity_verlet_forces
from .geometry import as_box
from .lammps_engine import lammps_available, lammps_nve
from .oracle import all_forces
from .params import PAPER, LJParams

ENGINES = ("auto", "lammps", "builtin", "ase")


@dataclass
class LJTrajectories:
    """MD runs ``[n_traj, n_frames, n_atoms, 3]`` (positions unwrapped), with box, Δt and the T0s;
    ``mass`` is one number or one per atom ``[n_atoms]``."""

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    box: np.ndarray
    dt: float
    t0: np.ndarray
    engine: str
    mass: float | np.ndarray = 1.0

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[2]

    def states(self) -> np.ndarray:
        """States x ``[n_traj, n_frames, 6 n_atoms]``: per atom [x, y, z, vx, vy, vz]."""
        return np.concatenate([self.positions, self.velocities], -1).reshape(*self.positions.shape[:2], -1)

    def derivatives(self) -> np.ndarray:
        """dx/dt ``[n_traj, n_frames, 6 n_atoms]``: per atom [vx, vy, vz, Fx/m, Fy/m, Fz/m]."""
        f = np.concatenate([self.velocities, self.forces / _per_atom(self.mass)], -1)
        return f.reshape(*self.positions.shape[:2], -1)

    def temperatures(self) -> np.ndarray:
        """T ``[n_traj, n_frames]`` = Σ_i m_i |v_i|² / (3 (N − 1))."""
        if np.ndim(self.mass) == 0:
            return self.mass * (self.velocities ** 2).sum((-1, -2)) / (3 * (self.n_atoms - 1))
        return (_per_atom(self.mass) * self.velocities ** 2).sum((-1, -2)) / (3 * (self.n_atoms - 1))


def resolve_engine(engine: str, device: str | torch.device | None) -> str:
    """``auto`` → ``lammps`` if usable and no device requested, else ``builtin``."""
    check_choice("MD engine", engine, ENGINES)
    if engine == "auto":
        return "lammps" if device is None and lammps_available() else "builtin"
    if engine in ("lammps", "ase") and device is not None:
        raise ValueError(f"the {engine} engine runs on the CPU; use engine='builtin' with a device")
    return engine


@lru_cache(maxsize=8)
def _start(n_atoms: int, seed: int, params: LJParams, insertion: str, relax_fmax: float,
           relaxation: str = "fire") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relaxed positions, box and velocity pattern for one seed (cached: the shared start)."""
    positions, box = initial_positions(n_atoms, seed, params, insertion, relax_fmax, relaxation)
    out = (positions, box, velocity_pattern(n_atoms, seed))
    for a in out:
        a.setflags(write=False)  # shared between calls through the cache
    return out


def run_nve(positions: np.ndarray, velocities: np.ndarray, box: np.ndarray, n_frames: int, dt: float,
            engine: str = "auto", params: LJParams = PAPER, device: str | torch.device | None = None,
            progress: bool = False) -> MDFrames:
    """One NVE run with the chosen engine (see :func:`resolve_engine`)."""
    engine = resolve_engine(engine, device)
    if engine == "lammps":
        return lammps_nve(positions, velocities, box, n_frames, dt, params, progress)
    if engine == "ase":
        return run_nve_ase(positions, velocities, box, n_frames, dt, progress=progress,
                           masses=np.full(len(positions), params.mass), params=params)
    return velocity_verlet(positions, velocities, box, n_frames, dt, params, device, progress)


def run_nve_ase(positions: np.ndarray, velocities: np.ndarray, box: np.ndarray, n_frames: int,
                dt: float, calculator: Calculator | None = None, numbers: np.ndarray | None = None,
                masses: np.ndarray | None = None, params: LJParams = PAPER,
                progress: bool = False) -> MDFrames:
    """One NVE velocity-Verlet run with ``calculator``'s forces on the periodic box (default: ASE's
    LJ with ``params``); ``numbers`` and ``masses`` per atom (defaults: argon, ``params.mass``)."""
    masses = np.full(len(positions), params.mass) if masses is None else masses
    force = lambda r: all_forces(r, box, "ase", calculator, params=params, numbers=numbers)  # noqa: E731
    return velocity_verlet_forces(force, positions, velocities, masses, n_frames, dt, progress)


def _draw(n_traj: int, seed: int, t0_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """T0s ~ U(t0_range) and per-run start seeds drawn from ``seed``."""
    if not isinstance(n_traj, (int, np.integer)) or n_traj < 1:
        raise ValueError(f"n_traj must be a positive integer, got {n_traj!r}")
    lo, hi = t0_range
    if not (0 < lo <= hi and np.isfinite(hi)):
        raise ValueError(f"t0_range must satisfy 0 < low <= high, got {t0_range}")
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=n_traj), rng.integers(0, 2**31 - 1, size=n_traj)


def _stack(runs: list[MDFrames], box: np.ndarray, dt: float, t0: np.ndarray, engine: str,
           mass: float | np.ndarray) -> LJTrajectories:
    stack = (np.stack([getattr(r, name) for r in runs]) for name in ("positions", "velocities", "forces"))
    return LJTrajectories(*stack, box=box, dt=dt, t0=t0, engine=engine, mass=mass)


def simulate(n_traj: int, n_atoms: int, seed: int, *, same_start: bool = True, start_seed: int = 0,
             engine: str = "auto", n_frames: int = 250, dt: float = 0.001,
             t0_range: tuple[float, float] = (0.5, 1.5), params: LJParams = PAPER,
             insertion: str = "random", relax_fmax: float = 50.0, relaxation: str = "fire",
             device: str | torch.device | None = None, progress: bool = False) -> LJTrajectories:
    """``n_traj`` NVE runs with T0 ~ U(t0_range) drawn from ``seed``.

    With ``same_start`` the shared start comes from ``start_seed`` (so train and test sets drawn with
    different ``seed`` share it); otherwise each run's start is drawn from ``seed`` too.
    """
    engine = resolve_engine(engine, device)
    t0, start_seeds = _draw(n_traj, seed, t0_range)
    runs = []
    for k in tqdm(range(n_traj), desc=f"LJ NVE ({engine})", disable=not progress):
        s = start_seed if same_start else int(start_seeds[k])
        positions, box, pattern = _start(n_atoms, s, params, insertion, relax_fmax, relaxation)
        v0 = rescale_to_temperature(pattern, t0[k], params.mass)
        runs.append(run_nve(positions, v0, box, n_frames, dt, engine, params, device))
    return _stack(runs, box, dt, t0, engine, params.mass)


def simulate_atoms(n_traj: int, seed: int, positions: np.ndarray, box: np.ndarray,
                   calculator: Calculator, numbers: np.ndarray, masses: np.ndarray, *,
                   start_seed: int = 0, n_frames: int = 250, dt: float = 0.001,
                   t0_range: tuple[float, float] = (0.5, 1.5), progress: bool = False) -> LJTrajectories:
    """``n_traj`` NVE runs (``ase`` engine) of a user's atoms: all start from ``positions`` with the
    zero-momentum velocity pattern of ``start_seed`` rescaled to T0 ~ U(t0_range) (drawn from
    ``seed``; T in the calculator's energy unit, k_B = 1) — the paper's same-start design."""
    t0, _ = _draw(n_traj, seed, t0_range)
    pattern = velocity_pattern(len(positions), start_seed, masses)
    runs = [run_nve_ase(positions, rescale_to_temperature(pattern, t0[k], masses), box, n_frames, dt,
                        calculator, numbers, masses)
            for k in tqdm(range(n_traj), desc="NVE (ase)", disable=not progress)]
    return _stack(runs, as_box(box), dt, t0, "ase", np.asarray(masses, float))


def temperature_change(runs: LJTrajectories) -> np.ndarray:
    """ΔT = T(last frame) − T(first frame) per run ``[n_traj]``: the macroscopic signal the latent
    dynamics must learn (the loose relaxation leaves potential energy that heats the fluid)."""
    temps = runs.temperatures()
    return temps[:, -1] - temps[:, 0]
