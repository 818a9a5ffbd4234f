r"""Built-in NVE velocity-Verlet integrator (the fallback engine and the GPU path).

One step of size Δt (identical to LAMMPS ``fix nve``):

.. math::
   v \leftarrow v + \tfrac{Δt}{2m} F(x), \quad x \leftarrow x + Δt\, v, \quad
   v \leftarrow v + \tfrac{Δt}{2m} F(x).

Positions are kept unwrapped (the force call wraps them). ``n_frames`` frames are recorded at
t = 0, Δt, …, (n_frames − 1) Δt, i.e. n_frames − 1 steps are taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .oracle import all_forces
from .params import PAPER, LJParams


@dataclass
class MDFrames:
    """Frames of one NVE run: unwrapped positions, velocities and forces, each ``[n_frames, n_atoms, 3]``."""

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray


def _check_run(n_frames: int, dt: float) -> None:
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got {dt}")


def velocity_verlet(positions: np.ndarray, velocities: np.ndarray, box: np.ndarray, n_frames: int,
                    dt: float, params: LJParams = PAPER, device: str | torch.device | None = None,
                    progress: bool = False) -> MDFrames:
    """NVE run from (positions, velocities) ``[n, 3]``; forces by the compiled kernel on CPU
    (``device=None``) or by the torch cell list on ``device`` (float64)."""
    _check_run(n_frames, dt)
    if device is None:
        x, v, backend = np.array(positions, float), np.array(velocities, float), "numba"
        keep = np.copy
    else:
        x = torch.as_tensor(positions, dtype=torch.float64, device=device).clone()
        v = torch.as_tensor(velocities, dtype=torch.float64, device=device).clone()
        backend, keep = "torch", (lambda t: t.detach().cpu().numpy().copy())
    return _verlet(lambda r: all_forces(r, box, backend, params=params), x, v, n_frames, dt,
                   0.5 * dt / params.mass, keep, progress)


def _verlet(force: Callable, x, v, n_frames: int, dt: float, half, keep: Callable,
            progress: bool) -> MDFrames:
    """The velocity-Verlet loop; ``half`` = Δt / (2m) (a scalar or a column ``[n, 1]``)."""
    f = force(x)
    frames = [(keep(x), keep(v), keep(f))]
    for _ in tqdm(range(n_frames - 1), desc="velocity Verlet", disable=not progress, leave=False):
        v = v + half * f
        x = x + dt * v
        f = force(x)
        v = v + half * f
        frames.append((keep(x), keep(v), keep(f)))
    return MDFrames(*(np.stack(a) for a in zip(*frames)))


def velocity_verlet_forces(force: Callable[[np.ndarray], np.ndarray], positions: np.ndarray,
                           velocities: np.ndarray, masses: np.ndarray, n_frames: int, dt: float,
                           progress: bool = False) -> MDFrames:
    """NVE run with any force function ``force(positions [n, 3]) -> [n, 3]`` and per-atom
    ``masses`` ``[n]`` (e.g. an ASE calculator on the periodic box: the ``ase`` engine)."""
    _check_run(n_frames, dt)
    half = 0.5 * dt / np.asarray(masses, float)[:, None]
    return _verlet(force, np.array(positions, float), np.array(velocities, float), n_frames, dt,
                   half, np.copy, progress)
