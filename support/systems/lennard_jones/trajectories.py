r"""NVE trajectories of the LJ fluid, as in paper 1 (§4): loose relaxation, T0 ~ U(0.5, 1.5),
velocity Verlet with Δt = 0.001, 250 frames per run.

Two initial-condition designs:

* ``same_start=True`` (the paper's): every run starts from the *same* relaxed positions and the
  *same* zero-momentum Gaussian velocity pattern, rescaled to its own T0 — a one-parameter family;
* ``same_start=False``: each run gets its own random insertion, relaxation and velocity pattern.

Two engines give the same frames (to round-off over short runs): ``lammps`` (LAMMPS Python
module) and ``builtin`` (velocity Verlet on the compiled or torch cell list; ``device`` selects a
GPU). ``auto`` uses LAMMPS when it is importable and no device is requested.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from tqdm.auto import tqdm

from ...validation import check_choice
from .configurations import initial_positions, rescale_to_temperature, velocity_pattern
from .integrators import MDFrames, velocity_verlet
from .lammps_engine import lammps_available, lammps_nve
from .params import PAPER, LJParams

ENGINES = ("auto", "lammps", "builtin")


@dataclass
class LJTrajectories:
    """MD runs ``[n_traj, n_frames, n_atoms, 3]`` (positions unwrapped), with box, Δt and the T0s."""

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    box: np.ndarray
    dt: float
    t0: np.ndarray
    engine: str
    mass: float = 1.0

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[2]

    def states(self) -> np.ndarray:
        """States x ``[n_traj, n_frames, 6 n_atoms]``: per atom [x, y, z, vx, vy, vz]."""
        return np.concatenate([self.positions, self.velocities], -1).reshape(*self.positions.shape[:2], -1)

    def derivatives(self) -> np.ndarray:
        """dx/dt ``[n_traj, n_frames, 6 n_atoms]``: per atom [vx, vy, vz, Fx/m, Fy/m, Fz/m]."""
        f = np.concatenate([self.velocities, self.forces / self.mass], -1)
        return f.reshape(*self.positions.shape[:2], -1)

    def temperatures(self) -> np.ndarray:
        """T ``[n_traj, n_frames]`` = Σ m|v|² / (3 (N − 1))."""
        return self.mass * (self.velocities ** 2).sum((-1, -2)) / (3 * (self.n_atoms - 1))


def resolve_engine(engine: str, device: str | torch.device | None) -> str:
    """``auto`` → ``lammps`` if usable and no device requested, else ``builtin``."""
    check_choice("MD engine", engine, ENGINES)
    if engine == "auto":
        return "lammps" if device is None and lammps_available() else "builtin"
    if engine == "lammps" and device is not None:
        raise ValueError("the LAMMPS engine runs on the CPU; use engine='builtin' with a device")
    return engine


@lru_cache(maxsize=8)
def _start(n_atoms: int, seed: int, params: LJParams, insertion: str,
           relax_fmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relaxed positions, box and velocity pattern for one seed (cached: the shared start)."""
    positions, box = initial_positions(n_atoms, seed, params, insertion, relax_fmax)
    out = (positions, box, velocity_pattern(n_atoms, seed))
    for a in out:
        a.setflags(write=False)  # shared between calls through the cache
    return out


def run_nve(positions: np.ndarray, velocities: np.ndarray, box: np.ndarray, n_frames: int, dt: float,
            engine: str = "auto", params: LJParams = PAPER, device: str | torch.device | None = None,
            progress: bool = False) -> MDFrames:
    """One NVE run with the chosen engine (see :func:`resolve_engine`)."""
    if resolve_engine(engine, device) == "lammps":
        return lammps_nve(positions, velocities, box, n_frames, dt, params, progress)
    return velocity_verlet(positions, velocities, box, n_frames, dt, params, device, progress)


def simulate(n_traj: int, n_atoms: int, seed: int, *, same_start: bool = True, start_seed: int = 0,
             engine: str = "auto", n_frames: int = 250, dt: float = 0.001,
             t0_range: tuple[float, float] = (0.5, 1.5), params: LJParams = PAPER,
             insertion: str = "random", relax_fmax: float = 50.0,
             device: str | torch.device | None = None, progress: bool = False) -> LJTrajectories:
    """``n_traj`` NVE runs with T0 ~ U(t0_range) drawn from ``seed``.

    With ``same_start`` the shared start comes from ``start_seed`` (so train and test sets drawn with
    different ``seed`` share it); otherwise each run's start is drawn from ``seed`` too.
    """
    if not isinstance(n_traj, (int, np.integer)) or n_traj < 1:
        raise ValueError(f"n_traj must be a positive integer, got {n_traj!r}")
    lo, hi = t0_range
    if not (0 < lo <= hi and np.isfinite(hi)):
        raise ValueError(f"t0_range must satisfy 0 < low <= high, got {t0_range}")
    engine = resolve_engine(engine, device)
    rng = np.random.default_rng(seed)
    t0 = rng.uniform(lo, hi, size=n_traj)
    start_seeds = rng.integers(0, 2**31 - 1, size=n_traj)
    runs = []
    for k in tqdm(range(n_traj), desc=f"LJ NVE ({engine})", disable=not progress):
        s = start_seed if same_start else int(start_seeds[k])
        positions, box, pattern = _start(n_atoms, s, params, insertion, relax_fmax)
        v0 = rescale_to_temperature(pattern, t0[k], params.mass)
        runs.append(run_nve(positions, v0, box, n_frames, dt, engine, params, device))
    stack = (np.stack([getattr(r, name) for r in runs]) for name in ("positions", "velocities", "forces"))
    return LJTrajectories(*stack, box=box, dt=dt, t0=t0, engine=engine, mass=params.mass)
