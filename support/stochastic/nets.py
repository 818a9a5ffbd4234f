"""Small network building blocks of the stochastic pipeline (closure nets, decoders, SDE MLPs)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..nets import mlp


class PatchMLP(nn.Module):
    """φ̂_loc for a patch ``[B, C, *p]``: flatten all fields, MLP to ``out_dim`` closure variables."""

    def __init__(self, patch_shape: Sequence[int], channels: int, out_dim: int,
                 hidden: Sequence[int] = (32, 32)) -> None:
        super().__init__()
        self.in_shape = (int(channels), *map(int, patch_shape))
        self.out_dim = int(out_dim)
        self.net = mlp([math.prod(self.in_shape), *hidden, self.out_dim], "relu", xavier=True)

    def forward(self, patch: torch.Tensor) -> torch.Tensor:
        if tuple(patch.shape[1:]) != self.in_shape:
            raise ValueError(f"PatchMLP expects [B, {self.in_shape}], got {list(patch.shape)}")
        return self.net(patch.flatten(1))


class PerChannelMLP(nn.Module):
    """One MLP per field: ``[B, C, *p] -> [B, C * out_per_channel]`` (field-major).

    The predator–prey closure of paper 2 is this with ``out_per_channel = 1`` (one closure
    variable per species, each from that species' patch alone).
    """

    def __init__(self, patch_shape: Sequence[int], channels: int, out_per_channel: int = 1,
                 hidden: Sequence[int] = (32, 32)) -> None:
        super().__init__()
        self.patch_shape = tuple(int(s) for s in patch_shape)
        self.channels = int(channels)
        self.out_dim = self.channels * int(out_per_channel)
        n_in = math.prod(self.patch_shape)
        self.nets = nn.ModuleList(mlp([n_in, *hidden, out_per_channel], "relu", xavier=True)
                                  for _ in range(self.channels))

    def forward(self, patch: torch.Tensor) -> torch.Tensor:
        if tuple(patch.shape[1:]) != (self.channels, *self.patch_shape):
            raise ValueError(f"PerChannelMLP expects [B, {self.channels}, {self.patch_shape}], "
                             f"got {list(patch.shape)}")
        return torch.cat([net(patch[:, c].flatten(1)) for c, net in enumerate(self.nets)], dim=-1)


class MLPDecoder(nn.Module):
    """Decoder ``z [B, d] -> x̂ [B, C, *S]`` (an MLP reshaped to the full large-system state)."""

    def __init__(self, latent_dim: int, state_shape: Sequence[int],
                 hidden: Sequence[int] = (32, 32)) -> None:
        super().__init__()
        self.state_shape = tuple(int(s) for s in state_shape)
        self.net = mlp([int(latent_dim), *hidden, math.prod(self.state_shape)], "relu", xavier=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.state_shape)


class OddPolynomialDrift(nn.Module):
    """μ(z) = Σ_k a_k z₁^{2k+1} e₁ for a latent whose first coordinate changes sign under a symmetry
    (m → −m of the Ising model at h = 0), and ``dim`` = 1: ``[B, 1] -> [B, 1]``.

    Linear in its parameters, so ``L_p`` is convex in the drift for a fixed σ and Adam finds the
    least-squares drift reliably — where a small MLP trained on increments whose mean is a tiny
    fraction of their spread (the critical drift) ends wherever the optimiser noise leaves it.
    """

    def __init__(self, degree: int = 5) -> None:
        super().__init__()
        if degree < 1 or degree % 2 == 0:
            raise ValueError(f"degree must be an odd int >= 1, got {degree}")
        self.powers = tuple(range(1, degree + 1, 2))
        self.coef = nn.Parameter(torch.zeros(len(self.powers)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != 1:
            raise ValueError(f"OddPolynomialDrift expects [B, 1], got {list(z.shape)}")
        basis = torch.cat([z ** k for k in self.powers], dim=1)
        return basis @ self.coef.to(z.dtype)[:, None]


#: the 9 sites of a 3×3 neighbourhood, (row, column) offsets in reading order (bit k of a pattern)
OFFSETS = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))


def pattern_index(patch: torch.Tensor) -> torch.Tensor:
    """The 3×3 neighbourhood of every site of ±1 patches ``[B, 1, ℓ, ℓ]`` (wrapping around the patch)
    as an integer in [0, 512): bit k is set when the spin at ``OFFSETS[k]`` is +1. ``[B, ℓ, ℓ]``."""
    up = (patch[:, 0] > 0).to(torch.int16)
    idx = torch.zeros(up.shape, dtype=torch.int16, device=patch.device)
    for k, (di, dj) in enumerate(OFFSETS):
        idx |= torch.roll(up, shifts=(-di, -dj), dims=(-2, -1)) << k
    return idx.long()


class PatchCNN(nn.Module):
    """g(x_J) ``[B, 1, ℓ, ℓ] -> [B, d̂]``: conv3×3 → LeakyReLU → conv1×1 → LeakyReLU → conv1×1, with
    circular padding inside the patch, then the mean over the patch's sites.

    A mean of local features, like m and ρ_dw themselves: the same weights serve every ℓ (the
    official CNN ends in a Linear over positions, whose size grows with ℓ²) and the closure keeps
    one meaning across patch sizes. The output at a site depends only on its 3×3 neighbourhood of
    ±1 spins, one of 512 patterns, so the network is evaluated on the 512 patterns (a table, with
    gradients) and gathered per site: the same function as the convolutions, at the cost of an
    index per site."""

    def __init__(self, out_dim: int = 2, channels: int = 16) -> None:
        super().__init__()
        self.out_dim = int(out_dim)
        self.conv = nn.Conv2d(1, channels, 3)
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(channels, channels), nn.LeakyReLU(0.2),
                                  nn.Linear(channels, self.out_dim))
        bits = (torch.arange(512)[:, None] >> torch.arange(9)) & 1
        self.register_buffer("patterns", (2.0 * bits - 1).view(512, 1, 3, 3), persistent=False)

    def table(self) -> torch.Tensor:
        """The per-site feature of each of the 512 neighbourhoods ``[512, d̂]``."""
        return self.head(self.conv(self.patterns).flatten(1))

    def forward(self, patch: torch.Tensor) -> torch.Tensor:
        if patch.dim() != 4 or patch.shape[1] != 1:
            raise ValueError(f"PatchCNN expects [B, 1, ℓ, ℓ], got {list(patch.shape)}")
        return F.embedding(pattern_index(patch), self.table().to(patch.dtype)).mean(dim=(1, 2))
