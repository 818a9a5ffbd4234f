r"""What hierarchical upsampling leaves behind, measured on periodic spin lattices ``[n, L, L]``.

* :func:`correlation_function` — ``G(r) = ⟨s_i s_{i+r e}⟩`` along the two lattice axes, averaged
  over sites, axes and lattices (not connected: replication maps it exactly, ``G_{2L}(2r) = G_L(r)``);
* :func:`wall_density_by_offset` — the domain-wall density of the bonds that cross between sites
  ``i`` and ``i + 1`` grouped by ``(i + 1) mod period``: after 2×2 replication the bonds inside a
  block (offset 1) carry no wall and the bonds between blocks (offset 0) all of them; relaxation
  windows of stride ``s`` leave their mark, if any, on offset 0 of period ``s`` (the seams);
* :func:`standardised_w1` — the 1-Wasserstein distance between two samples of a scalar in units
  of the reference sample's standard deviation (0: same law; it is a distance between laws, so
  it sees a wrong width as well as a wrong mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .lattice import as_spins, check_count


def correlation_function(spins: Any, r_max: int | None = None) -> np.ndarray:
    """``G(r)`` for ``r = 0 … r_max`` (default ``L // 2``): ``[r_max + 1]`` float64."""
    s, _ = as_spins("spins", spins)
    L = min(s.shape[1:])
    r_max = L // 2 if r_max is None else check_count("r_max", r_max)
    if r_max > L // 2:
        raise ValueError(f"r_max = {r_max} exceeds half the lattice side ({L // 2})")
    s = s.astype(np.float32)
    return np.array([((s * np.roll(s, -r, axis=1)).mean(dtype=np.float64)
                      + (s * np.roll(s, -r, axis=2)).mean(dtype=np.float64)) / 2
                     for r in range(r_max + 1)])


def wall_density_by_offset(spins: Any, period: int) -> np.ndarray:
    """``[period]``: fraction of unequal-spin bonds among the bonds (i, i + 1) (both axes) with
    ``(i + 1) mod period = k``, for ``k = 0 … period − 1``; their mean is ρ_dw."""
    s, _ = as_spins("spins", spins)
    period = check_count("period", period, 1)
    if s.shape[1] % period or s.shape[2] % period:
        raise ValueError(f"period {period} must divide the lattice sides {list(s.shape[1:])}")
    walls_x = (s != np.roll(s, -1, axis=1))            # bond (i, i+1) stored at i
    walls_y = (s != np.roll(s, -1, axis=2))
    out = np.empty(period)
    for k in range(period):
        rows = (np.arange(s.shape[1]) + 1) % period == k
        cols = (np.arange(s.shape[2]) + 1) % period == k
        out[k] = (walls_x[:, rows].sum() + walls_y[:, :, cols].sum()) / (
            walls_x[:, rows].size + walls_y[:, :, cols].size)
    return out


def standardised_w1(sample: Any, reference: Any) -> float:
    """``W₁(sample, reference) / std(reference)`` of two 1-D samples (finite, non-empty)."""
    a = np.asarray(sample, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("both samples must be non-empty")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("samples must be finite")
    if b.std() == 0:
        raise ValueError("the reference sample has zero spread: a standardised distance is undefined")
    return w1_over_sd(a, b)


def w1_over_sd(a: np.ndarray, b: np.ndarray) -> float:
    r"""``W₁(a, b) / std(b)`` of two finite 1-D float arrays, unchecked (what a bootstrap calls many
    thousand times): W₁ = ∫ |F_a(x) − F_b(x)| dx, the empirical CDFs compared between the pooled,
    sorted values."""
    a, b = np.sort(a), np.sort(b)
    v = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(a, v[:-1], side="right") / len(a)
    fb = np.searchsorted(b, v[:-1], side="right") / len(b)
    return float((np.abs(fa - fb) * np.diff(v)).sum() / b.std())
