r"""Spatial predator–prey PDE of paper 1 (its Fig. 2), with a partial force oracle.

On 50 cells of [0, 1] (cell centres x_i = (i + ½)/50) the state is x = [u; v] ∈ R^100 and

.. math::  u_t = u(1 - u - v),\qquad v_t = a\,v\,(u - b) + Δ_h v,\qquad a = 3,\ b = 0.4,

with the official code's **unscaled** Laplacian Δ_h v_i = v_{i+1} − 2v_i + v_{i−1} (no 1/h²) and
replication (Neumann) boundaries. In physical units this is a diffusion constant D_v = h² = 4·10⁻⁴
on [0, 1]; the prey does not diffuse (D_u = 0).

Initial conditions: u₀ = β + α cos(5πx), v₀ = 1 − β − α cos(5πx), α ~ U(0, 0.2), β ~ U(0.4, 0.6).
Training trajectories: forward Euler, dt = 0.01, every 10th step kept (Δt = 0.1), T = 30.
Test trajectories: RK4, dt = 0.01, on fresh initial conditions (another seed).

Force units are grid values: f_i needs x_i and at most its two neighbours, so f_I costs O(|I|).
"""

from __future__ import annotations

import torch
from .base import DeterministicSystem, Trajectories
from .integrate import ode_frames



def reaction(u: torch.Tensor, v: torch.Tensor, a: float, b: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The local kinetics of the predator–prey model, ``(u(1 − u − v), a v (u − b))``; the PDE here
    and the SPDE of paper 2 (:mod:`support.systems.spde_predator_prey`) add their own diffusion."""
    return u * (1 - u - v), a * v * (u - b)

class PredatorPreySystem(DeterministicSystem):
    """u, v on ``n_cells`` cells; observables z* = (ū, v̄)."""

    name = "predator_prey"
    unit_name = "grid value"

    def __init__(self, n_cells: int = 50, a: float = 3.0, b: float = 0.4, d_u: float = 0.0,
                 d_v: float = 1.0, dtype: torch.dtype = torch.float32) -> None:
        if n_cells < 3:
            raise ValueError("need at least 3 cells")
        self.n_cells, self.a, self.b, self.d_u, self.d_v, self.dtype = n_cells, a, b, d_u, d_v, dtype

    @property
    def state_dim(self) -> int:
        return 2 * self.n_cells

    @property
    def n_observables(self) -> int:
        return 2

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """(ū, v̄): the mean prey and predator densities."""
        n = self.n_cells
        return torch.stack([x[:, :n].mean(-1), x[:, n:].mean(-1)], dim=-1)

    def rhs(self, x: torch.Tensor) -> torch.Tensor:
        """The full right-hand side f(x) (used by the integrators; training buys forces via ``force``)."""
        n = self.n_cells
        u, v = x[:, :n], x[:, n:]
        lap = lambda w: torch.cat([w[:, :1], w, w[:, -1:]], 1).diff(2, dim=1)   # replicate pad
        ru, rv = reaction(u, v, self.a, self.b)
        return torch.cat([ru + self.d_u * lap(u), rv + self.d_v * lap(v)], dim=1)

    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """f on the requested rows only: gathers each row's own cell and its two neighbours."""
        n = self.n_cells
        cell = units % n
        is_v = units >= n
        u, v = x[:, :n], x[:, n:]
        left, right = (cell - 1).clamp(min=0), (cell + 1).clamp(max=n - 1)
        ui, vi = u.gather(1, cell), v.gather(1, cell)
        own = torch.where(is_v, x.gather(1, units), ui)
        field = torch.where(is_v, v.gather(1, left) + v.gather(1, right),
                            u.gather(1, left) + u.gather(1, right))
        lap = field - 2 * own
        ru, rv = reaction(ui, vi, self.a, self.b)
        return torch.where(is_v, rv + self.d_v * lap, ru + self.d_u * lap)

    def initial_conditions(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """u₀ = β + α cos(5πx), v₀ = 1 − β − α cos(5πx) with α ~ U(0, 0.2), β ~ U(0.4, 0.6)."""
        alpha = 0.2 * torch.rand(n, 1, generator=generator, dtype=torch.float64)
        beta = 0.4 + 0.2 * torch.rand(n, 1, generator=generator, dtype=torch.float64)
        return self.initial_conditions_from(alpha, beta)

    def initial_conditions_from(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        xs = (torch.arange(self.n_cells, dtype=torch.float64) + 0.5) / self.n_cells
        wave = alpha * torch.cos(5 * torch.pi * xs)
        return torch.cat([beta + wave, 1 - beta - wave], dim=1)

    def simulate(self, x0: torch.Tensor, method: str, dt: float = 0.01, n_steps: int = 3000,
                 save_every: int = 10, progress: bool = False) -> Trajectories:
        """Integrate from ``x0`` with ``"euler"`` or ``"rk4"`` (float64 internally)."""
        frames = list(ode_frames(self.rhs, x0.double(), method, dt, n_steps, save_every,
                                 progress=progress, desc=f"{self.name} {method}"))
        traj = torch.stack(frames, dim=1)
        return Trajectories(x=traj.to(self.dtype), dt=dt * save_every,
                            forces=self.rhs(traj.reshape(-1, self.state_dim)).reshape(traj.shape).to(self.dtype))

    def trajectories(self, n: int, seed: int, *, split: str = "train", t_end: float = 30.0,
                     save_every: int = 10, progress: bool = False) -> Trajectories:
        """Train: Euler from seed ``seed``; test: RK4 from an independent stream (``seed + 10⁶``)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        gen = torch.Generator().manual_seed(seed + (0 if split == "train" else 1_000_000))
        x0 = self.initial_conditions(n, gen)
        method = "euler" if split == "train" else "rk4"
        return self.simulate(x0, method, 0.01, int(round(t_end / 0.01)), save_every, progress)
