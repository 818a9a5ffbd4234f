"""The protocol a spatially extended stochastic system implements to plug into paper 2's pipeline.

State layout, used by every module of ``support.stochastic``::

    x : [B, C, *S]      B samples, C fields per site (species, spin, ...), S the spatial grid
                        (1-D ``[n]``, 2-D ``[L, L]``, 3-D ``[L, L, L]``)

A system supplies

* ``observables(x) -> z*`` ``[B, d*]``: the prescribed macroscopic observables. They must be
  *patch means* (``φ*(x) = (1/K) Σ_J φ*(x_J)``) so that the same function applied to a patch gives
  the patch-local observable; set ``observables_exactly_additive = False`` when this holds only up
  to boundary terms (domain walls or SRO counted with wrap-around inside a patch);
* ``step(x, generator) -> StepResult``: one recorded step of the *whole* system under its global
  boundary rule (``boundary``); :meth:`StochasticSystem.simulate` loops it;
* ``evolve_patch(window, n_steps, generator, context) -> StepResult``: the *small-system*
  simulator. ``window`` is a patch with a frozen halo of width ``halo`` on every side
  (``[B, C, *(p + 2 halo)]``); the halo values are boundary data and never change; the result is
  the evolved patch interior ``[B, C, *p]``, the elapsed time per sample and the cost.

The one boundary rule for patch evolution is the **frozen halo** (ghost cells copied from the
neighbouring values of the large state and held fixed). Mean-field systems, whose rates depend
on the whole system, set ``halo = 0`` and override :meth:`StochasticSystem.patch_context` to
return the frozen global field instead (e.g. the total spin *outside* the patch, for
Curie–Weiss); that object is passed to ``evolve_patch`` as ``context``.

Every microscopic update is a cost unit (``cost_kind``, default ``"site_updates"``: one site
updated once — one grid point in one Euler–Maruyama step, one spin-flip attempt/event, one KMC
hop), charged to a :class:`~support.budget.ForceBudget` by the generic drivers
(:meth:`simulate`, :meth:`run_patch`).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from ..budget import ForceBudget
from .base import MicroscopicSystem

#: global boundary rules for the large system (and for the halo at the edge of the domain)
BOUNDARIES = ("periodic", "replicate")


class StepResult(NamedTuple):
    """What a (patch or full) evolution returns: ``x, dt, cost = system.evolve_patch(...)``.

    Attributes:
        x: the evolved state (patch interior ``[B, C, *p]`` or full state ``[B, C, *S]``).
        dt: elapsed physical time per sample, ``[B]`` (constant for SDE integrators, random for
            continuous-time Monte Carlo).
        cost: microscopic cost units spent (summed over the batch).
    """

    x: torch.Tensor
    dt: torch.Tensor
    cost: int


@dataclass
class StochasticPaths:
    """Sample paths of the full system: ``x [B, T + 1, C, *S]`` at times ``t [B, T + 1]``."""

    x: torch.Tensor
    t: torch.Tensor

    @property
    def n_paths(self) -> int:
        return self.x.shape[0]

    @property
    def n_times(self) -> int:
        return self.x.shape[1]

    def snapshots(self) -> torch.Tensor:
        """All configurations, path-major: ``[B * (T + 1), C, *S]``."""
        return self.x.flatten(0, 1)


def as_generator(seed: int | torch.Generator) -> torch.Generator:
    """A ``torch.Generator`` from a seed, or the generator itself (explicit seeding everywhere)."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator,
          like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise drawn from ``generator`` (on its device), with ``like``'s dtype/device."""
    return torch.randn(tuple(shape), generator=generator, dtype=like.dtype,
                       device=generator.device).to(like.device)


def rand(shape: tuple[int, ...] | torch.Size, generator: torch.Generator,
         like: torch.Tensor) -> torch.Tensor:
    """Uniform(0, 1) noise drawn from ``generator``, with ``like``'s dtype/device."""
    return torch.rand(tuple(shape), generator=generator, dtype=like.dtype,
                      device=generator.device).to(like.device)


