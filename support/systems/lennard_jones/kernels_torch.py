r"""Vectorised torch cell-list kernel for LJ forces: the GPU-capable back-end.

Runs on the device and in the dtype of the positions. All atoms are binned into cells of side
≥ r_c (a padded table ``[n_cells, max_occupancy]``, O(N)); each chosen atom then gathers the atoms
of its (≤ 27) neighbouring cells, shifted by the periodic image of their cell (or by the minimum
image when an axis has fewer than 3 cells), keeps the pairs inside r_c and sums
F_i = Σ_j 24 ε [2 (σ/r)^{12} − (σ/r)^6] d_ij / r²  over r < r_c.
Chosen atoms are processed in chunks so memory stays bounded (``chunk × 27 × max_occupancy``).
"""

from __future__ import annotations

import torch

from .geometry import cells_per_side


def _cell_tables(cell: torch.Tensor, pos: torch.Tensor, n_cells: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded per-cell tables: atom ids ``[n_cells, max_occ]`` (−1 = empty) and their positions
    ``[n_cells, max_occ, 3]`` (NaN = empty, so padding never passes ``r² < r_c²``)."""
    order = torch.argsort(cell, stable=True)
    counts = torch.bincount(cell, minlength=n_cells)
    first = torch.cumsum(counts, 0) - counts
    sorted_cells = cell[order]
    rank = torch.arange(cell.numel(), device=cell.device) - first[sorted_cells]
    max_occ = int(counts.max())
    ids = torch.full((n_cells, max_occ), -1, dtype=torch.long, device=cell.device)
    ids[sorted_cells, rank] = order
    table = torch.full((n_cells, max_occ, 3), float("nan"), dtype=pos.dtype, device=pos.device)
    table[sorted_cells, rank] = pos[order]
    return ids, table


def _stencil(coords: torch.Tensor, ncell: list[int], box: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Distinct neighbouring cells ``[m, K]`` of each chosen atom's cell, and the periodic shift
    ``[m, K, 3]`` that brings each neighbour cell next to the atom (``None`` when an axis has fewer
    than 3 cells: then the caller applies the minimum image per pair instead)."""
    per_axis, shifts = [], []
    for a in range(3):
        if ncell[a] >= 3:
            raw = coords[:, a:a + 1] + torch.tensor([-1, 0, 1], device=coords.device)
            per_axis.append(raw % ncell[a])
            shifts.append(torch.div(raw, ncell[a], rounding_mode="floor") * box[a])  # −L, 0 or +L
        else:
            per_axis.append(torch.arange(ncell[a], device=coords.device).expand(coords.shape[0], -1))
            shifts.append(None)
    cx, cy, cz = per_axis
    ids = (cx[:, :, None, None] * ncell[1] + cy[:, None, :, None]) * ncell[2] + cz[:, None, None, :]
    if any(s is None for s in shifts):
        return ids.flatten(1), None
    sx, sy, sz = shifts
    shift = torch.stack(torch.broadcast_tensors(sx[:, :, None, None], sy[:, None, :, None],
                                                sz[:, None, None, :]), dim=-1)
    return ids.flatten(1), shift.flatten(1, 3)


def partial_forces(pos: torch.Tensor, box: torch.Tensor, idx: torch.Tensor, rc: float,
                   epsilon: float, sigma: float, chunk: int = 4096) -> torch.Tensor:
    """Forces ``[m, 3]`` on atoms ``idx``; ``pos`` wrapped ``[n, 3]``, ``box`` ``[3]`` on one device.

    Candidates of each chosen atom are gathered densely, then only the pairs inside r_c are kept
    (compaction) before the force arithmetic and the scatter-add.
    """
    ncell = [int(v) for v in cells_per_side(box.detach().cpu().numpy(), rc)]
    nc = torch.tensor(ncell, device=pos.device)
    coords = torch.minimum(torch.floor(pos * (nc / box)).long().clamp(min=0), nc - 1)
    cell = (coords[:, 0] * ncell[1] + coords[:, 1]) * ncell[2] + coords[:, 2]
    ids, table = _cell_tables(cell, pos, ncell[0] * ncell[1] * ncell[2])
    out = torch.zeros((idx.numel(), 3), dtype=pos.dtype, device=pos.device)
    inv_box = 1.0 / box
    for lo in range(0, idx.numel(), chunk):
        sel = idx[lo:lo + chunk]
        cells, shift = _stencil(coords[sel], ncell, box)                   # [c, K], [c, K, 3]
        if shift is None:
            d = pos[sel][:, None, :] - table[cells].flatten(1, 2)          # [c, K · max_occ, 3]
            d = d - box * torch.round(d * inv_box)                         # minimum image
        else:
            d = (pos[sel][:, None, None, :] - shift[:, :, None, :] - table[cells]).flatten(1, 2)
        r2 = (d * d).sum(-1)
        keep = (r2 < rc * rc) & (ids[cells].flatten(1) != sel[:, None])
        row, col = keep.nonzero(as_tuple=True)
        r2k = r2[row, col]
        sr6 = (sigma * sigma / r2k) ** 3
        fr = 24.0 * epsilon * (2.0 * sr6 * sr6 - sr6) / r2k
        out[lo:lo + chunk].index_add_(0, row, fr[:, None] * d[row, col])
    return out
