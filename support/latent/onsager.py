"""OnsagerNet: a latent vector field with a learned energy and Onsager (dissipative + conservative) operator.

    dz/dt = −(M(z) + W(z) + α I) ∇V(z) + F(z),
    M = L Lᵀ (L lower-triangular incl. the diagonal),  W = U − Uᵀ (U strictly upper-triangular),
    V(z) = ½ ‖P(h(z)) + Γ z‖² + β ‖z‖².

M is symmetric positive semi-definite and W skew, so without forcing
dV/dt = ∇V·ż = −∇Vᵀ M ∇V − α ‖∇V‖² ≤ 0: V is a Lyapunov function. V ≥ 0 (bounded below) and,
for β > 0, V ≥ β‖z‖² (coercive). Paper 1 and its official code (Yu et al. 2021 for OnsagerNet).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import check_choice
from .backprop import backward_through, forward_with_slopes
from .mlp import (check_dim, check_hidden, check_latent_input, input_gradient_with_aux,
                  make_activation)

#: how a structured latent model computes the input gradients inside its forward pass
GRADIENTS = ("exact", "autograd")


class ResidualTrunk(nn.Module):
    """Shared features h(z): h₁ = σ(W₁ z + b₁), h_k = σ(W_k h_{k−1} + b_k) + h_{k−1} (k ≥ 2).

    With ``residual=False`` the skip connections are dropped (a plain σ-MLP). Residual layers need
    equal widths.
    """

    def __init__(self, d: int, hidden: Sequence[int], activation: str, residual: bool) -> None:
        super().__init__()
        hidden = check_hidden(hidden)
        if residual and len(set(hidden)) > 1:
            raise ValueError(f"a residual trunk needs equal hidden widths, got {hidden}; "
                             "pass residual=False for unequal widths")
        self.residual = residual
        self.width = hidden[-1]
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out)
                                    for n_in, n_out in zip((d, *hidden[:-1]), hidden))
        self.act = make_activation(activation)

    def forward_with_slopes(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """h(z) and the activation slopes σ'(a_k) its vector–Jacobian product needs."""
        return forward_with_slopes(self.layers, [self.act] * len(self.layers), z, self.residual)

    def vjp(self, slopes: list[torch.Tensor], g: torch.Tensor) -> torch.Tensor:
        """gᵀ ∂h/∂z ``[B, d]`` from the slopes of :meth:`forward_with_slopes`."""
        return backward_through(self.layers, slopes, g, self.residual)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.act(self.layers[0](z))
        for layer in self.layers[1:]:
            out = self.act(layer(h))
            h = out + h if self.residual else out
        return h


