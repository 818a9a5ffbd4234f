"""Metrics: relative trajectory error, mean ± std over seeds, budget to tolerance, MMD."""

from __future__ import annotations

from collections.abc import Sequence

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


def budget_to_tolerance(budgets: Sequence[float], errors: Sequence[float], tol: float) -> float:
    """The force budget at which an error curve first reaches ``tol``.

    Interpolates linearly in log–log coordinates between the last budget above ``tol`` and the first
    one at or below it. Returns ``inf`` if the curve never reaches ``tol``, and the first budget if
    it starts below.
    """
    b = np.asarray(budgets, dtype=float)
    e = np.asarray(errors, dtype=float)
    if b.shape != e.shape or b.size == 0:
        raise ValueError("budgets and errors must be non-empty and of equal length")
    if tol <= 0:
        raise ValueError("tol must be positive")
    order = np.argsort(b)
    b, e = b[order], e[order]
    below = np.nonzero(e <= tol)[0]
    if below.size == 0:
        return float("inf")
    i = int(below[0])
    if i == 0:
        return float(b[0])
    lb0, lb1 = np.log(b[i - 1]), np.log(b[i])
    le0, le1 = np.log(e[i - 1]), np.log(e[i])
    frac = (np.log(tol) - le0) / (le1 - le0)
    return float(np.exp(lb0 + frac * (lb1 - lb0)))


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
