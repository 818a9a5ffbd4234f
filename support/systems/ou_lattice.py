"""Exactly solvable toy for paper 2's theory: a lattice of Ornstein–Uhlenbeck sites.

Microscopic model (n = K · n_s sites, 1-D, K patches of n_s sites)::

    dx_i = −θ x_i dt + s dW_i,      Corr(dW_i, dW_j) = ρ  (i ≠ j),   dW_i = √ρ dB₀ + √(1−ρ) dB_i

With ρ = 0 the patches are independent OU processes and the patch mean y_J = mean_{i∈J} x_i obeys
dy = −θ y dt + s_p dW with s_p² = s²/n_s. The macroscopic observable z = mean of all sites =
mean_J y_J obeys exactly

    dz = −θ z dt + σ_large dW,      σ_large² = s² (ρ + (1−ρ)/n)            (= s_p²/K for ρ = 0)

A patch-mean increment has variance rate σ_patch² = s² (ρ + (1−ρ)/n_s); two different patches'
increments are correlated with ρ_p = ρ / (ρ + (1−ρ)/n_s). The partial target's covariance is
σ_patch² δt, so the λ that makes L_p return σ_large² is

    λ* = σ_patch² / σ_large² = K / (1 + (K − 1) ρ_p)                    (= K for ρ = 0)

Transitions are sampled exactly (x ← e^{−θδt} x + s √((1 − e^{−2θδt})/(2θ)) ξ), so the only
discretisation effect in a fit is the O(θδt) difference between the exact transition moments and
the Euler–Maruyama likelihood. The common noise B₀ of the correlated variant is drawn once per
patch evolution (it is what the patch's own sites feel). Halo 0: sites do not interact.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .stochastic_base import StepResult, StochasticSystem, randn


class OULattice(StochasticSystem):
    """Independent (ρ = 0) or equicorrelated OU sites; state ``[B, 1, n]``; φ* = site mean."""

    name = "ou_lattice"
    channels = 1
    spatial_dims = 1
    halo = 0
    boundary = "periodic"
    cost_kind = "site_updates"

    def __init__(self, theta: float = 1.0, site_noise: float = 1.0, rho: float = 0.0,
                 dt: float = 0.01) -> None:
        if not theta > 0 or not site_noise > 0 or not dt > 0:
            raise ValueError(f"need theta, site_noise, dt > 0; got {theta}, {site_noise}, {dt}")
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must lie in [0, 1), got {rho}")
        self.theta, self.site_noise = float(theta), float(site_noise)
        self.rho, self.dt = float(rho), float(dt)

    @classmethod
    def from_patch_noise(cls, patch_noise: float, patch_sites: int, theta: float = 1.0,
                         dt: float = 0.01) -> "OULattice":
        """Independent sites whose patch mean (n_s sites) has noise ``patch_noise`` (ρ = 0)."""
        return cls(theta=theta, site_noise=patch_noise * math.sqrt(patch_sites), dt=dt)

    @property
    def n_observables(self) -> int:
        return 1

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """z = mean over sites ``[B, 1]`` (exactly patch-additive)."""
        return x.flatten(1).mean(dim=1, keepdim=True)

    def _advance(self, x: torch.Tensor, n_steps: int, generator: torch.Generator) -> torch.Tensor:
        a = math.exp(-self.theta * self.dt)
        c = self.site_noise * math.sqrt(-math.expm1(-2 * self.theta * self.dt) / (2 * self.theta))
        for _ in range(n_steps):
            common = randn((x.shape[0],) + (1,) * (x.dim() - 1), generator, x)
            own = randn(x.shape, generator, x)
            x = a * x + c * (math.sqrt(self.rho) * common + math.sqrt(1 - self.rho) * own)
        return x

    def _result(self, x: torch.Tensor, n_steps: int) -> StepResult:
        dt = torch.full((x.shape[0],), n_steps * self.dt, dtype=x.dtype, device=x.device)
        return StepResult(x, dt, math.prod(x.shape[2:]) * x.shape[0] * n_steps)

    def step(self, x: torch.Tensor, generator: torch.Generator) -> StepResult:
        return self._result(self._advance(x, 1, generator), 1)

    def evolve_patch(self, window: torch.Tensor, n_steps: int, generator: torch.Generator,
                     context: Any = None) -> StepResult:
        return self._result(self._advance(window, n_steps, generator), n_steps)

    def stationary_sample(self, n: int, n_sites: int, generator: torch.Generator,
                          dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Exact draws ``[n, 1, n_sites]`` from the stationary law (variance s²/(2θ), correlation ρ)."""
        like = torch.empty(0, dtype=dtype)
        scale = self.site_noise / math.sqrt(2 * self.theta)
        common = randn((n, 1, 1), generator, like)
        own = randn((n, 1, n_sites), generator, like)
        return scale * (math.sqrt(self.rho) * common + math.sqrt(1 - self.rho) * own)


# ---------------------------------------------------------------------- exact formulas
def exact_drift(z: torch.Tensor, theta: float) -> torch.Tensor:
    """μ(z) = −θ z (for the mean of any number of sites)."""
    return -theta * z


def mean_variance_rate(site_noise: float, n_sites: int, rho: float = 0.0) -> float:
    """Variance rate of the mean of ``n_sites`` sites: s² (ρ + (1 − ρ)/n_sites)."""
    return site_noise ** 2 * (rho + (1 - rho) / n_sites)


def large_system_diffusion(site_noise: float, n_patches: int, patch_sites: int,
                           rho: float = 0.0) -> float:
    """σ_large² of z = mean over all n = K n_s sites."""
    return mean_variance_rate(site_noise, n_patches * patch_sites, rho)


def patch_diffusion(site_noise: float, patch_sites: int, rho: float = 0.0) -> float:
    """σ_patch², the variance rate of one patch mean (what the partial target sees)."""
    return mean_variance_rate(site_noise, patch_sites, rho)


def patch_correlation(rho: float, patch_sites: int) -> float:
    """ρ_p, the correlation of two different patch-mean increments: ρ / (ρ + (1 − ρ)/n_s)."""
    return rho / (rho + (1 - rho) / patch_sites)


def exact_lambda(n_patches: int, patch_rho: float = 0.0) -> float:
    """λ* = K / (1 + (K − 1) ρ_p): the loss factor that returns σ_large² (K when independent)."""
    return n_patches / (1 + (n_patches - 1) * patch_rho)


def increment_moments(z: torch.Tensor, theta: float, dt: float,
                      variance_rate: float) -> tuple[torch.Tensor, float]:
    """Exact mean and variance of an OU increment over δt: ((e^{−θδt} − 1) z, r (1 − e^{−2θδt})/(2θ))."""
    return math.expm1(-theta * dt) * z, variance_rate * -math.expm1(-2 * theta * dt) / (2 * theta)


def stationary_variance(variance_rate: float, theta: float) -> float:
    """Stationary variance of an OU process with the given variance rate: r / (2θ)."""
    return variance_rate / (2 * theta)
