"""Partial evolution (paper 2; Algorithm 2 here, first line): one loop, :func:`evolve_random_patches`,
for every system that implements :class:`~support.stochastic.protocol.PatchDynamics`.

For every large snapshot ``x_t`` pick one patch ``I ~ U{0, …, K−1}`` (independently of ``x_t``),
extract it with its frozen halo (and the system's frozen global context, for mean-field systems),
evolve *only that patch* for ``n_steps`` microscopic steps with the small-system simulator, and
store ``(x_t, I, x_{t+δt, I}, δt)``. Nothing outside ``I`` changes, so the cost per sample is that
of the small system (``n_s`` sites), not of the large one (``n = K n_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..budget import ForceBudget
from ..systems.stochastic_base import StochasticSystem, as_generator
from .patches import PatchGrid
from .protocol import PatchDynamics, check_patch_dynamics


@dataclass
class PartialSample:
    """Training data of partial evolution.

    Attributes:
        x_t: large snapshots ``[N, C, *S]``.
        index: the evolved patch per snapshot ``[N]`` (numbering of ``grid``).
        patch_next: the evolved patch interior ``x_{t+δt, I}`` ``[N, C, *p]``.
        dt: elapsed time per sample ``[N]``.
        grid: the patch decomposition (``grid.n_patches`` = K).
    """

    x_t: torch.Tensor
    index: torch.Tensor
    patch_next: torch.Tensor
    dt: torch.Tensor
    grid: PatchGrid

    def __len__(self) -> int:
        return self.x_t.shape[0]

    @property
    def n_patches(self) -> int:
        return self.grid.n_patches

    def patch_now(self) -> torch.Tensor:
        """``x_{t, I}`` ``[N, C, *p]`` (the patch before evolution, read from ``x_t``)."""
        return self.grid.extract(self.x_t, self.index)


def sample_patch_indices(n: int, n_patches: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` i.i.d. uniform patch indices in ``[0, n_patches)``."""
    if n <= 0 or n_patches <= 0:
        raise ValueError(f"need n > 0 and n_patches > 0, got {n} and {n_patches}")
    return torch.randint(0, n_patches, (n,), generator=generator, device=generator.device).cpu()


