r"""Hand-written input gradients of the small nets inside OnsagerNet and GFINNs.

OnsagerNet needs ∇V(z) and GFINNs ∇E(z), ∇S(z) *inside* their forward pass, and training then
differentiates the result with respect to the weights. With ``torch.autograd.grad(create_graph=True)``
that is a double backward: slow on small nets (graph bookkeeping dominates) and impossible for
``torch.compile``. Here the input gradient is written out as ordinary tensor operations (one
forward pass that keeps the activation slopes, one explicit vector–Jacobian product), so training
needs a single backward and the model compiles.

For a layer a = W h + b, h' = σ(a), the vector–Jacobian product with a row vector g is
gᵀ ∂h'/∂h = (g ⊙ σ'(a))ᵀ W; a residual layer h' = σ(W h + b) + h adds g itself. For a scalar net
s(z) = wᵀ h_L(z) (no output bias), ∇s = J_Lᵀ w is obtained by running these products from the
output back to z. Every function here is checked against autograd in ``tests/test_latent_models.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

#: activations whose derivative σ'(a) is written out below
SLOPES = ("relu", "tanh", "softplus", "requr", "silu", "gelu", "leaky_relu")


def activation_with_slope(act: nn.Module, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(σ(a), σ'(a))`` for the activation module ``act`` (one of :data:`SLOPES`).

    ReQUr: σ = relu(a)² − relu(a − ½)², σ' = 2 relu(a) − 2 relu(a − ½); softplus (β = 1):
    σ' = sigmoid(a); SiLU: σ' = s + a s (1 − s) with s = sigmoid(a); GELU (exact): Φ(a) + a φ(a).
    """
    from ..nets import ReQUr
    if isinstance(act, ReQUr):
        r0, r1 = torch.relu(a), torch.relu(a - 0.5)
        return r0 * r0 - r1 * r1, 2.0 * (r0 - r1)
    if isinstance(act, nn.Tanh):
        t = torch.tanh(a)
        return t, 1.0 - t * t
    if isinstance(act, nn.ReLU):
        return torch.relu(a), (a > 0).to(a.dtype)
    if isinstance(act, nn.Softplus):
        if act.beta != 1.0:
            raise ValueError("only softplus with beta = 1 has a hand-written slope")
        return act(a), torch.sigmoid(a)
    if isinstance(act, nn.SiLU):
        s = torch.sigmoid(a)
        return a * s, s + a * s * (1.0 - s)
    if isinstance(act, nn.GELU) and act.approximate == "none":
        cdf = 0.5 * (1.0 + torch.erf(a / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
        return a * cdf, cdf + a * pdf
    if isinstance(act, nn.LeakyReLU):
        return act(a), torch.where(a > 0, torch.ones_like(a), torch.full_like(a, act.negative_slope))
    raise ValueError(f"no hand-written slope for activation {type(act).__name__}; "
                     f"use one of {SLOPES} or gradient='autograd'")


def layer_stack(seq: nn.Sequential) -> tuple[list[nn.Linear], list[nn.Module]]:
    """The Linear layers and the activations between them of a Linear–act–…–Linear net
    (:func:`support.nets.mlp`)."""
    linears = [m for m in seq if isinstance(m, nn.Linear)]
    acts = [m for m in seq if not isinstance(m, nn.Linear)]
    if len(acts) != len(linears) - 1 or not isinstance(seq[0], nn.Linear):
        raise ValueError("expected an alternating Linear–activation–…–Linear net")
    return linears, acts


def forward_with_slopes(linears: Sequence[nn.Linear], acts: Sequence[nn.Module], z: torch.Tensor,
                        residual: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Hidden features h_L of σ-layers ``linears`` with activations ``acts`` and the slopes σ'(a_k).

    ``residual``: h_k = σ(a_k) + h_{k−1} for k ≥ 2 (OnsagerNet's trunk)."""
    h, slopes = z, []
    for k, (lin, act) in enumerate(zip(linears, acts)):
        out, slope = activation_with_slope(act, lin(h))
        slopes.append(slope)
        h = out + h if (residual and k > 0) else out
    return h, slopes


def backward_through(linears: Sequence[nn.Linear], slopes: Sequence[torch.Tensor], g: torch.Tensor,
                     residual: bool = False) -> torch.Tensor:
    """The vector–Jacobian product gᵀ ∂h_L/∂z of :func:`forward_with_slopes`, ``[B, d]``:
    g ← (g ⊙ σ'(a_k)) W_k (+ g for a residual layer), from the last layer to the first."""
    for k in range(len(linears) - 1, -1, -1):
        back = (g * slopes[k]) @ linears[k].weight
        g = back + g if (residual and k > 0) else back
    return g


def scalar_net_value_and_gradient(seq: nn.Sequential, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """s(z) ``[B]`` and ∇s(z) ``[B, d]`` of a scalar net Linear–σ–…–Linear(·, 1) (GFINNs' E and S).

    ∇s = J_Lᵀ w with w the output layer's weight row; an output bias does not enter the gradient.
    """
    linears, acts = layer_stack(seq)
    out = linears[-1]
    if out.out_features != 1:
        raise ValueError(f"a scalar net ends in Linear(·, 1), got {out.out_features} outputs")
    h, slopes = forward_with_slopes(linears[:-1], acts, z)
    value = out(h).squeeze(-1)
    g = out.weight.expand(z.shape[0], -1)
    return value, backward_through(linears[:-1], slopes, g)
