"""Metrics: relative trajectory error, mean ± std over seeds, budget to tolerance, MMD."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .validation import check_finite
from .uncertainty import Estimate, t975


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


# ----------------------------------------------------------------------------- seed spread of a swept curve
def _seed_logs(curve: Mapping) -> list[np.ndarray]:
    """log error of every seed at every budget of a summarised curve (``per_seed``, keyed by the budget
    as text; null, a diverged model, is +inf)."""
    out = []
    for b in curve["budgets"]:
        errors = curve["per_seed"][str(b)]
        out.append(np.log(np.array([math.inf if e is None else float(e) for e in errors], float)))
    return out


def pooled_log_spread(curve: Mapping) -> tuple[float, int, int] | None:
    """The seed-to-seed spread of a swept curve's log error, pooled over its budgets: ``(s, dof,
    n_seeds)`` with s² = Σ_b Σ_k (ℓ_bk − ℓ̄_b)² / Σ_b (n_b − 1) over the budgets where every seed is
    finite. Each budget is its own set of models, so every budget adds n_b − 1 degrees of freedom;
    pooling assumes the spread of log error between seeds does not change along the curve. None with
    fewer than two seeds (no spread to measure)."""
    logs = [x for x in _seed_logs(curve) if len(x) >= 2 and np.isfinite(x).all()]
    dof = sum(len(x) - 1 for x in logs)
    if dof < 1:
        return None
    ss = sum(float(((x - x.mean()) ** 2).sum()) for x in logs)
    return math.sqrt(ss / dof), dof, max(len(x) for x in logs)


def curve_log_estimate(curve: Mapping, index: int,
                       spread: tuple[float, int, int] | None = None) -> "Estimate | None":
    """The curve's mean log error at its ``index``-th budget (the log of the geometric mean over the
    seeds) with a t-interval from :func:`pooled_log_spread`; None without a spread or where a seed
    diverged. ``spread``: :func:`pooled_log_spread` of the curve, when the caller has it already."""
    spread = pooled_log_spread(curve) if spread is None else spread
    logs = _seed_logs(curve)[index]
    if spread is None or not np.isfinite(logs).all():
        return None
    s, dof, _ = spread
    mean, half = float(logs.mean()), t975(dof) * s / math.sqrt(len(logs))
    return Estimate(mean, mean - half, mean + half,
                    f"log of the geometric mean over {len(logs)} seeds ± t·s/√n, s pooled over the curve's "
                    f"budgets ({dof} dof)")


def seed_band(curve: Mapping, pooled: bool = True) -> tuple[list[float], list[float]] | None:
    """Lower and upper ends of the ≈ 95 % interval of the (geometric) mean error at every budget
    (+inf where a seed diverged). ``pooled``: the seed spread pooled over the curve's budgets
    (:func:`curve_log_estimate`); otherwise each budget's own t-interval over its seeds. None without
    a seed spread (fewer than two seeds somewhere, unpooled)."""
    if pooled:
        spread = pooled_log_spread(curve)
        if spread is None:
            return None
        band = [curve_log_estimate(curve, k, spread) for k in range(len(curve["budgets"]))]
    else:
        per_seed = curve.get("per_seed", {})
        logs = [np.log([math.inf if e is None else float(e) for e in per_seed.get(str(b), [])])
                for b in curve["budgets"]]
        if any(len(x) < 2 for x in logs):
            return None
        band = [Estimate.of_samples(x) if np.isfinite(x).all() else None for x in logs]
    return ([math.inf if e is None else math.exp(e.lo) for e in band],
            [math.inf if e is None else math.exp(e.hi) for e in band])


def curve_budget_interval(curve: Mapping, tol: float | None = None, *,
                          pooled: bool = True) -> tuple[float, float]:
    """Bounds on the budget at which a swept curve reaches ``tol`` that hold both the censoring of
    the sweep and the spread between seeds: the union of :func:`curve_budget_bounds` (the mean curve)
    and the budgets where the ends of the seed band (:func:`seed_band`, ``pooled`` or per budget)
    reach ``tol`` — the lower end gives the earliest budget the seeds allow, the upper end the latest.
    With one seed it is :func:`curve_budget_bounds`."""
    tol = curve["tol"] if tol is None else tol
    lo, hi = curve_budget_bounds(curve, tol)
    band = seed_band(curve, pooled) if "per_seed" in curve else None
    if band is None:
        return lo, hi
    early = budget_to_tolerance_bounds(curve["budgets"], band[0], tol)
    late = budget_to_tolerance_bounds(curve["budgets"], band[1], tol)
    return min(lo, early[0]), max(hi, late[1])


def reaches(bounds: tuple[float, float], budgets: Sequence[float]) -> bool | None:
    """Whether a curve reaches its tolerance within its ``budgets``, from bounds such as
    :func:`curve_budget_interval`: True when even the latest budget the interval allows is finite,
    False when even the earliest lies beyond the largest budget swept, else None."""
    lo, hi = bounds
    if hi < math.inf:
        return True
    return False if lo >= max(budgets) else None


def equal_budget_log_ratio(lz: Mapping, lx: Mapping) -> "Estimate | None":
    """log of e(L_z) / e(L_x,p) at equal force budgets, averaged over every budget of either sweep
    inside the range both cover, each curve read there by log–log interpolation of its geometric
    mean over the seeds; with a t-interval from the two curves' pooled seed spreads
    (:func:`pooled_log_spread`; the average is linear in the per-budget mean logs, whose errors are
    independent: every budget is its own set of models; Welch–Satterthwaite degrees of freedom).
    > 0: L_x,p more accurate per force. None without a seed spread, a common range, or where a point
    it needs diverged."""
    lo, hi = max(min(lz["budgets"]), min(lx["budgets"])), min(max(lz["budgets"]), max(lx["budgets"]))
    common = np.log(sorted({float(b) for b in [*lz["budgets"], *lx["budgets"]] if lo <= b <= hi}))
    spreads = [pooled_log_spread(c) for c in (lz, lx)]
    if len(common) == 0 or None in spreads:
        return None
    parts = []
    for curve, (s, dof, _) in zip((lz, lx), spreads):
        logs = _seed_logs(curve)
        xb = np.log(np.asarray(curve["budgets"], float))
        eye = np.eye(len(logs))
        weights = np.array([np.interp(common, xb, eye[i]).mean() for i in range(len(logs))])
        used = weights > 0
        if not all(np.isfinite(logs[i]).all() for i in np.nonzero(used)[0]):
            return None
        means = np.array([x.mean() if np.isfinite(x).all() else 0.0 for x in logs])
        n = np.array([len(x) for x in logs], float)
        parts.append((float(weights @ means), s * s * float((weights[used] ** 2 / n[used]).sum()), dof))
    (mz, vz, dz), (mx, vx, dx) = parts
    value, var = mz - mx, vz + vx
    dof = max(1, int(var ** 2 / (vz ** 2 / dz + vx ** 2 / dx))) if var > 0 else min(dz, dx)
    half = t975(dof) * math.sqrt(var)
    return Estimate(value, value - half, value + half,
                    f"geometric means over the seeds, ± t·s.e. from the seed spreads pooled over the budgets "
                    f"({dof} dof)")
