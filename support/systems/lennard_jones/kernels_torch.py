r"""Vectorised torch cell-list kernel for LJ forces: the GPU-capable back-end.

Runs on the device and in the dtype of the positions. All atoms are binned into cells of side
≥ r_c (a padded table ``[n_cells, max_occupancy]``, O(N)); each chosen atom then gathers the atoms
of its (≤ 27) neighbouring cells, applies the minimum image and sums
F_i = Σ_j 24 ε [2 (σ/r)^{12} − (σ/r)^6] d_ij / r²  over r < r_c.
Chosen atoms are processed in chunks so memory stays bounded (``chunk × 27 × max_occupancy``).
"""

from __future__ import annotations

import torch

from .geometry import cells_per_side


def _axis_stencil(nc: int, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Offsets (−1, 0, 1) relative to the atom's cell, or every cell (absolute) when nc < 3."""
    if nc >= 3:
        return torch.tensor([-1, 0, 1], device=device), True
    return torch.arange(nc, device=device), False


def _cell_table(cell: torch.Tensor, n_cells: int) -> torch.Tensor:
    """Padded table ``[n_cells, max_occ]`` of atom ids per cell (−1 = empty slot)."""
    order = torch.argsort(cell, stable=True)
    counts = torch.bincount(cell, minlength=n_cells)
    first = torch.cumsum(counts, 0) - counts
    sorted_cells = cell[order]
    rank = torch.arange(cell.numel(), device=cell.device) - first[sorted_cells]
    table = torch.full((n_cells, int(counts.max())), -1, dtype=torch.long, device=cell.device)
    table[sorted_cells, rank] = order
    return table


def _stencil_cells(coords: torch.Tensor, ncell: list[int]) -> torch.Tensor:
    """Cell ids ``[m, K]`` of the distinct neighbouring cells of each chosen atom's cell."""
    per_axis = []
    for a in range(3):
        offsets, relative = _axis_stencil(ncell[a], coords.device)
        c = (coords[:, a:a + 1] + offsets) % ncell[a] if relative else offsets.expand(coords.shape[0], -1)
        per_axis.append(c)
    cx, cy, cz = per_axis
    ids = (cx[:, :, None, None] * ncell[1] + cy[:, None, :, None]) * ncell[2] + cz[:, None, None, :]
    return ids.reshape(coords.shape[0], -1)


def partial_forces(pos: torch.Tensor, box: torch.Tensor, idx: torch.Tensor, rc: float,
                   epsilon: float, sigma: float, chunk: int = 4096) -> torch.Tensor:
    """Forces ``[m, 3]`` on atoms ``idx``; ``pos`` wrapped ``[n, 3]``, ``box`` ``[3]`` on one device."""
    ncell = [int(v) for v in cells_per_side(box.detach().cpu().numpy(), rc)]
    coords = torch.floor(pos / (box / torch.tensor(ncell, dtype=pos.dtype, device=pos.device))).long()
    coords = torch.minimum(coords.clamp(min=0), torch.tensor(ncell, device=pos.device) - 1)
    cell = (coords[:, 0] * ncell[1] + coords[:, 1]) * ncell[2] + coords[:, 2]
    table = _cell_table(cell, ncell[0] * ncell[1] * ncell[2])
    out = torch.empty((idx.numel(), 3), dtype=pos.dtype, device=pos.device)
    for lo in range(0, idx.numel(), chunk):
        sel = idx[lo:lo + chunk]
        cand = table[_stencil_cells(coords[sel], ncell)].flatten(1)      # [c, K · max_occ]
        valid = (cand >= 0) & (cand != sel[:, None])
        d = pos[sel][:, None, :] - pos[cand.clamp(min=0)]
        d = d - box * torch.round(d / box)
        r2 = (d * d).sum(-1)
        keep = valid & (r2 < rc * rc)
        r2 = torch.where(keep, r2, torch.ones_like(r2))
        sr6 = (sigma * sigma / r2) ** 3
        fr = torch.where(keep, 24.0 * epsilon * (2.0 * sr6 * sr6 - sr6) / r2, torch.zeros_like(r2))
        out[lo:lo + chunk] = (fr[..., None] * d).sum(1)
    return out
