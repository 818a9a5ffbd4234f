"""GFINNs: GENERIC-formalism informed latent vector field with the degeneracy conditions built in.

    dz/dt = L(z) ∇E(z) + M(z) ∇S(z),
    L = Bᵀ σ_S B,  (B)_k = ∇S(z)ᵀ ξ_k,  σ_S(z) = A_S − A_Sᵀ       (skew,        L ∇S = 0),
    M = Cᵀ σ_E C,  (C)_k = ∇E(z)ᵀ ζ_k,  σ_E(z) = A_E A_Eᵀ          (sym. PSD,    M ∇E = 0),

with learnable skew d×d matrices ξ_k, ζ_k (k = 1..K) and K×K matrices A_S(z), A_E(z) from nets.
Since ξ_k is skew, B ∇S = (∇Sᵀ ξ_k ∇S)_k = 0, so L ∇S = 0 exactly; likewise M ∇E = 0. Hence along
the flow dE/dt = ∇Eᵀ L ∇E + ∇Eᵀ M ∇S = 0 (energy conserved) and dS/dt = ∇Sᵀ M ∇S ≥ 0 (entropy
production). Zhang, Shin & Karniadakis (2022), as paper 1 uses it (its official code wraps
zzhang222/gfinn_gc).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import check_choice
from ..nets import mlp
from .backprop import scalar_net_value_and_gradient
from .mlp import (check_dim, check_hidden, check_latent_input, init_xavier,
                  input_gradient)
from .onsager import GRADIENTS


class DegenerateOperator(nn.Module):
    """z, ∇F ↦ Bᵀ σ(z) B with B_k = ∇Fᵀ ξ_k: an operator that annihilates ∇F.

    ``kind="skew"``: σ = A − Aᵀ, the operator is skew (GENERIC L, with F = S).
    ``kind="psd"``: σ = A Aᵀ, the operator is symmetric PSD (GENERIC M, with F = E).
    A(z) ∈ R^{K×K} comes from a tanh MLP; the K skew matrices ξ_k ∈ R^{d×d} are K·d² parameters.
    """

    def __init__(self, d: int, k: int, hidden: Sequence[int], activation: str, kind: str) -> None:
        super().__init__()
        self.d, self.k = d, k
        self.kind = check_choice("operator kind", kind, ("skew", "psd"))
        self.sigma_net = mlp((d, *hidden, k * k), activation, xavier=False)
        self.xi_raw = nn.Parameter(torch.empty(k, d, d))

    def xi(self) -> torch.Tensor:
        """The K skew matrices ξ_k = triu(Ξ_k, 1) − triu(Ξ_k, 1)ᵀ, ``[K, d, d]``."""
        upper = torch.triu(self.xi_raw, diagonal=1)
        return upper - upper.mT

    def sigma(self, z: torch.Tensor) -> torch.Tensor:
        """σ(z), ``[B, K, K]``: skew (A − Aᵀ) or PSD (A Aᵀ)."""
        a = self.sigma_net(z).view(-1, self.k, self.k)
        return a - a.mT if self.kind == "skew" else a @ a.mT

    def forward(self, z: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """Bᵀ σ(z) B, ``[B, d, d]``, with B = [∇Fᵀ ξ_1; …; ∇Fᵀ ξ_K] ∈ R^{K×d}."""
        b = torch.einsum("bi,kij->bkj", grad, self.xi())
        return b.mT @ self.sigma(z) @ b

    def matvec(self, z: torch.Tensor, grad: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(Bᵀ σ(z) B) v ``[B, d]`` without forming the d×d operator: c = B v, then Bᵀ (σ c), with
        σ c = A c − Aᵀ c (skew) or A (Aᵀ c) (PSD)."""
        b = torch.einsum("bi,kij->bkj", grad, self.xi())                 # [B, K, d]
        c = (b * v.unsqueeze(1)).sum(-1)                                  # B v, [B, K]
        a = self.sigma_net(z).view(-1, self.k, self.k)
        at_c = (a * c.unsqueeze(-1)).sum(-2)                              # Aᵀ c
        s = (a * c.unsqueeze(-2)).sum(-1) - at_c if self.kind == "skew" else (a * at_c.unsqueeze(-2)).sum(-1)
        return (b * s.unsqueeze(-1)).sum(-2)                              # Bᵀ s


