r"""Finite-size scaling of the 2-D Ising model (h = 0): moments of m, exponent fits, exact values.

From samples of the magnetisation per site ``m`` of an ``L × L`` lattice (N = L²) at T:

    ⟨|M|⟩ = ⟨|m|⟩,   χ = N (⟨m²⟩ − ⟨|m|⟩²) / T,   U = 1 − ⟨m⁴⟩ / (3 ⟨m²⟩²)            (1)

(χ with ⟨|m|⟩, the usual finite-lattice susceptibility; U the Binder cumulant, 2/3 in the ordered
phase, 0 for a Gaussian m). At T_c, ⟨|M|⟩ ∝ L^{−β/ν}, χ ∝ L^{γ/ν}, dU/dT ∝ L^{1/ν}, with the
exact 2-D Ising values β/ν = 1/8, γ/ν = 7/4, 1/ν = 1; U(T, L) curves cross near U* ≈ 0.6107.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .ising import T_C

#: exact exponent ratios of the 2-D Ising universality class, and the Binder crossing value
EXACT = {"beta_over_nu": 0.125, "gamma_over_nu": 1.75, "one_over_nu": 1.0, "binder_crossing": 0.6107,
         "T_c": T_C}


def moments(m: Any, L: int, T: float) -> dict[str, float]:
    """⟨|M|⟩, χ and U of eq. (1) from samples ``m`` (any shape, pooled; values of a learned SDE may
    stray beyond ±1 and are used as they are)."""
    m = np.asarray(m, dtype=np.float64).ravel()
    if m.size < 2 or not np.isfinite(m).all():
        raise ValueError(f"need at least two finite magnetisation samples, got {m.size}")
    a, m2, m4 = np.abs(m).mean(), (m * m).mean(), (m ** 4).mean()
    return {"abs_m": float(a), "chi": float(L * L * (m2 - a * a) / T),
            "binder": float(1 - m4 / (3 * m2 * m2)) if m2 > 0 else float("nan")}


def power_law_fit(L: Any, y: Any) -> dict[str, float]:
    """Least-squares fit of ``log y = a + b log L``: slope ``b``, its standard error (nan for two
    points) and R²."""
    x, v = np.log(np.asarray(L, dtype=np.float64)), np.asarray(y, dtype=np.float64)
    if x.shape != v.shape or x.size < 2:
        raise ValueError(f"need matching arrays of at least two sizes, got {x.shape} and {v.shape}")
    if not (v > 0).all() or not np.isfinite(v).all():
        raise ValueError(f"a power law needs finite positive values, got {v.tolist()}")
    v = np.log(v)
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    resid = v - A @ coef
    ss = float((v - v.mean()) @ (v - v.mean()))
    dof = x.size - 2
    se = math.sqrt(float(resid @ resid) / dof / float((x - x.mean()) @ (x - x.mean()))) if dof else float("nan")
    return {"slope": float(coef[1]), "slope_se": se,
            "r2": 1 - float(resid @ resid) / ss if ss > 0 else float("nan")}


def slope_in_T(T: Any, y: Any) -> float:
    """``dy/dT`` by a straight-line fit through the points ``(T, y)`` (≥ 2 temperatures)."""
    T, y = np.asarray(T, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if T.shape != y.shape or T.size < 2 or np.ptp(T) == 0:
        raise ValueError("need at least two distinct temperatures with one value each")
    return float(np.polyfit(T, y, 1)[0])


def crossing_temperature(T: Any, u_small: Any, u_large: Any) -> float:
    """Where two Binder curves on the same temperatures cross (linear interpolation of their
    difference; nan when they do not cross in the range)."""
    T = np.asarray(T, dtype=np.float64)
    d = np.asarray(u_large, dtype=np.float64) - np.asarray(u_small, dtype=np.float64)
    if T.shape != d.shape or T.size < 2:
        raise ValueError("need at least two temperatures with one value per curve")
    for k in range(T.size - 1):
        if d[k] == 0:
            return float(T[k])
        if d[k] * d[k + 1] < 0:
            return float(T[k] - d[k] * (T[k + 1] - T[k]) / (d[k + 1] - d[k]))
    return float(T[-1]) if d[-1] == 0 else float("nan")


def onsager_magnetisation(T: float) -> float:
    """Spontaneous magnetisation of the infinite lattice: (1 − sinh⁻⁴(2/T))^{1/8} below T_c, 0 above."""
    if T <= 0:
        raise ValueError(f"temperature must be > 0, got {T}")
    if T >= T_C:
        return 0.0
    return (1 - math.sinh(2 / T) ** -4) ** 0.125


# ---------------------------------------------------------------------- per-unit moments, bootstrap
def unit_moments(m: Any) -> np.ndarray:
    """Per-unit moments ``[n_units, 3]`` = (mean |m|, mean m², mean m⁴) of samples ``m [n_units,
    n_records]`` (one row per independent path or chain, every row the same length): the compact
    form that a saved run keeps, from which :func:`moments_from_units` recovers eq. (1) exactly and a
    bootstrap over the units gives intervals."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise ValueError(f"need samples [n_units, n_records], got shape {m.shape}")
    return np.stack([np.abs(m).mean(axis=1), (m * m).mean(axis=1), (m ** 4).mean(axis=1)], axis=1)


def moments_from_units(u: Any, L: int, T: float) -> dict[str, Any]:
    """⟨|M|⟩, χ and U of eq. (1) from per-unit moments ``[..., n_units, 3]`` (pooled over the units;
    leading axes, e.g. bootstrap replicates, are kept)."""
    a, m2, m4 = np.moveaxis(np.asarray(u, dtype=np.float64).mean(axis=-2), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        binder = np.where(m2 > 0, 1 - m4 / (3 * m2 * m2), np.nan)
    return {"abs_m": a, "chi": L * L * (m2 - a * a) / T, "binder": binder}


def resampled_units(u: Any, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap resamples (with replacement) of the units ``[n_units, 3]`` → their
    means ``[n_boot, 1, 3]`` (the shape :func:`moments_from_units` takes)."""
    u = np.asarray(u, dtype=np.float64)
    idx = rng.integers(0, len(u), (n_boot, len(u)))
    return u[idx].mean(axis=1, keepdims=True)


def slopes(x: Any, y: Any) -> np.ndarray:
    """Least-squares slopes of ``y [..., n]`` against ``x [n]`` (vectorised over leading axes)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean()
    return ((y - y.mean(axis=-1, keepdims=True)) * xc).sum(axis=-1) / (xc @ xc)
