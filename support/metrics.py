"""Metrics: relative trajectory error, mean ± std over seeds, budget to tolerance, MMD."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .validation import check_finite


def relative_trajectory_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Paper 1's error per trajectory: e_j = Σ_t ‖ẑ*_t − z*_t‖₂ / Σ_t ‖z*_t‖₂.

    Args:
        pred, true: ``[n_traj, T, k]`` (observables only). Returns ``[n_traj]``.
    """
    if pred.shape != true.shape or pred.dim() != 3:
        raise ValueError(f"pred and true must both be [n_traj, T, k]; got {list(pred.shape)} "
                         f"and {list(true.shape)}")
    check_finite("true", true)
    if not torch.isfinite(pred).all():          # a diverged rollout is an infinite error
        return torch.full((pred.shape[0],), float("inf"), dtype=pred.dtype)
    num = (pred - true).norm(dim=-1).sum(dim=1)
    den = true.norm(dim=-1).sum(dim=1)
    return num / den


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std (ddof = 0, as in the paper's tables); ``(inf, inf)`` when a value is
    infinite (a diverged model), NaN only when a value is NaN."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        raise ValueError("mean_std of an empty sequence")
    if np.isinf(a).any() and not np.isnan(a).any():
        return float(a.mean()), float("inf")
    return float(a.mean()), float(a.std())


def _first_crossing(budgets: Sequence[float], errors: Sequence[float],
                    tol: float) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Budgets and errors sorted by budget, and the index of the first error at or below ``tol``
    (None if there is none)."""
    b = np.asarray(budgets, dtype=float)
    e = np.asarray(errors, dtype=float)
    if b.shape != e.shape or b.size == 0:
        raise ValueError("budgets and errors must be non-empty and of equal length")
    if tol <= 0:
        raise ValueError("tol must be positive")
    order = np.argsort(b)
    b, e = b[order], e[order]
    below = np.nonzero(e <= tol)[0]
    return b, e, (int(below[0]) if below.size else None)


def budget_to_tolerance(budgets: Sequence[float], errors: Sequence[float], tol: float) -> float:
    """The force budget at which an error curve first reaches ``tol``.

    Interpolates linearly in log–log coordinates between the last budget above ``tol`` and the first
    one at or below it. Returns ``inf`` if the curve never reaches ``tol``, the first budget if
    it starts below, and the first budget at or below ``tol`` if the error just before it is
    infinite (a diverged model: there is nothing to interpolate from).
    """
    b, e, i = _first_crossing(budgets, errors, tol)
    if i is None:
        return float("inf")
    if i == 0 or not np.isfinite(e[i - 1]):
        return float(b[i])
    return log_log_interpolate(e[i - 1], e[i], b[i - 1], b[i], tol)


def log_log_interpolate(x0: float, x1: float, y0: float, y1: float, x: float) -> float:
    """y at ``x`` on the straight line through (x0, y0) and (x1, y1) in log–log coordinates:
    log y = log y0 + (log x − log x0) / (log x1 − log x0) · (log y1 − log y0). All values positive."""
    frac = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return math.exp(math.log(y0) + frac * (math.log(y1) - math.log(y0)))


def read_curve(budgets: Sequence[float], errors: Sequence[float], at: Sequence[float]) -> list[float] | None:
    """A curve (``budgets`` ascending, ``errors``) read at the budgets ``at`` inside its range: its
    own error where it has that budget, else :func:`log_log_interpolate` between the two around it.
    None if a point it needs is not a finite positive error (points it does not need may be
    anything, including null for a diverged model)."""
    b = [float(x) for x in budgets]
    e = [math.nan if m is None else float(m) for m in errors]
    out = []
    for x in at:
        k = int(np.searchsorted(b, x))
        points = [k] if b[k] == x else [k - 1, k]
        if not all(math.isfinite(e[q]) and e[q] > 0 for q in points):
            return None
        out.append(e[k] if len(points) == 1 else log_log_interpolate(b[k - 1], b[k], e[k - 1], e[k], x))
    return out


def budget_to_tolerance_bounds(budgets: Sequence[float], errors: Sequence[float],
                               tol: float) -> tuple[float, float]:
    """An interval ``(lo, hi)`` that holds the budget at which an error curve reaches ``tol``.

    A swept curve pins that budget only when it crosses ``tol`` between two finite errors:
    ``(b*, b*)`` with b* from :func:`budget_to_tolerance`. A curve already at or below ``tol`` at its
    smallest budget b₁ only bounds it from above, ``(0, b₁)``; one that never reaches it only from
    below, ``(b_n, inf)``; one whose error is infinite (a diverged model) just before it falls
    below ``tol`` only to the step between those two budgets. Ratios of censored budgets are then
    bounds as well (:func:`ratio_bounds`), never point values.
    """
    b, e, i = _first_crossing(budgets, errors, tol)
    if i is None:
        return float(b[-1]), float("inf")
    if i == 0:
        return 0.0, float(b[0])
    if not np.isfinite(e[i - 1]):
        return float(b[i - 1]), float(b[i])
    x = log_log_interpolate(e[i - 1], e[i], b[i - 1], b[i], tol)
    return x, x


def curve_budget_bounds(curve: Mapping, tol: float | None = None) -> tuple[float, float]:
    """:func:`budget_to_tolerance_bounds` of a summarised error curve (``budgets``, ``mean`` and, if
    ``tol`` is not given, ``tol``; see :func:`support.studies.summarise`). A mean saved as null
    (JSON has no inf: a diverged model) counts as infinite."""
    means = [math.inf if m is None else m for m in curve["mean"]]
    return budget_to_tolerance_bounds(curve["budgets"], means, curve["tol"] if tol is None else tol)


def is_pinned(bounds: tuple[float, float]) -> bool:
    """Whether bounds from :func:`budget_to_tolerance_bounds` are a value (finite, positive)."""
    lo, hi = bounds
    return lo == hi and 0 < lo < math.inf


def exceeds(a: tuple[float, float], b: tuple[float, float], factor: float = 1.0) -> bool | None:
    """Whether x > factor · y for every x in the interval ``a`` and y in ``b`` (True), for none
    (False), or for some only (None: censored bounds leave it undecided)."""
    if a[0] > factor * b[1]:
        return True
    if a[1] <= factor * b[0]:
        return False
    return None


def all_of(*verdicts: bool | None) -> bool | None:
    """Conjunction of three-valued verdicts: False if any is False, else None if any is undecided."""
    return False if False in verdicts else (None if None in verdicts else True)


def ratio_bounds(num: tuple[float, float], den: tuple[float, float]) -> tuple[float, float]:
    """Bounds on x / y for x in ``num`` = (lo, hi) and y in ``den`` (all non-negative, y > 0):
    (num_lo / den_hi, num_hi / den_lo), with 0 and inf where a bound is open."""
    (a_lo, a_hi), (b_lo, b_hi) = num, den
    if any(math.isnan(x) for x in (*num, *den)) or min(a_lo, b_lo) < 0 or a_lo > a_hi or b_lo > b_hi \
            or b_hi == 0:
        raise ValueError(f"bounds must be non-negative intervals, the second not (0, 0); got {num} and {den}")
    lo = 0.0 if b_hi == float("inf") else a_lo / b_hi
    hi = float("inf") if b_lo == 0 else a_hi / b_lo
    return lo, hi


def format_bounds(bounds: tuple[float, float],
                  fmt: Callable[[float], str] = lambda x: f"{float(f'{x:.3g}'):,.0f}") -> str:
    """``(lo, hi)`` from :func:`budget_to_tolerance_bounds` or :func:`ratio_bounds` for a table:
    the value when pinned, '≤ hi' or '> lo' when censored on one side, 'lo … hi' when known to lie
    between two budgets, '—' when open on both. The default ``fmt`` is for force budgets (3
    significant digits, whole numbers); pass one for ratios."""
    lo, hi = bounds
    if lo == hi:
        return fmt(lo)
    if lo > 0 and hi == float("inf"):
        return f"> {fmt(lo)}"
    if lo == 0 and hi < float("inf"):
        return f"≤ {fmt(hi)}"
    return f"{fmt(lo)} … {fmt(hi)}" if lo > 0 else "—"


def mmd2(x: torch.Tensor, y: torch.Tensor,
         bandwidths: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)) -> torch.Tensor:
    """Squared maximum mean discrepancy between samples ``x [n, d]`` and ``y [m, d]``.

    Biased V-statistic with a Gaussian kernel k(a, b) = exp(−‖a − b‖² / (2 s²)) averaged over the
    bandwidths ``s`` (paper 2): MMD² = mean k(x, x) + mean k(y, y) − 2 mean k(x, y).
    Leading batch dimensions are allowed: ``x [..., n, d]``, ``y [..., m, d]``.
    """
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must share the feature dimension, got {x.shape} and {y.shape}")

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)
        return torch.stack([torch.exp(-d2 / (2 * s * s)) for s in bandwidths]).mean(0)

    return (k(x, x).mean((-1, -2)) + k(y, y).mean((-1, -2)) - 2 * k(x, y).mean((-1, -2))).clamp_min(0)