class GFINN(nn.Module):
    """dz/dt = L(z)∇E(z) + M(z)∇S(z) with L∇S = 0 and M∇E = 0 by construction (paper 1's GFINNs).

    E and S are scalar MLPs (d → hidden → 1, without the official code's output bias, which
    has no effect on the dynamics), L and M are :class:`DegenerateOperator` s with K
    skew matrices each (``K=None`` means K = d as in the official LJ run: ``GFINN(32)`` then has
    2·32³ ξ-parameters and σ-nets with 32² outputs; lower K for a cheaper model). Weights are
    Xavier-uniform with zero biases, Ξ_k ~ N(0, 0.1²), drawn from a generator seeded by ``seed``.

    ``gradient="exact"`` (default) writes ∇E, ∇S out by hand (:mod:`.backprop`) and applies L and M
    to vectors without forming them (:meth:`DegenerateOperator.matvec`): one backward pass trains
    it and ``torch.compile`` can compile it. ``gradient="autograd"`` is the double-backward
    reference (equal to round-off).
    """

    def __init__(self, d: int, hidden: Sequence[int] = (256, 256), K: int | None = None,
                 activation: str = "tanh", seed: int = 0, gradient: str = "exact") -> None:
        super().__init__()
        self.gradient = check_choice("gradient", gradient, list(GRADIENTS))
        self.d = check_dim("latent dimension d", d)
        self.hidden = check_hidden(hidden)
        self.K = self.d if K is None else check_dim("K (number of skew matrices)", K)
        # E and S only enter through their gradients: no output bias (a dead parameter).
        self.energy_net = mlp((self.d, *self.hidden, 1), activation, xavier=False, last_bias=False)
        self.entropy_net = mlp((self.d, *self.hidden, 1), activation, xavier=False, last_bias=False)
        self.poisson = DegenerateOperator(self.d, self.K, self.hidden, activation, kind="skew")
        self.friction = DegenerateOperator(self.d, self.K, self.hidden, activation, kind="psd")
        self._init_weights(torch.Generator().manual_seed(seed))

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """E(z), shape ``[B]``."""
        return self.energy_net(check_latent_input(z, self.d)).squeeze(-1)

    def entropy(self, z: torch.Tensor) -> torch.Tensor:
        """S(z), shape ``[B]``."""
        return self.entropy_net(check_latent_input(z, self.d)).squeeze(-1)

    def operators(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L, M)`` at z, each ``[B, d, d]``: L skew with L∇S = 0, M symmetric PSD with M∇E = 0."""
        z = check_latent_input(z, self.d)
        grad_e, grad_s = self._gradients(z)
        return self.poisson(z, grad_s), self.friction(z, grad_e)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """dz/dt = L∇E + M∇S for a batch ``z`` of shape ``[B, d]``."""
        z = check_latent_input(z, self.d)
        grad_e, grad_s = self._gradients(z)
        if self.gradient == "exact":
            return self.poisson.matvec(z, grad_s, grad_e) + self.friction.matvec(z, grad_e, grad_s)
        l_op, m_op = self.poisson(z, grad_s), self.friction(z, grad_e)
        return (l_op @ grad_e.unsqueeze(-1) + m_op @ grad_s.unsqueeze(-1)).squeeze(-1)

    def _gradients(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(∇E, ∇S), each ``[B, d]``, differentiable when gradients are enabled."""
        if self.gradient == "exact":
            return (scalar_net_value_and_gradient(self.energy_net, z)[1],
                    scalar_net_value_and_gradient(self.entropy_net, z)[1])
        grad_e = input_gradient(lambda x: self.energy_net(x).squeeze(-1), z)
        grad_s = input_gradient(lambda x: self.entropy_net(x).squeeze(-1), z)
        return grad_e, grad_s

    @torch.no_grad()
    def _init_weights(self, gen: torch.Generator) -> None:
        init_xavier(self, gen, bias="zero")
        for op in (self.poisson, self.friction):
            nn.init.normal_(op.xi_raw, 0.0, 0.1, generator=gen)
