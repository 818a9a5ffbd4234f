"""The one builder of fully connected nets, shared by encoders, decoders, latent models and SDEs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .validation import check_choice


class ReQUr(nn.Module):
    """Rectified quadratic unit, ReQUr(x) = ReLU(x)² − ReLU(x − ½)².

    Zero for x ≤ 0, x² on [0, ½], x − ¼ above ½: C¹ with a bounded derivative (the official AC/LJ
    OnsagerNet activation).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) ** 2 - torch.relu(x - 0.5) ** 2


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "softplus": nn.Softplus, "gelu": nn.GELU,
               "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU, "requr": ReQUr}


def make_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[check_choice("activation", name, list(ACTIVATIONS))]()


def mlp(sizes: Sequence[int], activation: str = "softplus", xavier: bool = True,
        last_bias: bool = True) -> nn.Sequential:
    """Linear(sizes[0], sizes[1])–act–…–Linear(sizes[-2], sizes[-1]), no activation at the end.

    ``xavier``: Xavier-uniform weights and zero biases (else PyTorch's default initialisation);
    ``last_bias=False`` drops the output bias (potentials, where a constant does nothing).
    """
    check_choice("activation", activation, list(ACTIVATIONS))
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"mlp needs at least two positive layer sizes, got {list(sizes)}")
    layers: list[nn.Module] = []
    n_layers = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(make_activation(activation))
        lin = nn.Linear(a, b, bias=last_bias or i < n_layers - 1)
        if xavier:
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        layers.append(lin)
    return nn.Sequential(*layers)
