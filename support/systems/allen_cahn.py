r"""The 2-D Allen–Cahn phase-field model of paper 1's Allen–Cahn experiment, with a partial force
oracle.

On an n×n grid of cell centres (i + ½)h, h = 1/n, the state is the phase field u ∈ R^{n²}
(N = n², row-major) and

.. math::  \dot u_{ij} = f_{ij}(u) = \frac{u_{ij} - u_{ij}^3}{ε^2} + \frac{(Δ_5 u)_{ij}}{h^2},
           \qquad (Δ_5 u)_{ij} = u_{i+1,j} + u_{i-1,j} + u_{i,j+1} + u_{i,j-1} - 4u_{ij},

with replication (zero-flux Neumann) ghost cells. ε is tied to the grid as in the official code:
the tanh profile u = tanh(s/(√2 ε)) climbs from −0.9 to 0.9 over ``interface_cells`` cells,
2√2 ε artanh(0.9) = ``interface_cells``·h, i.e. ε = 10h/(2√2 artanh 0.9) ≈ 0.012 on 200² (ε₁₀).

**Free energy** (the observable). The dynamics is the exact gradient flow f = −h⁻² ∇_u E of

.. math::  E(u) = h^2 \sum_{ij} \frac{(u_{ij}^2 - 1)^2}{4ε^2}
               + \frac12 \sum_{\text{grid edges } (a,b)} (u_a - u_b)^2,

the forward-difference discretisation of ∫ [(u² − 1)²/(4ε²) + ½|∇u|²] dx (h² · ½((u_a − u_b)/h)²
per edge; edges to ghost cells vanish). Hence dE/dt = ∇E · f = −h² ‖f‖² ≤ 0 along the flow: E is
a Lyapunov function. Paper 1's encoder uses central differences ((u_{i+1} − u_{i−1})/(2h)), which
are not the energy of this flow (``energy_stencil="central"`` gives that one; it differs by a few %
on a resolved interface). Note ∇E = −h² f: the observable's Jacobian row *is* the full force.

**Sharp-interface law** (the independent check). For ε → 0 an interface moves by mean curvature
with unit mobility: the normal velocity is V = −κ (write u_t = Δu − W'(u)/ε², W = (u² − 1)²/4;
matched asymptotics give V = −κ), so a circle of radius r obeys ṙ = −1/r, r(t)² = r₀² − 2t. Its
energy per length is the 1-D profile's, σ = ∫ [½u'² + W(u)/ε²] ds = ∫ u'² ds (equipartition) with
u' = sech²(s/(√2ε))/(√2ε), so σ = (1/(2ε²))·√2ε·∫sech⁴ = (1/(√2ε))·(4/3) = 2√2/(3ε). An annulus
(u = +1 for r₂ < r < r₁) has two circular interfaces, both shrinking, hence

.. math::  E(t) ≈ \frac{2\sqrt2}{3ε}\, 2π \Big[\sqrt{r_1^2 - 2t} + \sqrt{r_2^2 - 2t}\Big],

each root counted while positive (the hole closes at t = r₂²/2, the ring at r₁²/2). Corrections are
O(ε/r) and O(h²/ε²). :meth:`AllenCahnSystem.sharp_interface_energy` implements it.

Initial conditions (official): u₀ = tanh((r₁ − r)/(√2ε)) − tanh((r₂ − r)/(√2ε)) − 1 around
(½, ½), r₁ ~ U(0.30, 0.40), r₂ ~ U(0.10, 0.15). RK4 with dt = 0.1h² to T = 0.1 (40,000 steps on
200²), a frame every ``save_every`` steps.

Force units are grid values: f_ij needs u_ij and its four neighbours, so f_I costs O(|I|).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ..validation import check_choice
from .base import DeterministicSystem, Trajectories
from .integrate import ode_frames

ENERGY_STENCILS = ("forward", "central")


class AllenCahnSystem(DeterministicSystem):
    """u on an ``n × n`` grid of [0, 1]²; observable z* = (E,), the free energy."""

    name = "allen_cahn"
    unit_name = "grid value"

    def __init__(self, n: int = 200, interface_cells: float = 10.0, energy_stencil: str = "forward",
                 dt_factor: float = 0.1, t_end: float = 0.1, dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(n, int) or n < 8:
            raise ValueError(f"grid side n must be an int >= 8, got {n!r}")
        if not interface_cells > 0 or not 0 < dt_factor <= 0.3 or not t_end > 0:
            raise ValueError("need interface_cells > 0, 0 < dt_factor <= 0.3 (RK4 stability of the "
                             f"Laplacian) and t_end > 0; got {interface_cells}, {dt_factor}, {t_end}")
        self.n, self.h = n, 1.0 / n
        self.interface_cells = float(interface_cells)
        self.eps = interface_cells * self.h / (2 * math.sqrt(2) * math.atanh(0.9))
        self.energy_stencil = check_choice("energy_stencil", energy_stencil, list(ENERGY_STENCILS))
        self.dt_factor, self.t_end, self.dtype = dt_factor, t_end, dtype

    # ------------------------------------------------------------------ sizes and time grid
    @property
    def state_dim(self) -> int:
        return self.n * self.n

    @property
    def n_observables(self) -> int:
        return 1

    @property
    def dt(self) -> float:
        """The RK4 step dt_factor · h² (0.1h² in the official code)."""
        return self.dt_factor * self.h ** 2

    @property
    def n_steps(self) -> int:
        """RK4 steps to reach ``t_end``."""
        return int(round(self.t_end / self.dt))

    @property
    def surface_tension(self) -> float:
        """σ = 2√2/(3ε), the energy per unit length of a flat interface."""
        return 2 * math.sqrt(2) / (3 * self.eps)

    # ------------------------------------------------------------------ physics
    def _grid(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.n, self.n)

    def rhs(self, x: torch.Tensor) -> torch.Tensor:
        """The full right-hand side f(x) ``[B, N]`` (integrators; training buys forces via ``force``)."""
        u = self._grid(x)
        p = F.pad(u.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
        lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * u
        return ((u - u ** 3) / self.eps ** 2 + lap / self.h ** 2).reshape(x.shape)

    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """f on the requested grid values only: each gathers itself and its four (clamped)
        neighbours — 5 reads per unit, whatever N is."""
        n = self.n
        i, j = units // n, units % n
        own = x.gather(1, units)
        nb = sum(x.gather(1, ii * n + jj) for ii, jj in (((i - 1).clamp(min=0), j), ((i + 1).clamp(max=n - 1), j),
                                                         (i, (j - 1).clamp(min=0)), (i, (j + 1).clamp(max=n - 1))))
        return (own - own ** 3) / self.eps ** 2 + (nb - 4 * own) / self.h ** 2

    def energy(self, x: torch.Tensor, stencil: str | None = None) -> torch.Tensor:
        """Free energy E ``[B]`` (differentiable), with the system's stencil unless ``stencil`` is given."""
        stencil = check_choice("stencil", stencil or self.energy_stencil, list(ENERGY_STENCILS))
        u = self._grid(x)
        bulk = self.h ** 2 * ((u ** 2 - 1) ** 2).sum((1, 2)) / (4 * self.eps ** 2)
        if stencil == "forward":
            grad = 0.5 * (u.diff(dim=1).pow(2).sum((1, 2)) + u.diff(dim=2).pow(2).sum((1, 2)))
        else:          # paper 1's encoder: central differences with replication padding
            p = F.pad(u.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
            gi, gj = p[:, 2:, 1:-1] - p[:, :-2, 1:-1], p[:, 1:-1, 2:] - p[:, 1:-1, :-2]
            grad = (gi.pow(2) + gj.pow(2)).sum((1, 2)) / 8          # h²·½·(Δ/2h)²
        return bulk + grad

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """z* = (E,) ``[B, 1]``."""
        return self.energy(x).unsqueeze(-1)

    def sharp_interface_energy(self, r1: torch.Tensor, r2: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E(t) ≈ σ·2π[√(r₁² − 2t) + √(r₂² − 2t)] (roots counted while positive); broadcasts."""
        roots = (r1 ** 2 - 2 * t).clamp(min=0).sqrt() + (r2 ** 2 - 2 * t).clamp(min=0).sqrt()
        return self.surface_tension * 2 * math.pi * roots

    # ------------------------------------------------------------------ initial conditions
    def draw_radii(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """r₁ ~ U(0.30, 0.40), r₂ ~ U(0.10, 0.15), each ``[n]`` (float64)."""
        r1 = 0.3 + 0.1 * torch.rand(n, generator=generator, dtype=torch.float64)
        r2 = 0.1 + 0.05 * torch.rand(n, generator=generator, dtype=torch.float64)
        return r1, r2

    def annulus(self, r1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        """u₀ = tanh((r₁ − r)/(√2ε)) − tanh((r₂ − r)/(√2ε)) − 1 ``[n_ic, N]`` (float64)."""
        c = (torch.arange(self.n, dtype=torch.float64) + 0.5) * self.h - 0.5
        r = torch.sqrt(c[:, None] ** 2 + c[None, :] ** 2).reshape(1, -1)
        w = math.sqrt(2) * self.eps
        r1, r2 = r1.reshape(-1, 1).double(), r2.reshape(-1, 1).double()
        return torch.tanh((r1 - r) / w) - torch.tanh((r2 - r) / w) - 1

    # ------------------------------------------------------------------ trajectories
    def save_every(self, n_frames: int) -> int:
        """RK4 steps between saved frames for ``n_frames`` intervals over [0, t_end] (rounded: the
        trajectory runs n_frames · save_every steps, ≈ t_end)."""
        if not isinstance(n_frames, int) or not 1 <= n_frames <= self.n_steps:
            raise ValueError(f"n_frames must be an int in [1, {self.n_steps}], got {n_frames!r}")
        return max(1, round(self.n_steps / n_frames))

    def frames(self, x0: torch.Tensor, n_frames: int, progress: bool = False) -> Iterator[torch.Tensor]:
        """Yield the n_frames + 1 saved states ``[B, N]`` of RK4 trajectories from ``x0`` (float64,
        on x0's device), one frame at a time — nothing of size T·N is held."""
        every = self.save_every(n_frames)
        yield from ode_frames(self.rhs, x0.double(), "rk4", self.dt, n_frames * every, every,
                              progress=progress, desc=f"{self.name} {self.n}² RK4")

    def simulate(self, x0: torch.Tensor, n_frames: int, progress: bool = False) -> Trajectories:
        """Whole trajectories ``[B, n_frames + 1, N]`` (small grids only: tests, figures)."""
        x = torch.stack(list(self.frames(x0, n_frames, progress)), dim=1)
        return Trajectories(x=x.to(self.dtype), dt=self.dt * self.save_every(n_frames))

    def initial_states(self, n: int, seed: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Radii (r₁, r₂) of the ``n`` initial annuli of ``split`` (test: independent stream ``seed + 10⁶``)."""
        check_choice("split", split, ["train", "test"])
        gen = torch.Generator().manual_seed(seed + (0 if split == "train" else 1_000_000))
        return self.draw_radii(n, gen)

    def trajectories(self, n: int, seed: int, *, split: str = "train", n_frames: int = 100,
                     progress: bool = False) -> Trajectories:
        """``n`` RK4 trajectories from annuli of ``split`` (see :meth:`initial_states`)."""
        r1, r2 = self.initial_states(n, seed, split)
        return self.simulate(self.annulus(r1, r2), n_frames, progress)
