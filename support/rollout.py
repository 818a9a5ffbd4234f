"""Integration of latent models: RK4 for ODEs, Euler–Maruyama for SDEs."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .validation import check_finite

VectorField = Callable[[torch.Tensor], torch.Tensor]


def rk4_step(g: VectorField, z: torch.Tensor, dt: float) -> torch.Tensor:
    """One classical Runge–Kutta step: z + dt/6 (k1 + 2k2 + 2k3 + k4)."""
    k1 = g(z)
    k2 = g(z + 0.5 * dt * k1)
    k3 = g(z + 0.5 * dt * k2)
    k4 = g(z + dt * k3)
    return z + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)


def rk4(g: VectorField, z0: torch.Tensor, dt: float, n_steps: int, substeps: int = 1) -> torch.Tensor:
    """Integrate dz/dt = g(z) from ``z0`` ([B, d]); returns ``[B, n_steps + 1, d]`` sampled every ``dt``.

    ``substeps`` RK4 steps of size ``dt / substeps`` are taken between saved points.
    """
    check_finite("z0", z0)
    if n_steps < 0 or substeps < 1:
        raise ValueError("n_steps must be >= 0 and substeps >= 1")
    h = dt / substeps
    out = [z0]
    z = z0
    with torch.no_grad():
        for _ in range(n_steps):
            for _ in range(substeps):
                z = rk4_step(g, z, h)
            out.append(z)
    return torch.stack(out, dim=1)


def euler_maruyama(drift: VectorField, diffusion: VectorField, z0: torch.Tensor, dt: float,
                   n_steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Simulate dz = μ(z) dt + σ(z) dW; ``diffusion`` returns σ as ``[B, d, m]``.

    z_{k+1} = z_k + μ(z_k) Δt + σ(z_k) ΔW_k,  ΔW_k ~ N(0, Δt I_m). Returns ``[B, n_steps + 1, d]``.
    """
    check_finite("z0", z0)
    out = [z0]
    z = z0
    with torch.no_grad():
        for _ in range(n_steps):
            sigma = diffusion(z)
            dw = torch.randn(z.shape[0], sigma.shape[-1], 1, generator=generator,
                             dtype=z.dtype, device="cpu").to(z.device) * dt ** 0.5
            z = z + drift(z) * dt + (sigma @ dw).squeeze(-1)
            out.append(z)
    return torch.stack(out, dim=1)
