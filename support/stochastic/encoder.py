"""Patch-additive closure encoder and the partial / naive training targets (paper 2).

The latent of a large state ``x`` with ``K`` patches ``x_J`` is

    z = φ(x) = [ φ*(x),  (1/K) Σ_J φ̂_loc(x_J) ]                      (observables first)

with φ* the system's analytic observables (patch means, so φ*(x) = (1/K) Σ_J φ*(x_J)) and φ̂_loc a
small network applied to every patch. The *local* latent of one patch is
``φ_loc(x_J) = [φ*(x_J), φ̂_loc(x_J)]`` and ``φ(x) = (1/K) Σ_J φ_loc(x_J)``.

Targets for a partial-evolution sample ``(x_t, I, x_{t+δt,I}, δt)``:

* **partial** (ours):  ẑ₁ = φ(x_t) + φ_loc(x_{t+δt,I}) − φ_loc(x_{t,I}).
  The patch increment is *not* divided by K: E_I[ẑ₁ − z₀] equals the full-system increment's
  mean and its covariance is ≈ K times the full one, hence λ = K in the loss;
* **naive** (baseline): ẑ₁ = φ_loc(x_{t+δt,I}), the patch treated as the whole system (λ = 1).
  Its increment also contains the spatial fluctuation φ_loc(x_{t,I}) − φ(x_t).

φ* is additive exactly for site means over equal patches (densities, magnetisation); observables
counted over bonds with wrap-around inside the patch (domain-wall density, alloy SRO) are additive
only up to O(boundary / volume): :meth:`PatchAdditiveEncoder.additivity_gap` measures it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..validation import check_choice
from ..systems.stochastic_base import StochasticSystem
from .partial_evolution import PartialSample
from .patches import PatchGrid

#: training targets: "partial" (ours, λ = K) and "naive" (patch as system, λ = 1)
TARGETS = ("partial", "naive")


class PatchAdditiveEncoder(nn.Module):
    """z = [φ*(x), mean_J φ̂_loc(x_J)] over the patches of ``grid``.

    Args:
        grid: patch decomposition of the large system (K = ``grid.n_patches``).
        observables: φ*, ``[B, C, *S'] -> [B, d*]`` on any grid size (the system's ``observables``).
        n_observables: d*.
        local_net: φ̂_loc, ``[B, C, *p] -> [B, closure_dim]``; ``None`` for no learned closure.
        closure_dim: d̂ (0 when ``local_net`` is None).
    """

    def __init__(self, grid: PatchGrid, observables: Callable[[torch.Tensor], torch.Tensor],
                 n_observables: int, local_net: nn.Module | None = None,
                 closure_dim: int = 0) -> None:
        super().__init__()
        if (local_net is None) != (closure_dim == 0):
            raise ValueError("give a local_net together with closure_dim > 0, or neither")
        if n_observables < 0 or closure_dim < 0 or n_observables + closure_dim == 0:
            raise ValueError("the latent must have at least one dimension")
        self.grid = grid
        self.observables = observables
        self.n_observables = int(n_observables)
        self.closure_dim = int(closure_dim)
        self.local_net = local_net

    @classmethod
    def for_system(cls, system: StochasticSystem, grid: PatchGrid, local_net: nn.Module | None = None,
                   closure_dim: int = 0) -> "PatchAdditiveEncoder":
        """Encoder whose φ* is ``system.observables``."""
        return cls(grid, system.observables, system.n_observables, local_net, closure_dim)

    @property
    def latent_dim(self) -> int:
        """d = d* + d̂."""
        return self.n_observables + self.closure_dim

    # ------------------------------------------------------------------ pieces
    def observed(self, x: torch.Tensor) -> torch.Tensor:
        """φ*(x) ``[B, d*]`` (on the whole state, or on a patch)."""
        z = self.observables(x)
        if z.shape != (x.shape[0], self.n_observables):
            raise RuntimeError(f"observables returned {list(z.shape)}, expected "
                               f"[{x.shape[0]}, {self.n_observables}]")
        return z

    def closure_local(self, patch: torch.Tensor) -> torch.Tensor:
        """φ̂_loc(x_J) ``[B, d̂]`` (empty when there is no closure)."""
        if self.local_net is None:
            return patch.new_zeros(patch.shape[0], 0)
        z = self.local_net(patch)
        if z.shape != (patch.shape[0], self.closure_dim):
            raise RuntimeError(f"local_net returned {list(z.shape)}, expected "
                               f"[{patch.shape[0]}, {self.closure_dim}]")
        return z

    def local(self, patch: torch.Tensor) -> torch.Tensor:
        """φ_loc(x_J) = [φ*(x_J), φ̂_loc(x_J)] ``[B, d]`` for patches ``[B, C, *p]``."""
        return torch.cat([self.observed(patch), self.closure_local(patch)], dim=-1)

    def closure(self, x: torch.Tensor) -> torch.Tensor:
        """(1/K) Σ_J φ̂_loc(x_J) ``[B, d̂]``."""
        if self.local_net is None:
            return x.new_zeros(x.shape[0], 0)
        patches = self.grid.split(x)                                   # [B, K, C, *p]
        flat = self.closure_local(patches.flatten(0, 1))               # [B K, d̂]
        return flat.view(x.shape[0], self.grid.n_patches, -1).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """z = φ(x) ``[B, d]``."""
        return torch.cat([self.observed(x), self.closure(x)], dim=-1)

    # ------------------------------------------------------------------ targets
    def partial_target(self, x_t: torch.Tensor, index: torch.Tensor,
                       patch_next: torch.Tensor) -> torch.Tensor:
        """ẑ₁ = φ(x_t) + φ_loc(x_{t+δt,I}) − φ_loc(x_{t,I})."""
        patch_now = self.grid.extract(x_t, index)
        return self(x_t) + self.local(patch_next) - self.local(patch_now)

    def naive_target(self, patch_next: torch.Tensor) -> torch.Tensor:
        """ẑ₁ = φ_loc(x_{t+δt,I}) (the evolved patch treated as the large system)."""
        return self.local(patch_next)

    def additivity_gap(self, x: torch.Tensor) -> torch.Tensor:
        """max_b |φ*(x_b) − mean_J φ*(x_{b,J})| per observable ``[d*]`` (0 if exactly additive)."""
        patches = self.grid.split(x).flatten(0, 1)
        local = self.observed(patches).view(x.shape[0], self.grid.n_patches, -1).mean(dim=1)
        return (self.observed(x) - local).abs().amax(dim=0)


@dataclass
class LatentPairs:
    """Encoded training pairs ``(z₀, ẑ₁, δt)`` for the SDE, with the target kind and K."""

    z0: torch.Tensor
    z1: torch.Tensor
    dt: torch.Tensor
    n_patches: int
    target: str

    def __len__(self) -> int:
        return self.z0.shape[0]

    @property
    def default_lambda(self) -> float:
        """λ = K for the partial target (paper 2's theorem), λ = 1 for the naive baseline."""
        return default_lambda(self.target, self.n_patches)


def default_lambda(target: str, n_patches: int) -> float:
    """The covariance factor of the loss: K for ``"partial"``, 1 for ``"naive"``."""
    check_choice("target", target, TARGETS)
    return float(n_patches) if target == "partial" else 1.0


@torch.no_grad()
def encode_pairs(encoder: PatchAdditiveEncoder, sample: PartialSample, target: str = "partial",
                 batch_size: int = 4096) -> LatentPairs:
    """Encode a partial-evolution sample into SDE training pairs (``target`` in ``TARGETS``)."""
    check_choice("target", target, TARGETS)
    if sample.grid != encoder.grid:
        raise ValueError(f"the sample's patch grid {sample.grid} differs from the encoder's "
                         f"{encoder.grid}")
    was = encoder.training
    encoder.eval()
    z0, z1 = [], []
    for lo in range(0, len(sample), batch_size):
        sl = slice(lo, lo + batch_size)
        x, nxt = sample.x_t[sl], sample.patch_next[sl]
        z0.append(encoder(x))
        z1.append(encoder.partial_target(x, sample.index[sl], nxt) if target == "partial"
                  else encoder.naive_target(nxt))
    encoder.train(was)
    return LatentPairs(z0=torch.cat(z0), z1=torch.cat(z1), dt=sample.dt.to(z0[0].dtype),
                       n_patches=sample.n_patches, target=target)
