r"""Random subsets I of force units, with the weights that keep L_x,p unbiased.

Uniform subsets: ``m = round(p · n_units)`` units drawn **without replacement** (the official
predator–prey and Allen–Cahn code drew with replacement; we do not).

Non-uniform subsets: randomised systematic πps sampling. Given target inclusion probabilities
π_i (Σ π_i = m, each π_i ≤ 1), shuffle the units, lay the π_i end to end on [0, m), draw one
u ~ U[0, 1) and take the units whose interval contains u, u + 1, …, u + m − 1. Exactly m distinct
units are drawn and unit i is included with probability exactly π_i. The Horvitz–Thompson weights

.. math::  w_i = \frac{m}{N_u\,\pi_i}

make the mean of ``w_i r_i²`` over I an unbiased estimator of the per-unit mean
:math:`\frac1{N_u}\sum_i r_i^2`, since :math:`E[\sum_{i\in I} r_i^2/\pi_i] = \sum_i r_i^2`.
For uniform π_i = m/N_u all weights are 1.
"""

from __future__ import annotations

import math

import torch

from .validation import check_finite, check_fraction


def subset_size(n_units: int, p: float) -> int:
    """m = round(p · n_units), at least 1."""
    p = check_fraction(p)
    if n_units <= 0:
        raise ValueError(f"n_units must be positive, got {n_units}")
    return max(1, int(round(p * n_units)))


def uniform_subsets(n_configs: int, n_units: int, p: float,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """``[n_configs, m]`` unit indices, each row drawn uniformly without replacement."""
    m = subset_size(n_units, p)
    if m == n_units:
        return torch.arange(n_units).expand(n_configs, -1).clone()
    keys = torch.rand(n_configs, n_units, generator=generator)
    return keys.argsort(dim=1)[:, :m].sort(dim=1).values


def inclusion_probabilities(scores: torch.Tensor, m: int) -> torch.Tensor:
    """π_i ∝ scores_i with Σ π_i = m and π_i ≤ 1 (capped units get π = 1, the rest rescaled).

    ``scores`` is ``[n_units]`` or ``[B, n_units]``, non-negative with at least m positive entries.
    """
    check_finite("scores", scores)
    if (scores < 0).any():
        raise ValueError("scores must be non-negative")
    s = scores.double().clone()
    if s.dim() == 1:
        s = s.unsqueeze(0)
    if ((s > 0).sum(dim=1) < m).any():
        raise ValueError(f"need at least m = {m} units with positive score in every row")
    pi = torch.zeros_like(s)
    capped = torch.zeros_like(s, dtype=torch.bool)
    for _ in range(s.shape[1]):
        free = ~capped
        budget = m - capped.sum(dim=1, keepdim=True)
        denom = (s * free).sum(dim=1, keepdim=True)
        pi = torch.where(capped, torch.ones_like(s), s * budget / denom)
        newly = (pi > 1) & free
        if not newly.any():
            break
        capped |= newly
    pi = pi.clamp(max=1.0)
    return pi.squeeze(0) if scores.dim() == 1 else pi


def systematic_pps(pi: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``[B, m]`` units with exact inclusion probabilities ``pi [B, n_units]`` (Σ_i π_i = m)."""
    if pi.dim() != 2:
        raise ValueError("pi must be [B, n_units]")
    totals = pi.sum(dim=1)
    m = int(round(totals[0].item()))
    if m < 1 or not torch.allclose(totals, torch.full_like(totals, m), atol=1e-6):
        raise ValueError(f"each row of pi must sum to the same integer m >= 1, got {totals.tolist()[:4]}")
    if (pi > 1 + 1e-9).any() or (pi < 0).any():
        raise ValueError("inclusion probabilities must lie in [0, 1]")
    B, n = pi.shape
    order = torch.rand(B, n, generator=generator).argsort(dim=1)
    cum = torch.cumsum(pi.gather(1, order), dim=1)
    u = torch.rand(B, 1, generator=generator, dtype=cum.dtype) + torch.arange(m, dtype=cum.dtype)
    pos = torch.searchsorted(cum, u.clamp(max=cum[:, -1:] - 1e-12), right=True).clamp(max=n - 1)
    units = order.gather(1, pos)
    return units.sort(dim=1).values


def importance_subsets(scores: torch.Tensor, p: float, n_configs: int | None = None,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-uniform subsets: returns ``(units [B, m], weights [B, m])`` with HT weights m/(N π_i)."""
    n_units = scores.shape[-1]
    m = subset_size(n_units, p)
    s = scores if scores.dim() == 2 else scores.expand(n_configs or 1, -1)
    pi = inclusion_probabilities(s, m)
    units = systematic_pps(pi, generator)
    weights = m / (n_units * pi.gather(1, units))
    return units, weights.to(torch.get_default_dtype())


def expected_distinct(n_units: int, m: int) -> float:
    """Expected number of distinct units among m draws *with* replacement (for the book's remark)."""
    return n_units * (1 - (1 - 1 / n_units) ** m) if n_units > 0 else math.nan
