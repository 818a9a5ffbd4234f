"""Periodic-box geometry shared by every LJ back-end: input checks, wrapping, minimum image.

Positions may be numpy arrays or torch tensors of shape ``[n_atoms, 3]``; they may be
*unwrapped* (outside the box): every force routine wraps them into ``[0, L)`` first, so storing
unwrapped trajectories never creates jumps in the state while forces stay periodic.
"""

from __future__ import annotations

import numpy as np
import torch

from ...validation import check_indices

ArrayLike = np.ndarray | torch.Tensor


def as_box(box: float | ArrayLike) -> np.ndarray:
    """The box as three positive side lengths (a scalar means a cubic box)."""
    if torch.is_tensor(box):
        box = box.detach().cpu().numpy()
    arr = np.array(box, dtype=np.float64).reshape(-1)  # a copy: callers may pass read-only arrays
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3:
        raise ValueError(f"box must be a side length or three side lengths, got {arr.size} values")
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError(f"box side lengths must be positive and finite, got {arr.tolist()}")
    return arr


def check_box_for_cutoff(box: np.ndarray, cutoff: float, what: str = "rc") -> None:
    """The minimum-image convention is exact only if every side is at least 2 × cut-off."""
    if (box < 2.0 * cutoff).any():
        raise ValueError(f"box sides {box.tolist()} are smaller than 2·{what} = {2.0 * cutoff}: "
                         "the minimum-image convention would miss periodic images; use more atoms "
                         f"or a smaller {what}")


def check_positions(positions: ArrayLike) -> ArrayLike:
    """``positions`` must be a finite floating array/tensor of shape ``[n_atoms >= 2, 3]``."""
    if not (isinstance(positions, np.ndarray) or torch.is_tensor(positions)):
        raise TypeError(f"positions must be a numpy array or torch tensor, got {type(positions).__name__}")
    if positions.ndim != 2 or positions.shape[1] != 3 or positions.shape[0] < 2:
        raise ValueError(f"positions must have shape [n_atoms >= 2, 3], got {list(positions.shape)}")
    if torch.is_tensor(positions):
        if not torch.is_floating_point(positions):
            raise TypeError(f"positions must be floating point, got {positions.dtype}")
        finite = bool(torch.isfinite(positions).all())
    else:
        if not np.issubdtype(positions.dtype, np.floating):
            raise TypeError(f"positions must be floating point, got {positions.dtype}")
        finite = bool(np.isfinite(positions).all())
    if not finite:
        raise ValueError("positions contain NaN or inf")
    return positions


def check_atom_indices(atom_idx: ArrayLike | list[int], n_atoms: int) -> np.ndarray:
    """A non-empty 1-D integer index set inside ``[0, n_atoms)`` (as int64 numpy)."""
    idx = check_indices("atom_idx", torch.as_tensor(atom_idx), n_atoms)
    if idx.dim() != 1:
        raise ValueError(f"atom_idx must be 1-D, got shape {list(idx.shape)}")
    return idx.cpu().numpy().astype(np.int64)


def wrap_numpy(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions folded into the box, r − L ⌊r / L⌋ ∈ [0, L) (one new array: the same operations
    in the same order as the plain expression, done in place)."""
    out = np.divide(positions, box)
    np.floor(out, out=out)
    out *= box
    return np.subtract(positions, out, out=out)


def wrap_torch(positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`wrap_numpy` (same device as ``positions``)."""
    return positions - box * torch.floor(positions / box)


def cells_per_side(box: np.ndarray, cell_min: float) -> np.ndarray:
    """Number of cells per axis, ⌊L / cell_min⌋ ≥ 1, so every cell side is at least ``cell_min``."""
    return np.maximum(1, np.floor(box / cell_min)).astype(np.int64)
