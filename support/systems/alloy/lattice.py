r"""The bcc NbMoTa lattice as a voxel grid (as paper 2's official code, ``NbMoTa_Alloy/``, encodes it).

``n³`` bcc cells of side a = 3.24 Å map to a periodic ``(2n)³`` grid of voxels of side a/2 = 1.62 Å.
Voxel (i, j, k) is a lattice site iff i, j, k are all even or all odd (two sites per cell). Codes::

    −1  not a site        0  vacancy        1  Nb        2  Mo        3  Ta

The 8 first neighbours of a site are the voxel offsets (±1, ±1, ±1) (2.81 Å), ordered
k = 0…7 = (−−−), (−−+), (−+−), (−++), (+−−), (+−+), (++−), (+++) — the order of the hop directions.
Grids are ``int8`` numpy arrays; batches are ``[B, G, G, G]`` with ``G = 2n``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

SPECIES = ("Nb", "Mo", "Ta")
NON_SITE, VACANCY = -1, 0
LATTICE_A = 3.24          # Å
VOXEL = LATTICE_A / 2     # Å
#: the 8 hop directions, k = 0…7 (C order of the sign patterns)
HOPS = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=np.int64)


def check_cells(n_cells: Any) -> int:
    """n (cells per side) as an int ≥ 5: the 9-voxel barrier crop must not wrap onto itself."""
    n = int(n_cells)
    if n != n_cells or n < 5:
        raise ValueError(f"n_cells must be an integer >= 5 (the barrier crop spans 9 voxels), got {n_cells}")
    return n


def site_mask(n_cells: int) -> np.ndarray:
    """``[G, G, G]`` bool: True on the bcc sites of the ``(2n)³`` voxel grid (read-only)."""
    return _site_mask(check_cells(n_cells))


@lru_cache(maxsize=8)
def _site_mask(n: int) -> np.ndarray:
    par = np.indices((2 * n, 2 * n, 2 * n)) % 2
    mask = (par[0] == par[1]) & (par[1] == par[2])
    mask.flags.writeable = False
    return mask


def site_coordinates(n_cells: int) -> np.ndarray:
    """``[2n³, 3]`` voxel indices of the sites, in C order of the grid."""
    return np.argwhere(site_mask(n_cells))


def check_grids(name: str, grids: Any) -> tuple[np.ndarray, bool]:
    """``(int8 [B, G, G, G], was_batched)``; checks codes and the site pattern."""
    x = np.asarray(grids)
    batched = x.ndim == 4
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or not (x.shape[1] == x.shape[2] == x.shape[3]) or x.shape[1] % 2:
        raise ValueError(f"{name} must be [G, G, G] or [B, G, G, G] with an even G, got {list(np.shape(grids))}")
    mask = site_mask(x.shape[1] // 2)
    if not np.all(x[:, ~mask] == NON_SITE):
        raise ValueError(f"{name}: non-site voxels must hold {NON_SITE}")
    if x[:, mask].min(initial=0) < 0 or x[:, mask].max(initial=0) > 3:
        raise ValueError(f"{name}: site codes must be 0 (vacancy), 1 (Nb), 2 (Mo) or 3 (Ta)")
    return x.astype(np.int8, copy=False), batched


def equimolar_codes(n_atoms: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of species codes 1, 2, 3 with counts as equal as possible (the
    remainder goes to the last species: 8184 → 2728 each, 1023 → 341 each)."""
    base = n_atoms // 3
    codes = np.concatenate([np.full(base, 1), np.full(base, 2), np.full(n_atoms - 2 * base, 3)])
    return rng.permutation(codes).astype(np.int8)


def vacancy_sites(n_cells: int, n_vacancies: int) -> np.ndarray:
    """``[V, 3]`` vacancy voxels on a cubic sub-grid starting at (0, 0, 0) (one per 1024 sites:
    V = 1 → (0,0,0); V = 8 → {0, G/2}³). V must be a cube."""
    m = round(n_vacancies ** (1 / 3))
    if m ** 3 != n_vacancies or n_vacancies < 1:
        raise ValueError(f"n_vacancies must be a positive cube, got {n_vacancies}")
    g = 2 * check_cells(n_cells)
    if g % (2 * m):
        raise ValueError(f"{n_vacancies} vacancies do not fit a cubic sub-grid of a {g}³ grid")
    step = g // m
    return np.array([[i, j, k] for i in range(0, g, step) for j in range(0, g, step)
                     for k in range(0, g, step)], dtype=np.int64)


def random_alloys(n_cells: int, n_batch: int, rng: np.random.Generator, n_vacancies: int = 1) -> np.ndarray:
    """``[B, G, G, G]`` random equimolar solid solutions (δ ≈ 0) with ``n_vacancies`` vacancies on
    the cubic sub-grid of :func:`vacancy_sites`."""
    mask = site_mask(n_cells)
    g = mask.shape[0]
    vac = vacancy_sites(n_cells, n_vacancies)
    out = np.full((n_batch, g, g, g), NON_SITE, dtype=np.int8)
    n_atoms = int(mask.sum()) - n_vacancies
    for b in range(n_batch):
        out[b][mask] = 1                        # placeholder, overwritten below
        out[b][tuple(vac.T)] = VACANCY
        atoms = mask & (out[b] != VACANCY)
        out[b][atoms] = equimolar_codes(n_atoms, rng)
    return out


def vacancies(grids: np.ndarray) -> np.ndarray:
    """``[B, V, 3]`` vacancy voxels (C order) of a batch with the same V in every grid."""
    idx = np.argwhere(grids == VACANCY)
    counts = np.bincount(idx[:, 0], minlength=grids.shape[0])
    if counts.min() != counts.max() or counts.min() == 0:
        raise ValueError(f"every grid needs the same positive number of vacancies, got {counts.tolist()}")
    return idx[:, 1:].reshape(grids.shape[0], counts[0], 3)


def species_counts(grids: np.ndarray) -> np.ndarray:
    """``[B, 3]`` numbers of Nb, Mo, Ta atoms."""
    g = grids.reshape(grids.shape[0], -1)
    return np.stack([(g == s).sum(1) for s in (1, 2, 3)], axis=1)