class StochasticSystem(MicroscopicSystem):
    """Base class of the microscopic stochastic systems of paper 2 (see the module docstring);
    states are ``[B, C, *S]`` and φ*(x) are patch means, valid on a patch as on the whole system."""

    name: str = "stochastic system"
    #: fields per site (C in ``[B, C, *S]``)
    channels: int = 1
    #: number of spatial dimensions (len(S))
    spatial_dims: int = 1
    #: width of the frozen halo the patch simulator needs (stencil radius; 0 for mean field)
    halo: int = 1
    #: global boundary rule of the large system, also used for the halo at the domain edge
    boundary: str = "periodic"
    #: the budget label of one microscopic update
    cost_kind: str = "site_updates"
    #: False when φ*(x) = mean_J φ*(x_J) holds only up to boundary terms
    observables_exactly_additive: bool = True

    # ------------------------------------------------------------------ to implement
    # (and, from MicroscopicSystem: n_observables, observables)
    @abstractmethod
    def step(self, x: torch.Tensor, generator: torch.Generator) -> StepResult:
        """One recorded step of the full system ``[B, C, *S]`` under ``self.boundary``."""

    @abstractmethod
    def evolve_patch(self, window: torch.Tensor, n_steps: int, generator: torch.Generator,
                     context: Any = None) -> StepResult:
        """Evolve the interior of ``window`` (``[B, C, *(p + 2 halo)]``) with the halo frozen.

        ``n_steps`` counts the system's microscopic steps (Euler–Maruyama steps, spin-flip
        events, KMC hops). Returns the interior ``[B, C, *p]``, the elapsed time ``[B]`` and the
        cost. ``context`` is what :meth:`patch_context` returned (``None`` for local systems).
        """

    # ------------------------------------------------------------------ hooks
    def patch_context(self, x: torch.Tensor, origins: torch.Tensor,
                      patch_shape: tuple[int, ...]) -> Any:
        """Frozen data from *outside* the patch that the patch simulator needs besides the halo.

        ``x`` is the full state, ``origins`` ``[B, D]`` the patch corners. Local systems return
        ``None`` (the halo is all). Mean-field systems return the global field, e.g. the total spin
        outside the patch, which stays frozen while the patch evolves.
        """
        return None

    # ------------------------------------------------------------------ shared drivers
    def check_state(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``x`` must be ``[B, C, *S]`` with ``C = channels``, ``len(S) = spatial_dims``, finite."""
        if not torch.is_tensor(x):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        want = 2 + self.spatial_dims
        if x.dim() != want or x.shape[1] != self.channels or x.shape[0] == 0:
            raise ValueError(f"{name} must have shape [B, {self.channels}, "
                             f"{', '.join(['*'] * self.spatial_dims)}] with B > 0 for "
                             f"{self.name}; got {list(x.shape)}")
        if any(s == 0 for s in x.shape[2:]):
            raise ValueError(f"{name} has an empty spatial dimension: {list(x.shape)}")
        if torch.is_floating_point(x) and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains non-finite values (NaN or inf)")
        return x

    def simulate(self, x0: torch.Tensor, n_steps: int, generator: int | torch.Generator, *,
                 record_every: int = 1, budget: ForceBudget | None = None,
                 progress: bool = False) -> StochasticPaths:
        """Full-system paths: ``n_steps`` records, each ``record_every`` calls of :meth:`step`.

        Returns ``StochasticPaths`` with ``x [B, n_steps + 1, C, *S]`` (``x0`` first) and the
        cumulative time ``t [B, n_steps + 1]``; the cost is charged to ``budget``.
        """
        self.check_state("x0", x0)
        if not isinstance(n_steps, int) or n_steps < 0:
            raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}")
        if not isinstance(record_every, int) or record_every < 1:
            raise ValueError(f"record_every must be an int >= 1, got {record_every!r}")
        gen = as_generator(generator)
        x, t = x0, torch.zeros(x0.shape[0], dtype=torch.float64, device=x0.device)
        xs, ts = [x0], [t.clone()]
        for _ in tqdm(range(n_steps), desc=f"simulate {self.name}", disable=not progress,
                      leave=False):
            for _ in range(record_every):
                t0 = time.perf_counter()
                x, dt, cost = self.step(x, gen)
                if budget is not None:
                    budget.charge(cost, self.cost_kind, time.perf_counter() - t0)
                t = t + dt.to(t.dtype)
            xs.append(x)
            ts.append(t.clone())
        return StochasticPaths(x=torch.stack(xs, dim=1), t=torch.stack(ts, dim=1))

    def run_patch(self, window: torch.Tensor, n_steps: int, generator: torch.Generator,
                  context: Any = None, budget: ForceBudget | None = None) -> StepResult:
        """Validated, budgeted call of :meth:`evolve_patch` (used by every generic driver)."""
        self.check_state("window", window)
        h = self.halo
        if any(s <= 2 * h for s in window.shape[2:]):
            raise ValueError(f"window {list(window.shape)} leaves no interior inside a halo of "
                             f"width {h}")
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
        t0 = time.perf_counter()
        out = self.evolve_patch(window, n_steps, generator, context)
        if budget is not None:
            budget.charge(out.cost, self.cost_kind, time.perf_counter() - t0)
        want = list(window.shape[:2]) + [s - 2 * h for s in window.shape[2:]]
        if list(out.x.shape) != want:
            raise RuntimeError(f"{self.name}.evolve_patch returned {list(out.x.shape)}, "
                               f"expected the interior {want}")
        if out.dt.shape != (window.shape[0],):
            raise RuntimeError(f"{self.name}.evolve_patch returned dt of shape "
                               f"{list(out.dt.shape)}, expected [{window.shape[0]}]")
        return out
