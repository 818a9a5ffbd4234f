r"""Warren–Cowley-type short-range order of the first bcc shell (paper 2's NbMoTa observables).

With N_ij the number of ordered first-neighbour pairs (an i atom with a j neighbour; vacancies and
non-sites excluded, periodic grid) and c_i the number of i atoms::

    δ_ij = N_ij / c_i − 8/3,

the mean number of j neighbours of an i atom minus its value 8·(1/3) in an ideal equimolar random
solid solution. Order of the 6 components: NbNb, NbMo, NbTa, MoMo, MoTa, TaTa (each normalised by
its first species). Sum rules (tested): c_i δ_ij + 8c_i/3 = c_j δ_ji + 8c_j/3 (N_ij = N_ji), and
Σ_j (δ_ij + 8/3) = 8 − n_i^vac / c_i with n_i^vac the i–vacancy pairs.
"""

from __future__ import annotations

import numpy as np

from .lattice import check_grids

SRO_NAMES = ("NbNb", "NbMo", "NbTa", "MoMo", "MoTa", "TaTa")
SRO_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
RANDOM_Z = 8 / 3


def pair_counts(grids: np.ndarray, *, checked: bool = False) -> np.ndarray:
    """``[B, 3, 3]`` ordered first-neighbour atom pairs N_ij (periodic), species 1..3 → 0..2.

    Every bond joins the even sublattice A (voxels 2·(i,j,k)) to the odd one B (2·(i,j,k) + 1):
    A(i,j,k) has the 8 neighbours B(i−a, j−b, k−c), a, b, c ∈ {0, 1}. Each bond is counted once
    as C_ij (A holds i, B holds j) and N = C + Cᵀ."""
    x = grids if checked else check_grids("grids", grids)[0]
    B = x.shape[0]
    a = x[:, ::2, ::2, ::2].astype(np.int32)
    b = x[:, 1::2, 1::2, 1::2].astype(np.int32)
    base = (np.arange(B, dtype=np.int32) * 16)[:, None, None, None]
    c = np.zeros(16 * B, dtype=np.int64)
    a_key = a * 4 + base
    for sh in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)):
        nb = np.roll(b, sh, axis=(1, 2, 3)) if any(sh) else b
        c += np.bincount((a_key + nb).ravel(), minlength=16 * B)
    c = c.reshape(B, 4, 4)[:, 1:, 1:]
    return c + c.transpose(0, 2, 1)


def sro(grids: np.ndarray, *, checked: bool = False) -> np.ndarray:
    """δ ``[B, 6]`` (or ``[6]`` for one grid) in the order of :data:`SRO_NAMES`. ``checked``:
    skip the input check (the simulators' own grids)."""
    x, batched = (grids, grids.ndim == 4) if checked else check_grids("grids", grids)
    x = x if x.ndim == 4 else x[None]
    n = pair_counts(x, checked=True)
    c = np.stack([(x.reshape(len(x), -1) == s).sum(1) for s in (1, 2, 3)], axis=1)
    if (c == 0).any():
        raise ValueError("every species must be present to define δ")
    out = np.stack([n[:, i, j] / c[:, i] for i, j in SRO_PAIRS], axis=1) - RANDOM_Z
    return out if batched else out[0]
