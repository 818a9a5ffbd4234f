"""Partial evolution (paper 2, Algorithm 2, first line).

For every large snapshot ``x_t`` pick one patch ``I ~ U{0, …, K−1}`` (independently of ``x_t``),
extract it with its frozen halo (and the system's frozen global context, for mean-field systems),
evolve *only that patch* for ``n_steps`` microscopic steps with the small-system simulator, and
store ``(x_t, I, x_{t+δt, I}, δt)``. Nothing outside ``I`` changes, so the cost per sample is that
of the small system (``n_s`` sites), not of the large one (``n = K n_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..budget import ForceBudget
from ..systems.stochastic_base import StochasticSystem, as_generator
from .patches import PatchGrid


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


def partial_evolution(system: StochasticSystem, grid: PatchGrid, x_t: torch.Tensor,
                      n_steps: int, generator: int | torch.Generator, *,
                      budget: ForceBudget | None = None, batch_size: int | None = None,
                      progress: bool = False) -> PartialSample:
    """Run partial evolution on every snapshot of ``x_t [N, C, *S]`` (one patch per snapshot).

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
    gen = as_generator(generator)
    n = x_t.shape[0]
    index = sample_patch_indices(n, grid.n_patches, gen)
    size = batch_size or n
    chunks = range(0, n, size)
    patches, dts = [], []
    for lo in tqdm(chunks, total=math.ceil(n / size), desc="partial evolution",
                   disable=not progress, leave=False):
        p, dt = evolve_chosen_patches(system, grid, x_t[lo:lo + size], index[lo:lo + size],
                                      n_steps, gen, budget)
        patches.append(p)
        dts.append(dt)
    return PartialSample(x_t=x_t, index=index.to(x_t.device), patch_next=torch.cat(patches),
                         dt=torch.cat(dts), grid=grid)
