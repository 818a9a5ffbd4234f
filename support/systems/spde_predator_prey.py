"""Stochastic predator–prey SPDE of paper 2's predator–prey experiment, on a 1-D grid of cells.

State ``x [B, 2, n]`` (channel 0: prey u, channel 1: predator v). Per grid value::

    u_i' = u_i (1 − u_i − v_i) + D_u Δ_h u_i            (D_u = 0)
    v_i' = a v_i (u_i − b)     + D_v Δ_h v_i            (a = 3, b = 0.4, D_v = 1)
    Δ_h w_i = w_{i+1} − 2 w_i + w_{i−1}                  (unscaled: no 1/Δx²)
    X_{k+1} = X_k + Δt F(X_k) + η √Δt ξ_k,  ξ_k ~ N(0, I) per grid value, Δt = 0.01, η = 0.02

Global boundary: Neumann through replicated ghost cells. The patch simulator uses a frozen one-cell
ghost halo on each side (the neighbours' values at extraction, held fixed over the patch steps);
for one step this reproduces the full system's update on the patch exactly.

Initial conditions, cell centres ξ_i = i + ½ in *grid units*::

    u₀ = m + k cos(2π ξ_i / λ),   v₀ = 1 − m − k cos(2π ξ_i / λ),   λ = 20 cells

λ = 20 cells is the official pattern (cos(10πx) on [0, 1] with 100 cells). **Deliberate difference
from the official code:** there the "large system" (200 cells) was a *finer grid of the same unit
domain*, which with the unscaled Laplacian changes the physics (diffusion relative to the pattern,
noise per unit length). Here the large system is a *larger domain at the same grid spacing*
(n_large = K · n_patch cells, the wavelength fixed in cells), so small and large systems obey the
same local law and only their size differs — the setting in which partial evolution is exact.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .predator_prey import reaction
from .stochastic_base import StepResult, StochasticSystem, rand, randn

#: wavelength of the initial pattern in grid cells (official: 0.2 of a 100-cell unit domain)
OFFICIAL_WAVELENGTH_CELLS = 20.0
#: training/validation ranges of the initial amplitude k and mean m
TRAIN_K_RANGE = (0.05, 0.15)
TRAIN_M_RANGE = (0.45, 0.55)
#: the nine test conditions (k, m)
TEST_PARAMETERS = tuple((k, m) for k in (0.05, 0.1, 0.15) for m in (0.45, 0.5, 0.55))


class PredatorPreySPDE(StochasticSystem):
    """Euler–Maruyama predator–prey SPDE with Neumann boundary (see module docstring)."""

    name = "predator_prey_spde"
    channels = 2
    spatial_dims = 1
    halo = 1
    boundary = "replicate"
    cost_kind = "site_updates"

    def __init__(self, a: float = 3.0, b: float = 0.4, diff_u: float = 0.0, diff_v: float = 1.0,
                 dt: float = 0.01, noise: float = 0.02) -> None:
        if not dt > 0 or noise < 0 or diff_u < 0 or diff_v < 0:
            raise ValueError("need dt > 0 and noise, diff_u, diff_v >= 0")
        self.a, self.b, self.diff_u, self.diff_v = float(a), float(b), float(diff_u), float(diff_v)
        self.dt, self.noise = float(dt), float(noise)

    @property
    def n_observables(self) -> int:
        return 2

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """(ū, v̄): grid means ``[B, 2]`` (exactly patch-additive)."""
        return x.mean(dim=-1)

    # ------------------------------------------------------------------ dynamics
    def rhs_padded(self, xp: torch.Tensor) -> torch.Tensor:
        """F on the interior of a ghost-padded state ``[B, 2, n + 2] -> [B, 2, n]``."""
        inner = xp[..., 1:-1]
        lap = xp[..., 2:] - 2 * inner + xp[..., :-2]
        u, v = inner[:, 0], inner[:, 1]
        ru, rv = reaction(u, v, self.a, self.b)
        return torch.stack([ru + self.diff_u * lap[:, 0], rv + self.diff_v * lap[:, 1]], dim=1)

    def rhs(self, x: torch.Tensor) -> torch.Tensor:
        """F(x) ``[B, 2, n]`` with Neumann (replicated) ghost cells."""
        return self.rhs_padded(F.pad(x, (1, 1), mode="replicate"))

    def _em_interior(self, xp: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        inner = xp[..., 1:-1]
        out = inner + self.dt * self.rhs_padded(xp)
        if self.noise:
            out = out + self.noise * math.sqrt(self.dt) * randn(inner.shape, generator, inner)
        return out

    def _cost(self, x: torch.Tensor, n_steps: int) -> StepResult:
        dt = torch.full((x.shape[0],), n_steps * self.dt, dtype=x.dtype, device=x.device)
        return StepResult(x, dt, x.shape[0] * x.shape[-1] * n_steps)

    def step(self, x: torch.Tensor, generator: torch.Generator) -> StepResult:
        """One Euler–Maruyama step of the whole grid (cost: n site updates per sample)."""
        return self._cost(self._em_interior(F.pad(x, (1, 1), mode="replicate"), generator), 1)

    def evolve_patch(self, window: torch.Tensor, n_steps: int, generator: torch.Generator,
                     context: Any = None) -> StepResult:
        """``n_steps`` EM steps of the interior of ``[B, 2, p + 2]``; the two ghost cells stay frozen."""
        left, right = window[..., :1], window[..., -1:]
        w, inner = window, window[..., 1:-1]
        for _ in range(n_steps):
            inner = self._em_interior(w, generator)
            w = torch.cat([left, inner, right], dim=-1)
        return self._cost(inner, n_steps)


# ---------------------------------------------------------------------- initial conditions
def initial_state(k: torch.Tensor | float, m: torch.Tensor | float, n_grid: int, *,
                  wavelength: float = OFFICIAL_WAVELENGTH_CELLS,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """u₀ = m + k cos(2π ξ/λ), v₀ = 1 − m − k cos(2π ξ/λ) at cell centres ξ = i + ½: ``[B, 2, n]``.

    ``k`` and ``m`` are scalars or ``[B]`` (a scalar broadcasts); the wavelength is in cells, so a
    larger domain at the same spacing holds more periods of the same pattern.
    """
    if not isinstance(n_grid, int) or n_grid < 1 or not wavelength > 0:
        raise ValueError(f"need an int n_grid >= 1 and wavelength > 0, got {n_grid}, {wavelength}")
    k = torch.as_tensor(k, dtype=dtype).reshape(-1, 1)
    m = torch.as_tensor(m, dtype=dtype).reshape(-1, 1)
    if k.shape[0] != m.shape[0] and 1 not in (k.shape[0], m.shape[0]):
        raise ValueError(f"k and m must have the same number of entries (or one), got "
                         f"{k.shape[0]} and {m.shape[0]}")
    k, m = torch.broadcast_tensors(k, m)
    xi = torch.arange(n_grid, dtype=torch.float64) + 0.5
    wave = torch.cos(2 * math.pi * xi / wavelength).to(dtype)
    return torch.stack([m + k * wave, 1 - m - k * wave], dim=1)


def sample_parameters(n: int, generator: torch.Generator,
                      dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Training draws k ~ U(0.05, 0.15), m ~ U(0.45, 0.55), each ``[n]``."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    like = torch.empty(0, dtype=dtype)
    (k0, k1), (m0, m1) = TRAIN_K_RANGE, TRAIN_M_RANGE
    return k0 + (k1 - k0) * rand((n,), generator, like), m0 + (m1 - m0) * rand((n,), generator, like)