def evolve_chosen_patches(system: StochasticSystem, grid: PatchGrid, x_t: torch.Tensor,
                          index: torch.Tensor, n_steps: int, generator: torch.Generator,
                          budget: ForceBudget | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Evolve patch ``index[b]`` of every ``x_t[b]`` with its frozen halo; returns ``(patch, dt)``."""
    index = grid.check_index(index.to(x_t.device), x_t.shape[0])
    origins = grid.origins(index)
    window = grid.extract(x_t, index, halo=system.halo)
    context = system.patch_context(x_t, origins, grid.patch_shape)
    out = system.run_patch(window, n_steps, generator, context=context, budget=budget)
    return out.x, out.dt


@dataclass(frozen=True)
class RandomPatches:
    """The output of :func:`evolve_random_patches`, in the system's own array types.

    Attributes:
        which: the configuration of each pair ``[n]`` (numpy ints; ``per_snapshot`` pairs each).
        index: the evolved patch of each pair ``[n]`` (as the system's ``draw_patches`` gave it).
        patches: the evolved patch interiors ``x_{t+δt, I}`` ``[n, …]``.
        info: what the simulator reported per patch (events done, or elapsed time) ``[n]``.
    """

    which: np.ndarray
    index: Any
    patches: Any
    info: Any


def evolve_random_patches(dynamics: PatchDynamics, x: Any, rng: Any, *, per_snapshot: int = 1,
                          batch_size: int | None = None, progress: bool = False) -> RandomPatches:
    r"""Partial evolution (paper 2): for every configuration ``x[b]`` draw
    ``I ~ U{0, …, K−1}`` (``per_snapshot`` times) and evolve only patch ``I`` for δt.

    The one loop for every system; ``dynamics`` (a :class:`~support.stochastic.protocol.PatchDynamics`)
    draws the patches and evolves them in its own array type and random stream, all at once
    (``batch_size=None``) or in chunks of ``batch_size`` pairs (bounded memory). Nothing outside
    the patch changes, so a pair costs what the small system costs.
    """
    check_patch_dynamics(dynamics)
    if not isinstance(per_snapshot, int) or isinstance(per_snapshot, bool) or per_snapshot < 1:
        raise ValueError(f"per_snapshot must be an int >= 1, got {per_snapshot!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be None or an int >= 1, got {batch_size!r}")
    if len(x) == 0:
        raise ValueError("no configurations to evolve")
    which = np.repeat(np.arange(len(x)), per_snapshot)
    n = len(which)
    index = dynamics.draw_patches(x, n, rng)
    size = batch_size or n
    parts = []
    for lo in tqdm(range(0, n, size), total=math.ceil(n / size), desc="partial evolution",
                   disable=not progress, leave=False):
        parts.append(dynamics.evolve_patches(x, index[lo:lo + size], which[lo:lo + size], rng))
    if len(parts) == 1:
        patches, info = parts[0]
    else:
        if not isinstance(parts[0][1], (np.ndarray, torch.Tensor)):
            raise TypeError(f"{type(dynamics).__name__} reports {type(parts[0][1]).__name__} per batch, "
                            "which cannot be joined: use batch_size=None")
        cat = torch.cat if isinstance(parts[0][0], torch.Tensor) else np.concatenate
        patches, info = cat([p for p, _ in parts]), cat([i for _, i in parts])
    return RandomPatches(which=which, index=index, patches=patches, info=info)


@dataclass(frozen=True)
class GridPatchDynamics:
    """:class:`~support.stochastic.protocol.PatchDynamics` of a torch
    :class:`~support.systems.stochastic_base.StochasticSystem` on a :class:`PatchGrid`: uniform
    patch numbers from a torch generator, ``n_steps`` microscopic steps of each patch with its
    frozen halo (and the system's frozen global context), cost charged to ``budget``."""

    system: StochasticSystem
    grid: PatchGrid
    n_steps: int
    budget: ForceBudget | None = field(default=None, compare=False)

    def draw_patches(self, x: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
        return sample_patch_indices(n, self.grid.n_patches, rng)

    def evolve_patches(self, x: torch.Tensor, index: torch.Tensor, which: np.ndarray,
                       rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if len(which) and np.array_equal(which, np.arange(which[0], which[0] + len(which))):
            chosen = x[int(which[0]):int(which[0]) + len(which)]        # contiguous: a view, no copy
        else:
            chosen = x[torch.as_tensor(which, device=x.device)]
        return evolve_chosen_patches(self.system, self.grid, chosen, index, self.n_steps, rng, self.budget)

    def upsample(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        raise NotImplementedError("GridPatchDynamics evolves patches; see upsampling.GridUpsampling")

    def relax(self, x: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, None]:
        raise NotImplementedError("GridPatchDynamics evolves patches; see upsampling.GridUpsampling")


def partial_evolution(system: StochasticSystem, grid: PatchGrid, x_t: torch.Tensor,
                      n_steps: int, generator: int | torch.Generator, *,
                      budget: ForceBudget | None = None, batch_size: int | None = None,
                      progress: bool = False) -> PartialSample:
    """:func:`evolve_random_patches` for a torch system on ``x_t [N, C, *S]`` (one patch each).

    Args:
        system: the microscopic system (its ``halo``, ``boundary`` and ``evolve_patch`` are used).
        grid: the patch decomposition; its boundary must be the system's.
        x_t: large snapshots, e.g. from hierarchical upsampling.
        n_steps: microscopic steps per patch (one Euler–Maruyama step, ``n_s`` spin-flip events…).
        generator: seed or ``torch.Generator`` (patch choice and dynamics noise).
        budget: charged with the small-system cost (kind ``system.cost_kind``).
        batch_size: snapshots per call of the simulator (memory); ``None``: all at once.
    """
    system.check_state("x_t", x_t)
    if tuple(x_t.shape[2:]) != grid.spatial_shape:
        raise ValueError(f"x_t has grid {tuple(x_t.shape[2:])}, the patch grid expects "
                         f"{grid.spatial_shape}")
    if grid.boundary != system.boundary:
        raise ValueError(f"grid boundary {grid.boundary!r} differs from the system's "
                         f"{system.boundary!r}: the halo at the domain edge would be wrong")
    out = evolve_random_patches(GridPatchDynamics(system, grid, n_steps, budget), x_t,
                                as_generator(generator), batch_size=batch_size, progress=progress)
    return PartialSample(x_t=x_t, index=out.index.to(x_t.device), patch_next=out.patches,
                         dt=out.info, grid=grid)
