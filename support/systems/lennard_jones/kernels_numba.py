r"""Compiled (numba ``@njit``) cell-list kernels for the LJ forces — the fast CPU back-end.

All kernels take positions already wrapped into ``[0, L)`` (float64 ``[n, 3]``), the three box
sides and the number of cells per axis (cell side ≥ the cut-off, see
:func:`~.geometry.cells_per_side`).

* :func:`bin_atoms` sorts all atoms into cells by a counting sort: O(N).
* :func:`partial_forces` loops only over the chosen atoms and the atoms of their 27 neighbouring
  cells (fewer when an axis has fewer than 3 cells), so its pair work is O(m · n_neighbours).
* :func:`all_forces_energy` visits every pair once (i < j) and uses Newton's third law.
* :func:`shell_images` lists the periodic images of the atoms within a radius of the chosen atoms
  (used to carve the cluster for generic ASE calculators).

Pair force (plain cut, minimum image d = r_i − r_j):
F_i += 24 ε [2 (σ/r)^{12} − (σ/r)^6] d / r²  for r < r_c.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _cell_coord(x: float, side: float, nc: int) -> int:
    c = int(x / side * nc)
    if c < 0:
        return 0
    if c >= nc:  # x == L after wrapping round-off
        return nc - 1
    return c


@njit(cache=True)
def bin_atoms(pos, box, ncell):
    """Counting sort of atoms into cells: returns (cell of each atom [n], start [n_cells+1], order [n]).

    The atoms of cell c are ``order[start[c]:start[c+1]]``; cell id = (cx · ny + cy) · nz + cz.
    """
    n = pos.shape[0]
    n_cells = ncell[0] * ncell[1] * ncell[2]
    cell = np.empty(n, np.int64)
    start = np.zeros(n_cells + 1, np.int64)
    for i in range(n):
        cx = _cell_coord(pos[i, 0], box[0], ncell[0])
        cy = _cell_coord(pos[i, 1], box[1], ncell[1])
        cz = _cell_coord(pos[i, 2], box[2], ncell[2])
        c = (cx * ncell[1] + cy) * ncell[2] + cz
        cell[i] = c
        start[c + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return cell, start, order


@njit(cache=True)
def _axis_neighbours(c: int, nc: int, out) -> int:
    """Distinct neighbouring cell coordinates of ``c`` on an axis with ``nc`` cells; returns count."""
    if nc >= 3:
        out[0] = (c - 1) % nc
        out[1] = c
        out[2] = (c + 1) % nc
        return 3
    for k in range(nc):
        out[k] = k
    return nc


@njit(cache=True)
def _neighbour_cells(c: int, ncell, out) -> int:
    """Distinct cells of the (≤ 27-cell) stencil around cell ``c``; returns their number."""
    nx, ny, nz = ncell[0], ncell[1], ncell[2]
    cz = c % nz
    cy = (c // nz) % ny
    cx = c // (ny * nz)
    ax = np.empty(3, np.int64)
    ay = np.empty(3, np.int64)
    az = np.empty(3, np.int64)
    kx = _axis_neighbours(cx, nx, ax)
    ky = _axis_neighbours(cy, ny, ay)
    kz = _axis_neighbours(cz, nz, az)
    k = 0
    for a in range(kx):
        for b in range(ky):
            for d in range(kz):
                out[k] = (ax[a] * ny + ay[b]) * nz + az[d]
                k += 1
    return k


@njit(cache=True)
def _min_image(d: float, side: float) -> float:
    return d - side * np.floor(d / side + 0.5)


@njit(cache=True)
def partial_forces(pos, box, ncell, idx, rc, epsilon, sigma):
    """Forces ``[m, 3]`` on the atoms ``idx`` only (the other atoms are visited as neighbours)."""
    cell, start, order = bin_atoms(pos, box, ncell)
    rc2 = rc * rc
    s2 = sigma * sigma
    out = np.zeros((idx.shape[0], 3))
    stencil = np.empty(27, np.int64)
    for k in range(idx.shape[0]):
        i = idx[k]
        n_stencil = _neighbour_cells(cell[i], ncell, stencil)
        fx = 0.0
        fy = 0.0
        fz = 0.0
        for s in range(n_stencil):
            c = stencil[s]
            for q in range(start[c], start[c + 1]):
                j = order[q]
                if j == i:
                    continue
                dx = _min_image(pos[i, 0] - pos[j, 0], box[0])
                dy = _min_image(pos[i, 1] - pos[j, 1], box[1])
                dz = _min_image(pos[i, 2] - pos[j, 2], box[2])
                r2 = dx * dx + dy * dy + dz * dz
                if r2 < rc2:
                    sr6 = (s2 / r2) ** 3
                    fr = 24.0 * epsilon * (2.0 * sr6 * sr6 - sr6) / r2
                    fx += fr * dx
                    fy += fr * dy
                    fz += fr * dz
        out[k, 0] = fx
        out[k, 1] = fy
        out[k, 2] = fz
    return out


@njit(cache=True)
def partial_forces_batch(pos, box, ncell, idx, rc, epsilon, sigma):
    """:func:`partial_forces` for a batch of configurations in one call: ``pos [B, N, 3]`` (wrapped),
    ``idx [B, m]`` → ``[B, m, 3]`` (the same kernel per configuration, without a Python call each)."""
    out = np.empty((pos.shape[0], idx.shape[1], 3))
    for b in range(pos.shape[0]):
        out[b] = partial_forces(pos[b], box, ncell, idx[b], rc, epsilon, sigma)
    return out


@njit(cache=True)
def all_forces_energy(pos, box, ncell, rc, epsilon, sigma):
    """All forces ``[n, 3]`` and the plain-cut potential energy, each pair visited once (i < j)."""
    cell, start, order = bin_atoms(pos, box, ncell)
    n = pos.shape[0]
    rc2 = rc * rc
    s2 = sigma * sigma
    forces = np.zeros((n, 3))
    energy = 0.0
    stencil = np.empty(27, np.int64)
    for i in range(n):
        n_stencil = _neighbour_cells(cell[i], ncell, stencil)
        for s in range(n_stencil):
            c = stencil[s]
            for q in range(start[c], start[c + 1]):
                j = order[q]
                if j <= i:
                    continue
                dx = _min_image(pos[i, 0] - pos[j, 0], box[0])
                dy = _min_image(pos[i, 1] - pos[j, 1], box[1])
                dz = _min_image(pos[i, 2] - pos[j, 2], box[2])
                r2 = dx * dx + dy * dy + dz * dz
                if r2 < rc2:
                    sr6 = (s2 / r2) ** 3
                    fr = 24.0 * epsilon * (2.0 * sr6 * sr6 - sr6) / r2
                    energy += 4.0 * epsilon * (sr6 * sr6 - sr6)
                    forces[i, 0] += fr * dx
                    forces[i, 1] += fr * dy
                    forces[i, 2] += fr * dz
                    forces[j, 0] -= fr * dx
                    forces[j, 1] -= fr * dy
                    forces[j, 2] -= fr * dz
    return forces, energy


@njit(cache=True)
def count_pairs_within(pos, box, ncell, cutoff):
    """Number of pairs (i < j) closer than ``cutoff`` (for energy shifts)."""
    cell, start, order = bin_atoms(pos, box, ncell)
    c2 = cutoff * cutoff
    count = 0
    stencil = np.empty(27, np.int64)
    for i in range(pos.shape[0]):
        n_stencil = _neighbour_cells(cell[i], ncell, stencil)
        for s in range(n_stencil):
            c = stencil[s]
            for q in range(start[c], start[c + 1]):
                j = order[q]
                if j > i:
                    dx = _min_image(pos[i, 0] - pos[j, 0], box[0])
                    dy = _min_image(pos[i, 1] - pos[j, 1], box[1])
                    dz = _min_image(pos[i, 2] - pos[j, 2], box[2])
                    if dx * dx + dy * dy + dz * dz < c2:
                        count += 1
    return count


@njit(cache=True)
def _shell_pass(pos, box, ncell, idx, cutoff, cell, start, order, keys, write: bool) -> int:
    c2 = cutoff * cutoff
    stencil = np.empty(27, np.int64)
    count = 0
    for k in range(idx.shape[0]):
        i = idx[k]
        n_stencil = _neighbour_cells(cell[i], ncell, stencil)
        for s in range(n_stencil):
            c = stencil[s]
            for q in range(start[c], start[c + 1]):
                j = order[q]
                code = 0
                r2 = 0.0
                for a in range(3):
                    d = pos[i, a] - pos[j, a]
                    shift = np.floor(d / box[a] + 0.5)  # image of j nearest to i: r_j + shift·L
                    d -= shift * box[a]
                    r2 += d * d
                    code = code * 3 + int(shift) + 1
                if r2 < c2:
                    if write:
                        keys[count] = j * 27 + code
                    count += 1
    return count


@njit(cache=True)
def shell_images(pos, box, ncell, idx, cutoff):
    """Keys ``j·27 + image_code`` of every periodic image of atom j within ``cutoff`` of a chosen atom.

    ``image_code = Σ_a (s_a + 1) 3^{2−a}`` encodes the image shift s ∈ {−1, 0, 1}³; the image sits
    at ``r_j + s ⊙ L``. Exact when every side is at least 2 × cutoff (one image per pair). The
    chosen atoms themselves appear with s = 0 (code 13). Keys may repeat; callers take np.unique.
    """
    cell, start, order = bin_atoms(pos, box, ncell)
    dummy = np.empty(0, np.int64)
    n = _shell_pass(pos, box, ncell, idx, cutoff, cell, start, order, dummy, False)
    keys = np.empty(n, np.int64)
    _shell_pass(pos, box, ncell, idx, cutoff, cell, start, order, keys, True)
    return keys