class OnsagerNet(nn.Module):
    """dz/dt = −(M(z) + W(z) + α I) ∇V(z) + F(z) on a normalised latent z ∈ R^d.

    One class covers both official variants of paper 1 through its arguments:

    * AC / LJ OnsagerNet (the official Allen–Cahn and Lennard-Jones code; the defaults): ReQUr residual trunk, ``hidden=(64, 64)`` (AC) or
      ``(256, 256, 256)`` (LJ), ``alpha=0.1``, ``forcing=True``. ``OnsagerNet(16, (64, 64))`` has
      the official 24,240 parameters.
    * PP "OnsagerNet" (the official predator–prey code): ``forcing=False, activation="tanh", alpha=0.01, residual=False`` —
      purely dissipative. The official PP code uses two separate tanh nets for P and for the
      matrices; here both read one shared trunk h(z) (same structure, fewer parameters).

    Pieces (all from the trunk features h = h(z)):
    P(h) = Linear(width, d), Γz = Linear(d, d) (its bias duplicates P's, kept as in the official
    code), A(h) = Linear(width, d²) reshaped to d×d, L = tril(A), U = triu(A, 1),
    F(h) = Linear(width, d) if ``forcing`` else 0. The official AC/LJ code uses V = ‖P + Γz‖² + β‖z‖²;
    the factor ½ here is absorbed by rescaling P and Γ (same function class).

    ``gradient="exact"`` (default) writes ∇V out by hand,
    ∇V = (∂h/∂z)ᵀ Pᵀ u + Γᵀ u + 2β z with u = P(h) + Γz (:mod:`.backprop`), and applies the operator
    as (M + W)g = L(Lᵀg) + Ug − Uᵀg without forming M or W: one backward pass trains it and
    ``torch.compile`` can compile it. ``gradient="autograd"`` takes ∇V from
    ``torch.autograd.grad(create_graph=True)`` (a double backward): the reference the exact path is
    tested against (equal to round-off). Initialisation follows the official AC/LJ code
    (gain 0.1; the matrix bias is a random orthogonal d×d matrix), drawn from a generator seeded
    by ``seed``.
    """

    def __init__(self, d: int, hidden: Sequence[int] = (64, 64), activation: str = "requr",
                 alpha: float = 0.1, beta: float = 0.1, forcing: bool = True, residual: bool = True,
                 seed: int = 0, gradient: str = "exact") -> None:
        super().__init__()
        self.gradient = check_choice("gradient", gradient, list(GRADIENTS))
        self.d = check_dim("latent dimension d", d)
        self.alpha = _non_negative("alpha", alpha)
        self.beta = _non_negative("beta", beta)
        self.trunk = ResidualTrunk(self.d, hidden, activation, residual)
        width = self.trunk.width
        self.potential_layer = nn.Linear(width, self.d)      # P(h)
        self.potential_linear = nn.Linear(self.d, self.d)    # Γ z
        self.matrix_layer = nn.Linear(width, self.d * self.d)
        self.force_layer = nn.Linear(width, self.d) if forcing else None
        self._init_weights(torch.Generator().manual_seed(seed))

    # ----------------------------------------------------------------------------- public pieces
    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """V(z) = ½‖P(h(z)) + Γz‖² + β‖z‖², shape ``[B]``."""
        z = check_latent_input(z, self.d)
        return self._energy(z, self.trunk(z))

    def matrices(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, W)`` at z, each ``[B, d, d]``: M = L Lᵀ symmetric PSD, W = U − Uᵀ skew."""
        z = check_latent_input(z, self.d)
        return self._matrices(self.trunk(z))

    def external_force(self, z: torch.Tensor) -> torch.Tensor:
        """The forcing F(z), ``[B, d]`` (zeros when ``forcing=False``)."""
        z = check_latent_input(z, self.d)
        return self._force(self.trunk(z))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """dz/dt = −(M + W + αI)∇V + F for a batch ``z`` of shape ``[B, d]``."""
        z = check_latent_input(z, self.d)
        if self.gradient == "exact":
            return self._forward_exact(z)
        grad_v, h = input_gradient_with_aux(self._energy_and_features, z)
        m, w = self._matrices(h)
        onsager = m + w
        drift = -(onsager @ grad_v.unsqueeze(-1)).squeeze(-1) - self.alpha * grad_v
        return drift + self._force(h)

    def energy_gradient(self, z: torch.Tensor) -> torch.Tensor:
        """∇V(z) ``[B, d]`` by the hand-written rule (differentiable in z and in the weights)."""
        z = check_latent_input(z, self.d)
        return self._grad_v(z, *self.trunk.forward_with_slopes(z))

    # ---------------------------------------------------------------------------------- internals
    def _grad_v(self, z: torch.Tensor, h: torch.Tensor, slopes: list[torch.Tensor]) -> torch.Tensor:
        """∇V = (∂h/∂z)ᵀ Pᵀu + Γᵀu + 2βz, u = P(h) + Γz."""
        u = self.potential_layer(h) + self.potential_linear(z)
        return (self.trunk.vjp(slopes, u @ self.potential_layer.weight)
                + u @ self.potential_linear.weight + 2.0 * self.beta * z)

    def _forward_exact(self, z: torch.Tensor) -> torch.Tensor:
        """−(L(Lᵀg) + Ug − Uᵀg) − αg + F with g = ∇V, all as batched vector products."""
        h, slopes = self.trunk.forward_with_slopes(z)
        g = self._grad_v(z, h, slopes)
        a = self.matrix_layer(h).view(-1, self.d, self.d)
        lower, upper = torch.tril(a), torch.triu(a, diagonal=1)
        lt_g = (lower * g.unsqueeze(-1)).sum(-2)                      # Lᵀ g
        m_g = (lower * lt_g.unsqueeze(-2)).sum(-1)                    # L (Lᵀ g)
        w_g = (upper * g.unsqueeze(-2)).sum(-1) - (upper * g.unsqueeze(-1)).sum(-2)   # U g − Uᵀ g
        return -(m_g + w_g) - self.alpha * g + self._force(h)

    def _energy(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        pot = self.potential_layer(h) + self.potential_linear(z)
        return 0.5 * pot.pow(2).sum(-1) + self.beta * z.pow(2).sum(-1)

    def _energy_and_features(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(z)
        return self._energy(z, h), h

    def _matrices(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.matrix_layer(h).view(-1, self.d, self.d)
        lower = torch.tril(a)
        upper = torch.triu(a, diagonal=1)
        return lower @ lower.mT, upper - upper.mT

    def _force(self, h: torch.Tensor) -> torch.Tensor:
        if self.force_layer is None:
            return h.new_zeros(h.shape[0], self.d)
        return self.force_layer(h)

    @torch.no_grad()
    def _init_weights(self, gen: torch.Generator) -> None:
        """Official AC/LJ initialisation (paper 1's code), reproducible from ``gen``."""
        for layer in self.trunk.layers:
            nn.init.xavier_uniform_(layer.weight, gain=0.1, generator=gen)
            nn.init.uniform_(layer.bias, 0.0, 0.05, generator=gen)
        nn.init.xavier_uniform_(self.matrix_layer.weight, gain=0.1, generator=gen)
        rotation = torch.empty(self.d, self.d)
        nn.init.orthogonal_(rotation, generator=gen)
        self.matrix_layer.bias.copy_(rotation.flatten())
        for layer, bias_high in ((self.potential_layer, 0.1), (self.potential_linear, 0.1),
                                 (self.force_layer, 0.05)):
            if layer is None:
                continue
            nn.init.orthogonal_(layer.weight, gain=0.1, generator=gen)
            nn.init.uniform_(layer.bias, 0.0, bias_high, generator=gen)


def _non_negative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0.0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value
