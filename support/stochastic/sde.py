"""Latent SDE dz = μ(z) dt + σ(z) dW and the partial-evolution loss L_p (paper 2).

Loss, for pairs (z₀, ẑ₁, δt) with per-sample δt::

    r   = ẑ₁ − z₀ − μ(z₀) δt
    Σ   = λ σ(z₀) σ(z₀)ᵀ δt + ε I
    L_p = mean over the batch of  rᵀ Σ⁻¹ r + log det Σ

(the Gaussian negative log-likelihood without the ½ and the constant, as in the paper). Only the
covariance carries λ: λ = K for the partial target, λ = 1 for the naive baseline. Σ⁻¹r and
log det Σ come from a Cholesky factor computed in float64 (no explicit inverse), so ε can be
far below the per-step variance. The official ε = 1e-5 is not negligible there: the per-step
variance of the standardised predator–prey observables (ū, v̄) under partial evolution is
≈ 2–3e-4 (measured, 200 cells, K = 5), so ε would bias σ² low by ≈ 5 %.

Diffusion modes — σσᵀ is positive definite *by construction* in every mode:

* ``"full"``: σ(z) lower triangular with a positive diagonal (softplus + σ_min, σ_min = 1e-5 by
  default), i.e. a Cholesky factor output by an MLP (d(d+1)/2 outputs). The official
  ``arbitrary`` mode outputs an unconstrained d×d matrix, whose σσᵀ is only semi-definite
  (singular whenever the rows are dependent) and which has d(d−1)/2 redundant rotational degrees
  of freedom (σ and σQ give the same law for any orthogonal Q); the Cholesky form fixes both.
* ``"diagonal"``: σ(z) = diag(softplus(MLP(z)) + σ_min).
* ``"constant_diagonal"``: σ = diag(softplus(θ) + σ_min), θ ∈ R^d.
* ``"constant"``: σ = a constant lower-triangular factor with a softplus diagonal.

Normalisation: the model works in standardised coordinates zₙ = (z − m)/s, with ``m, s`` fitted
**once, on training z₀ only** (:meth:`LatentSDE.fit_normalisation`; :func:`train_sde` does it).
The official Ising code min–max scaled with *large-system validation* latents, a leak of
large-system information that this pipeline avoids. Public methods take and return physical z.

Time: δt is per sample and in the system's physical time (constant for the SPDE, random for
continuous-time Monte Carlo). A chapter that rescales time (e.g. by the mean training δt) must do
so with training data only, like the normalisation.

Drift: any ``nn.Module`` mapping ``[B, d] -> [B, d]`` in normalised coordinates (default MLP
d→64→64→64→d, ReLU). A drift that needs autograd inside (OnsagerNet's ∇V) must wrap its forward in
``torch.enable_grad()``, because :func:`support.rollout.euler_maruyama` runs under ``no_grad``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..nets import mlp
from ..rollout import euler_maruyama
from ..train import TrainConfig, TrainHistory, fit
from ..validation import check_choice, check_finite
from ..systems.stochastic_base import as_generator
from .encoder import LatentPairs

DIFFUSION_MODES = ("full", "diagonal", "constant_diagonal", "constant")
#: default variance floor ε of the loss (in normalised coordinates)
DEFAULT_EPS = 1e-8


def inverse_softplus(y: float) -> float:
    """x with softplus(x) = y (y > 0)."""
    if y <= 0:
        raise ValueError(f"softplus only takes positive values, got {y}")
    return y + math.log(-math.expm1(-y))


def _positive(raw: torch.Tensor, floor: float) -> torch.Tensor:
    """softplus(raw) + floor: positive even where softplus underflows to 0."""
    return F.softplus(raw) + floor


def _lower_factor(raw_tri: torch.Tensor, dim: int, floor: float) -> torch.Tensor:
    """``[..., d(d+1)/2] -> [..., d, d]`` lower-triangular with a positive (softplus) diagonal."""
    rows, cols = torch.tril_indices(dim, dim, device=raw_tri.device)
    on_diag = rows == cols
    vals = torch.where(on_diag, _positive(raw_tri, floor), raw_tri)
    out = raw_tri.new_zeros(*raw_tri.shape[:-1], dim, dim)
    out[..., rows, cols] = vals
    return out


def _tri_init(dim: int, diag_raw: float) -> torch.Tensor:
    """Packed lower-triangular raw entries: ``diag_raw`` on the diagonal, 0 elsewhere."""
    rows, cols = torch.tril_indices(dim, dim)
    return torch.where(rows == cols, diag_raw, 0.0)


class Diffusion(nn.Module):
    """σ(z) ``[B, d] -> [B, d, d]`` with σσᵀ positive definite by construction (see module doc).

    Diagonal entries are softplus(raw) + ``min_scale`` (the floor keeps σ invertible where
    softplus underflows in float32). The network modes start from the constant σ = init_scale·I
    (last layer: zero weights, bias at the softplus preimage).
    """

    def __init__(self, dim: int, mode: str = "full", hidden: Sequence[int] = (64, 64, 64),
                 init_scale: float = 1.0, min_scale: float = 1e-5) -> None:
        super().__init__()
        self.dim, self.mode = int(dim), check_choice("diffusion mode", mode, DIFFUSION_MODES)
        if not 0 <= min_scale < init_scale:
            raise ValueError(f"need 0 <= min_scale < init_scale, got {min_scale}, {init_scale}")
        self.min_scale = float(min_scale)
        diag_raw = inverse_softplus(init_scale - min_scale)
        n_out = {"full": self.dim * (self.dim + 1) // 2, "diagonal": self.dim}.get(mode)
        if n_out is not None:
            self.net = mlp([self.dim, *hidden, n_out], "relu", xavier=False)
            with torch.no_grad():
                self.net[-1].weight.zero_()
                self.net[-1].bias.copy_(_tri_init(self.dim, diag_raw) if mode == "full"
                                        else torch.full((self.dim,), diag_raw))
        elif mode == "constant_diagonal":
            self.raw = nn.Parameter(torch.full((self.dim,), diag_raw))
        else:
            self.raw = nn.Parameter(_tri_init(self.dim, diag_raw))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.mode == "full":
            return _lower_factor(self.net(z), self.dim, self.min_scale)
        if self.mode == "diagonal":
            return torch.diag_embed(_positive(self.net(z), self.min_scale))
        if self.mode == "constant_diagonal":
            sigma = torch.diag(_positive(self.raw, self.min_scale))
        else:
            sigma = _lower_factor(self.raw, self.dim, self.min_scale)
        return sigma.to(z.dtype).expand(z.shape[0], self.dim, self.dim)


class ZScaler(nn.Module):
    """Per-dimension standardisation zₙ = (z − mean)/std, fitted once (buffers, saved with the model)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted", torch.tensor(False))

    def fit(self, z: torch.Tensor) -> "ZScaler":
        check_finite("z", z)
        if z.dim() != 2 or z.shape[1] != self.mean.shape[0] or z.shape[0] < 2:
            raise ValueError(f"fit needs z of shape [N >= 2, {self.mean.shape[0]}], got {list(z.shape)}")
        std = z.std(dim=0, unbiased=False)
        constant = std <= 1e-12 * (1 + z.abs().amax(dim=0))
        if constant.any():
            raise ValueError(f"latent dimension(s) {torch.nonzero(constant).flatten().tolist()} "
                             "are constant over the training set: cannot standardise")
        self.mean.copy_(z.mean(dim=0))
        self.std.copy_(std)
        self.fitted.fill_(True)
        return self

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std

    def denormalize(self, zn: torch.Tensor) -> torch.Tensor:
        return zn * self.std + self.mean


