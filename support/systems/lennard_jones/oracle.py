r"""The LJ force oracle: partial forces on chosen atoms behind one interface, several back-ends.

``partial_forces(positions, box, atom_idx, backend=...)`` returns the forces on the atoms
``atom_idx`` only, equal (to round-off) to the corresponding rows of ``all_forces``:

============ ============================================================================ ==========
back-end     how                                                                          cost
============ ============================================================================ ==========
``numba``    compiled cell list: bin all atoms, loop the chosen atoms' 27 cells           O(N) + O(m)
``torch``    vectorised cell list on the positions' device (GPU path)                     O(N) + O(m)
``ase``      carve chosen atoms + ``buffer`` shell (periodic images), run ANY ASE calc    calc(cluster)
             on the atoms' elements (``numbers``), e.g. EMT copper
``builtin``  ``torch`` for CUDA tensors, else ``numba``
============ ============================================================================ ==========

Positions may be unwrapped (they are wrapped inside); numpy in → numpy out, torch in → torch out
(same device and dtype). The box is a side length (cubic) or three sides; every side must be at
least 2 r_c for the built-in back-ends so that the minimum-image convention is exact (``ase``
enumerates every image within its buffer, so it takes any box). The built-in back-ends model one
species (``params``); ``numbers`` (one atomic number per atom, default argon) matter for ``ase``.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator

from ...validation import check_choice, check_finite, check_indices
from . import kernels_numba as kn
from . import kernels_torch as kt
from .ase_backend import ase_lj_calculator, cluster_partial_forces, periodic_all_forces
from .geometry import (ArrayLike, as_box, cells_per_side, check_atom_indices,
                       check_box_for_cutoff, check_positions, wrap_numpy, wrap_torch)
from .params import PAPER, LJParams
from .species import check_numbers

BACKENDS = ("builtin", "numba", "torch", "ase")


def resolve_backend(backend: str, positions: ArrayLike) -> str:
    """``builtin`` → ``torch`` for CUDA tensors, ``numba`` otherwise; other names pass through."""
    check_choice("LJ force back-end", backend, BACKENDS)
    if backend != "builtin":
        return backend
    return "torch" if torch.is_tensor(positions) and positions.is_cuda else "numba"


def _to_numpy(positions: ArrayLike) -> np.ndarray:
    """A float64 numpy view of ``positions`` where possible (a copy only for another dtype, a
    device tensor or a non-contiguous array). Callers must not write into it: every path here
    wraps it first (:func:`~.geometry.wrap_numpy` returns a new array)."""
    if torch.is_tensor(positions):
        return positions.detach().cpu().numpy().astype(np.float64, copy=False)
    return np.ascontiguousarray(positions, dtype=np.float64)


def _like(result: np.ndarray | torch.Tensor, positions: ArrayLike) -> ArrayLike:
    """Return ``result`` in the container type (and device/dtype) of ``positions``."""
    if torch.is_tensor(positions):
        return torch.as_tensor(result).to(device=positions.device, dtype=positions.dtype)
    return result.detach().cpu().numpy() if torch.is_tensor(result) else result


def _torch_forces(positions: ArrayLike, box: np.ndarray, idx: np.ndarray, p: LJParams) -> torch.Tensor:
    pos = positions.detach() if torch.is_tensor(positions) else torch.from_numpy(_to_numpy(positions))
    box_t = torch.as_tensor(box, dtype=pos.dtype, device=pos.device)
    idx_t = torch.as_tensor(idx, device=pos.device)
    return kt.partial_forces(wrap_torch(pos, box_t), box_t, idx_t, p.rc, p.epsilon, p.sigma)


def _one_species(numbers: ArrayLike | None, n_atoms: int, backend: str) -> None:
    """The built-in kernels are one-species LJ: several elements need the ``ase`` back-end."""
    if numbers is not None and len(np.unique(check_numbers(numbers, n_atoms))) > 1:
        raise ValueError(f"the {backend} back-end models one LJ species; several elements need "
                         "backend='ase' with a calculator that knows them")


def partial_forces(positions: ArrayLike, box: float | ArrayLike, atom_idx: ArrayLike | list[int],
                   backend: str = "builtin", calculator: Calculator | None = None, *,
                   params: LJParams = PAPER, buffer: float | None = None,
                   numbers: ArrayLike | None = None) -> ArrayLike:
    """Forces ``[m, 3]`` on the atoms ``atom_idx`` of a periodic configuration.

    Args:
        positions: ``[n_atoms, 3]`` (possibly unwrapped), numpy or torch.
        box: cubic side or three sides of the orthorhombic periodic box.
        atom_idx: non-empty 1-D indices in ``[0, n_atoms)``.
        backend: ``builtin`` | ``numba`` | ``torch`` | ``ase``.
        calculator: any ASE calculator for ``ase`` (default: ASE ``LennardJones(smooth=False)``
            with ``params``); exact when ``buffer`` ≥ its reach (pair: cut-off; many-body: 2 × range).
        params: LJ parameters of the built-in back-ends (and of the default ASE calculator).
        buffer: cluster shell radius for ``ase`` (default: the calculator's reach + 0.1, read by
            :func:`~.species.calculator_reach`; required for a calculator of unknown reach).
        numbers: atomic numbers ``[n_atoms]`` for ``ase`` (default argon).
    """
    check_positions(positions)
    box = as_box(box)
    idx = check_atom_indices(atom_idx, positions.shape[0])
    backend = resolve_backend(backend, positions)
    if backend == "ase":
        calc = calculator if calculator is not None else ase_lj_calculator(params)
        return _like(cluster_partial_forces(_to_numpy(positions), box, idx, calc, buffer, numbers),
                     positions)
    _one_species(numbers, positions.shape[0], backend)
    check_box_for_cutoff(box, params.rc)
    if backend == "torch":
        return _like(_torch_forces(positions, box, idx, params), positions)
    wrapped = wrap_numpy(_to_numpy(positions), box)
    out = kn.partial_forces(wrapped, box, cells_per_side(box, params.rc), idx,
                            params.rc, params.epsilon, params.sigma)
    return _like(out, positions)


def partial_forces_batch(positions: torch.Tensor | np.ndarray, box: float | ArrayLike,
                         atom_idx: torch.Tensor | np.ndarray, *, params: LJParams = PAPER) -> np.ndarray:
    """Forces ``[B, m, 3]`` on the atoms ``atom_idx[b]`` of each configuration ``positions[b]``
    (``[B, N, 3]``), one compiled call for the whole batch (numba back-end, one LJ species): what
    :func:`partial_forces` gives configuration by configuration, without its per-call overhead."""
    pos = _to_numpy(positions)                       # a view where possible: the wrap below copies
    if pos.ndim != 3 or pos.shape[-1] != 3 or pos.shape[0] == 0:
        raise ValueError(f"positions must be [B >= 1, n_atoms, 3], got {list(pos.shape)}")
    idx = torch.as_tensor(atom_idx)
    if idx.dim() != 2 or idx.shape[0] != pos.shape[0] or idx.shape[1] == 0:
        raise ValueError(f"atom_idx must be [B={pos.shape[0]}, m >= 1], got {list(idx.shape)}")
    idx = check_indices("atom_idx", idx, pos.shape[1]).cpu().numpy().astype(np.int64)
    box = as_box(box)
    check_box_for_cutoff(box, params.rc)
    with np.errstate(invalid="ignore"):              # NaN/inf input: reported just below
        wrapped = wrap_numpy(pos, box)
    if not np.isfinite(wrapped.sum()):               # wrapped values are in [0, L): only NaN/inf input
        check_finite("positions", torch.from_numpy(pos))
    return kn.partial_forces_batch(wrapped, box, cells_per_side(box, params.rc), idx,
                                   params.rc, params.epsilon, params.sigma)


def all_forces(positions: ArrayLike, box: float | ArrayLike, backend: str = "builtin",
               calculator: Calculator | None = None, *, params: LJParams = PAPER,
               numbers: ArrayLike | None = None) -> ArrayLike:
    """Forces ``[n_atoms, 3]`` on every atom (the reference the partial rows must match).

    ``numba`` visits each pair once (Newton's third law); ``torch`` evaluates every atom's
    stencil (chunked); ``ase`` runs ``calculator`` on the whole periodic box (atoms ``numbers``).
    """
    check_positions(positions)
    box = as_box(box)
    backend = resolve_backend(backend, positions)
    if backend == "ase":
        calc = calculator if calculator is not None else ase_lj_calculator(params)
        return _like(periodic_all_forces(_to_numpy(positions), box, calc, numbers), positions)
    _one_species(numbers, positions.shape[0], backend)
    check_box_for_cutoff(box, params.rc)
    if backend == "torch":
        idx = np.arange(positions.shape[0])
        return _like(_torch_forces(positions, box, idx, params), positions)
    return _like(potential_energy_and_forces(positions, box, params)[1], positions)


def potential_energy_and_forces(positions: ArrayLike, box: float | ArrayLike,
                                params: LJParams = PAPER, shifted: bool = False
                                ) -> tuple[float, np.ndarray]:
    """(E, F ``[n, 3]``) by the compiled Newton-3 kernel.

    E = Σ_{i<j, r<r_c} u(r_ij), the LAMMPS ``lj/cut`` energy; ``shifted=True`` subtracts u(r_c) per
    pair inside the cut-off (ASE's convention, continuous in r).
    """
    check_positions(positions)
    box = as_box(box)
    check_box_for_cutoff(box, params.rc)
    wrapped = wrap_numpy(_to_numpy(positions), box)
    ncell = cells_per_side(box, params.rc)
    forces, energy = kn.all_forces_energy(wrapped, box, ncell, params.rc, params.epsilon, params.sigma)
    if shifted:
        energy -= params.energy_at_cutoff * kn.count_pairs_within(wrapped, box, ncell, params.rc)
    return float(energy), forces


def potential_energy(positions: ArrayLike, box: float | ArrayLike, params: LJParams = PAPER,
                     shifted: bool = False) -> float:
    """Total potential energy (see :func:`potential_energy_and_forces` for the conventions)."""
    return potential_energy_and_forces(positions, box, params, shifted)[0]
