r"""An SDE conditioned on fixed parameters (e.g. temperature), as a :class:`~.sde.LatentSDE` on the
augmented state (z, c) whose parameter coordinates c never move:

    dz = μ(z, c) dt + σ(z, c) dW,   dc = 0.

The drift and diffusion modules below output zero rows for c, so Euler–Maruyama keeps c exactly,
and the loss L_p sees zero residuals there (their ε-regularised variance only adds a constant to
log det Σ). Paper 2's alloy model embeds T the same way (an input of drift and diffusion).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..nets import mlp
from .sde import LatentSDE, _lower_factor, _tri_init, inverse_softplus


class ConditionedDrift(nn.Module):
    """μ(z, c) for the first ``dim`` coordinates (MLP of all ``dim + n_cond``), 0 for c."""

    def __init__(self, dim: int, n_cond: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.dim, self.n_cond = int(dim), int(n_cond)
        self.net = mlp([self.dim + self.n_cond, *hidden, self.dim], "relu", xavier=False)

    def forward(self, zc: torch.Tensor) -> torch.Tensor:
        mu = self.net(zc)
        return torch.cat([mu, torch.zeros_like(zc[:, self.dim:])], dim=1)


class ConditionedDiffusion(nn.Module):
    """σ(z, c): a lower-triangular ``dim × dim`` factor with a positive diagonal (softplus + floor),
    output by an MLP of (z, c), padded with zero rows and columns for c. Starts at ``init_scale``·I."""

    def __init__(self, dim: int, n_cond: int, hidden: Sequence[int] = (64, 64),
                 init_scale: float = 1.0, min_scale: float = 1e-5) -> None:
        super().__init__()
        self.dim, self.n_cond, self.min_scale = int(dim), int(n_cond), float(min_scale)
        self.net = mlp([self.dim + self.n_cond, *hidden, self.dim * (self.dim + 1) // 2], "relu",
                       xavier=False)
        with torch.no_grad():
            self.net[-1].weight.zero_()
            self.net[-1].bias.copy_(_tri_init(self.dim, inverse_softplus(init_scale - min_scale)))

    def forward(self, zc: torch.Tensor) -> torch.Tensor:
        s = _lower_factor(self.net(zc), self.dim, self.min_scale)
        out = torch.zeros(zc.shape[0], zc.shape[1], zc.shape[1], dtype=s.dtype, device=s.device)
        out[:, :self.dim, :self.dim] = s
        return out


class AffineDrift(nn.Module):
    """μ(z, c) = W(c) z + b(c) for the first ``dim`` coordinates, 0 for c: a drift affine in the
    state whose coefficients depend on the parameters through an MLP (an Ornstein–Uhlenbeck
    process per parameter value). Few coefficients per c, so it can be estimated from increments
    whose drift is far below their noise, where a general MLP drift over-fits."""

    def __init__(self, dim: int, n_cond: int, hidden: Sequence[int] = (32,)) -> None:
        super().__init__()
        self.dim, self.n_cond = int(dim), int(n_cond)
        self.net = mlp([self.n_cond, *hidden, self.dim * self.dim + self.dim], "relu", xavier=False)
        with torch.no_grad():
            self.net[-1].weight.mul_(0.1)
            self.net[-1].bias.zero_()

    def forward(self, zc: torch.Tensor) -> torch.Tensor:
        z, c = zc[:, :self.dim], zc[:, self.dim:]
        coef = self.net(c)
        W = coef[:, :self.dim * self.dim].reshape(-1, self.dim, self.dim)
        mu = (W @ z.unsqueeze(-1)).squeeze(-1) + coef[:, self.dim * self.dim:]
        return torch.cat([mu, torch.zeros_like(c)], dim=1)


def conditioned_sde(dim: int, n_cond: int, hidden: Sequence[int] = (64, 64),
                    init_scale: float = 1.0, drift: str = "mlp",
                    drift_hidden: Sequence[int] = (32,)) -> LatentSDE:
    """A :class:`LatentSDE` on (z, c) with c fixed (see the module doc); ``drift``: ``"mlp"``
    (:class:`ConditionedDrift`) or ``"affine"`` (:class:`AffineDrift`)."""
    if n_cond < 1:
        raise ValueError(f"n_cond must be >= 1, got {n_cond}")
    if drift not in ("mlp", "affine"):
        raise ValueError(f"drift must be 'mlp' or 'affine', got {drift!r}")
    mu = (ConditionedDrift(dim, n_cond, hidden) if drift == "mlp"
          else AffineDrift(dim, n_cond, drift_hidden))
    return LatentSDE(dim + n_cond, drift=mu, diffusion=ConditionedDiffusion(dim, n_cond, hidden, init_scale))