def _per_sample_dt(dt: float | torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    dt = torch.as_tensor(dt, dtype=like.dtype, device=like.device)
    if dt.dim() == 0:
        dt = dt.expand(n)
    dt = dt.reshape(-1)
    if dt.shape[0] != n:
        raise ValueError(f"dt must be a scalar or have {n} entries, got {dt.shape[0]}")
    if not torch.isfinite(dt).all() or (dt <= 0).any():
        raise ValueError("dt must be finite and positive")
    return dt


def gaussian_increment_nll(z0: torch.Tensor, z1: torch.Tensor, dt: float | torch.Tensor,
                           mu: torch.Tensor, sigma: torch.Tensor, lam: float,
                           eps: float = DEFAULT_EPS) -> torch.Tensor:
    """L_p = mean[rᵀΣ⁻¹r + log det Σ], r = z₁ − z₀ − μ δt, Σ = λ σσᵀ δt + ε I (Cholesky, float64)."""
    if z0.shape != z1.shape or z0.dim() != 2 or mu.shape != z0.shape:
        raise ValueError(f"z0, z1, mu must share the shape [B, d]; got {list(z0.shape)}, "
                         f"{list(z1.shape)}, {list(mu.shape)}")
    B, d = z0.shape
    if sigma.shape != (B, d, d):
        raise ValueError(f"sigma must be [{B}, {d}, {d}], got {list(sigma.shape)}")
    if not lam > 0 or not eps >= 0:
        raise ValueError(f"need lam > 0 and eps >= 0, got lam={lam}, eps={eps}")
    dt = _per_sample_dt(dt, B, z0)
    r = (z1 - z0 - mu * dt[:, None]).double()
    s = sigma.double()
    cov = lam * dt.double()[:, None, None] * (s @ s.mT) + eps * torch.eye(d, dtype=torch.float64,
                                                                           device=z0.device)
    chol = torch.linalg.cholesky(cov)
    y = torch.linalg.solve_triangular(chol, r.unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return (y.square().sum(-1) + logdet).mean().to(z0.dtype)


class LatentSDE(nn.Module):
    """dz = μ(z) dt + σ(z) dW on a d-dimensional latent, learned in standardised coordinates.

    Args:
        dim: d.
        drift: μ in normalised coordinates (any module ``[B, d] -> [B, d]``); default MLP.
        diffusion: a mode name in ``DIFFUSION_MODES`` or a module returning σ ``[B, d, d]``.
        hidden: hidden widths of the default drift/diffusion MLPs.
        init_scale: initial σ (normalised units) of the built-in diffusion modes.
        min_scale: floor added to σ's diagonal (normalised units).
    """

    def __init__(self, dim: int, drift: nn.Module | None = None,
                 diffusion: str | nn.Module = "full", hidden: Sequence[int] = (64, 64, 64),
                 init_scale: float = 1.0, min_scale: float = 1e-5) -> None:
        super().__init__()
        self.dim = int(dim)
        self.drift_net = drift if drift is not None else mlp([self.dim, *hidden, self.dim], "relu", xavier=False)
        self.diffusion_net = (Diffusion(self.dim, diffusion, hidden, init_scale, min_scale)
                              if isinstance(diffusion, str) else diffusion)
        self.scaler = ZScaler(self.dim)

    # ------------------------------------------------------------------ normalisation
    def fit_normalisation(self, z_train: torch.Tensor) -> None:
        """Standardisation statistics from *training* latents only."""
        self.scaler.fit(z_train)

    def _check_z(self, name: str, z: torch.Tensor) -> torch.Tensor:
        check_finite(name, z)
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError(f"{name} must be [B, {self.dim}], got {list(z.shape)}")
        return z

    # ------------------------------------------------------------------ coefficients
    def drift(self, z: torch.Tensor) -> torch.Tensor:
        """μ(z) in physical units, ``std ⊙ μₙ(zₙ)``."""
        return self.drift_net(self.scaler.normalize(z)) * self.scaler.std

    def sigma(self, z: torch.Tensor) -> torch.Tensor:
        """σ(z) in physical units, ``diag(std) σₙ(zₙ)`` ``[B, d, d]``."""
        return self.scaler.std[:, None] * self.diffusion_net(self.scaler.normalize(z))

    def diffusion_matrix(self, z: torch.Tensor) -> torch.Tensor:
        """σσᵀ(z) in physical units ``[B, d, d]`` (the large-system diffusion when λ is right)."""
        s = self.sigma(z)
        return s @ s.mT

    # ------------------------------------------------------------------ loss and rollout
    def loss(self, z0: torch.Tensor, z1: torch.Tensor, dt: float | torch.Tensor, lam: float,
             eps: float = DEFAULT_EPS) -> torch.Tensor:
        """L_p on physical pairs (both normalised with the same fixed statistics)."""
        if not bool(self.scaler.fitted):
            raise RuntimeError("call fit_normalisation(z_train) before computing the loss")
        zn0, zn1 = self.scaler.normalize(z0), self.scaler.normalize(z1)
        return gaussian_increment_nll(zn0, zn1, dt, self.drift_net(zn0), self.diffusion_net(zn0),
                                      lam, eps)

    def simulate(self, z0: torch.Tensor, dt: float, n_steps: int,
                 generator: int | torch.Generator | None = None) -> torch.Tensor:
        """Euler–Maruyama ensemble from physical ``z0 [B, d]``: ``[B, n_steps + 1, d]`` (physical)."""
        self._check_z("z0", z0)
        if not dt > 0 or n_steps < 0:
            raise ValueError(f"need dt > 0 and n_steps >= 0, got {dt}, {n_steps}")
        gen = None if generator is None else as_generator(generator)
        was = self.training
        self.eval()
        zn = euler_maruyama(self.drift_net, self.diffusion_net, self.scaler.normalize(z0), dt,
                            n_steps, generator=gen)
        self.train(was)
        return self.scaler.denormalize(zn)


def train_sde(model: LatentSDE, pairs: LatentPairs, cfg: TrainConfig, *,
              lam: float | None = None, eps: float = DEFAULT_EPS) -> TrainHistory:
    """Minimise L_p over ``pairs`` with :func:`support.train.fit`.

    ``lam`` defaults to ``pairs.default_lambda`` (K for the partial target, 1 for the naive one).
    The normalisation is fitted on ``pairs.z0`` unless the model already has one.
    """
    for name in ("z0", "z1", "dt"):
        check_finite(f"pairs.{name}", getattr(pairs, name))
    lam = pairs.default_lambda if lam is None else float(lam)
    if not bool(model.scaler.fitted):
        model.fit_normalisation(pairs.z0)
    return fit(model, lambda m, b: m.loss(b[0], b[1], b[2], lam, eps),
               (pairs.z0, pairs.z1, pairs.dt), cfg)
