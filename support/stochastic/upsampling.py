"""Hierarchical upsampling (paper 2; Algorithm 1 here): Upsample, then LocalRelax, repeated — one loop,
:func:`upsample_hierarchically`, for every system that implements
:class:`~support.stochastic.protocol.PatchDynamics`; below, the hooks of the torch systems.

``D⁽⁰⁾`` = small-system snapshots; for each level, every configuration is enlarged by a factor
``m`` per spatial dimension (:func:`upsample`) and the artefacts of the enlargement are relaxed
by short microscopic dynamics in overlapping patches of the small-system size
(:func:`local_relax`). One boundary rule everywhere: each relaxation window is evolved with a
**frozen halo** read from the current large state (plus the system's frozen global context for
mean-field systems), exactly as in partial evolution.

Upsample modes:

* ``"replicate"``: every site becomes an ``m × … × m`` block (spins; the official CW/Ising rule);
* ``"linear"``: (bi/tri)linear interpolation of cell-centred fields to an ``m``-times finer grid
  (the official predator–prey rule; periodic fields are interpolated across the wrap);
* ``"tile"``: ``m^D`` independent configurations drawn from the current set placed side by side
  (the official alloy rule; for a domain enlarged at fixed grid spacing this is the natural one);
Beside the modes, not a ``mode=`` value (it ignores the inherited ``factor`` and ``mode``):
:class:`AlignedTileUpsampling` (:func:`aligned_tiles`) places the ``m`` realisations of one parameter
draw at one common time side by side (the stochastic predator–prey chapter's rule).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..budget import ForceBudget
from ..validation import check_choice
from ..systems.stochastic_base import BOUNDARIES, StochasticSystem, as_generator
from .patches import PatchGrid, as_shape, extract_window, write_window
from .protocol import PatchDynamics, check_patch_dynamics

UPSAMPLE_MODES = ("replicate", "linear", "tile")
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _pick(x: torch.Tensor, n_out: int | None, generator: torch.Generator | None) -> torch.Tensor:
    if n_out is None:
        return x
    if generator is None:
        raise ValueError("a generator is needed to draw n_out configurations")
    return x[torch.randint(0, x.shape[0], (n_out,), generator=generator).to(x.device)]


def _replicate(x: torch.Tensor, m: int) -> torch.Tensor:
    for d in range(2, x.dim()):
        x = x.repeat_interleave(m, dim=d)
    return x


def _linear(x: torch.Tensor, m: int, boundary: str) -> torch.Tensor:
    D = x.dim() - 2
    if D not in _LINEAR or not torch.is_floating_point(x):
        raise ValueError("linear upsampling needs a floating-point field with 1-3 spatial dims")
    if boundary == "replicate":
        return F.interpolate(x, scale_factor=m, mode=_LINEAR[D], align_corners=False)
    padded = F.pad(x, [1] * (2 * D), mode="circular")
    fine = F.interpolate(padded, scale_factor=m, mode=_LINEAR[D], align_corners=False)
    return fine[(slice(None), slice(None)) + (slice(m, -m),) * D]


def _tile(x: torch.Tensor, m: int, n_out: int, generator: torch.Generator) -> torch.Tensor:
    spatial = tuple(x.shape[2:])
    grid = PatchGrid(tuple(m * s for s in spatial), spatial)
    draws = torch.randint(0, x.shape[0], (n_out, grid.n_patches), generator=generator)
    return grid.merge(x[draws.to(x.device)])


def upsample(x: torch.Tensor, factor: int, *, mode: str = "replicate",
             boundary: str = "replicate", generator: int | torch.Generator | None = None,
             n_out: int | None = None) -> torch.Tensor:
    """Enlarge configurations ``x [N, C, *S]`` to ``[N', C, *(factor · S)]``.

    ``n_out`` configurations are drawn (with replacement, from ``generator``) when given; the
    default is one output per input. ``"tile"`` always needs a generator.
    """
    check_choice("upsample mode", mode, UPSAMPLE_MODES)
    check_choice("boundary", boundary, BOUNDARIES)
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"factor must be an int >= 1, got {factor!r}")
    if x.dim() < 3 or x.shape[0] == 0:
        raise ValueError(f"x must be [N > 0, C, *S], got {list(x.shape)}")
    if n_out is not None and n_out <= 0:
        raise ValueError(f"n_out must be positive, got {n_out}")
    gen = None if generator is None else as_generator(generator)
    if mode == "tile":
        if gen is None:
            raise ValueError("tile upsampling draws configurations: give a generator")
        return _tile(x, factor, n_out or x.shape[0], gen)
    x = _pick(x, n_out, gen)
    return _replicate(x, factor) if mode == "replicate" else _linear(x, factor, boundary)


def relax_origins(spatial_shape: Sequence[int], patch_shape: Sequence[int],
                  stride: Sequence[int], boundary: str) -> torch.Tensor:
    """Corners ``[W, D]`` of the overlapping relaxation windows, in raster (C) order.

    Periodic: starts ``0, s, 2s, … < n`` (windows wrap). Replicate: starts ``0, s, …`` up to
    ``n − p``, plus ``n − p`` itself so that the last window reaches the edge.
    """
    check_choice("boundary", boundary, BOUNDARIES)
    starts = []
    for n, p, s in zip(spatial_shape, patch_shape, stride):
        if p > n:
            raise ValueError(f"relaxation window {tuple(patch_shape)} exceeds the grid "
                             f"{tuple(spatial_shape)}")
        if boundary == "periodic":
            starts.append(list(range(0, n, s)))
        else:
            st = list(range(0, n - p + 1, s))
            starts.append(st if st[-1] == n - p else st + [n - p])
    return torch.tensor(list(itertools.product(*starts)), dtype=torch.long)


def local_relax(system: StochasticSystem, x: torch.Tensor, patch_shape: Sequence[int],
                n_steps: int, generator: int | torch.Generator, *, n_sweeps: int = 1,
                stride: Sequence[int] | int | None = None, budget: ForceBudget | None = None,
                progress: bool = False) -> torch.Tensor:
    """Relax ``x [N, C, *S]`` by short dynamics in overlapping windows with a frozen halo.

    Each window (shape ``patch_shape``, corners from :func:`relax_origins`, default stride = half
    the window) is evolved ``n_steps`` microscopic steps with ``system.evolve_patch`` and written
    back before the next window is read; the raster is swept ``n_sweeps`` times. All ``N``
    configurations are relaxed together. Cost is charged to ``budget``.
    """
    system.check_state("x", x)
    p = as_shape("patch_shape", tuple(patch_shape), system.spatial_dims)
    s = tuple(max(1, q // 2) for q in p) if stride is None else as_shape("stride", stride, len(p))
    if not isinstance(n_sweeps, int) or n_sweeps < 1:
        raise ValueError(f"n_sweeps must be an int >= 1, got {n_sweeps!r}")
    origins = relax_origins(x.shape[2:], p, s, system.boundary).to(x.device)
    gen = as_generator(generator)
    x = x.clone()
    total = n_sweeps * origins.shape[0]
    bar = tqdm(total=total, desc="local relax", disable=not progress, leave=False)
    for _ in range(n_sweeps):
        for o in origins:
            corner = o.expand(x.shape[0], -1)
            window = extract_window(x, corner, p, halo=system.halo, boundary=system.boundary)
            context = system.patch_context(x, corner, p)
            out = system.run_patch(window, n_steps, gen, context=context, budget=budget)
            write_window(x, corner, out.x, boundary=system.boundary, inplace=True)
            bar.update(1)
    bar.close()
    return x


def upsample_hierarchically(dynamics: PatchDynamics, x_small: Any, n_levels: int, rng: Any, *,
                            progress: bool = False) -> tuple[Any, np.ndarray | None]:
    r"""Paper 2's hierarchical upsampling: ``D^{(k+1)} = LocalRelax(Upsample(D^{(k)}))``, ``n_levels`` times.

    The one loop for every system: ``dynamics`` (a :class:`~support.stochastic.protocol.PatchDynamics`)
    enlarges and relaxes in its own array type and random stream. Returns the large configurations
    and the relaxation cost per configuration summed over the levels (``None`` where the system
    reports none). The per-configuration sum follows a configuration through the levels only when
    Upsample keeps one output per input in order (replication); where it draws (tiles, ``n_out``)
    only the total, ``cost.sum()``, means something.
    """
    check_patch_dynamics(dynamics)
    if not isinstance(n_levels, int) or isinstance(n_levels, bool) or n_levels < 1:
        raise ValueError(f"n_levels must be an int >= 1, got {n_levels!r}")
    x, cost = x_small, None
    for _ in tqdm(range(n_levels), desc="upsampling", disable=not progress, leave=False):
        x = dynamics.upsample(x, rng)
        x, c = dynamics.relax(x, rng)
        if c is not None:
            cost = np.asarray(c) if cost is None else cost + np.asarray(c)
    return x, cost


@dataclass(frozen=True)
class GridUpsampling:
    """The Upsample and LocalRelax hooks of :class:`~support.stochastic.protocol.PatchDynamics`
    for a torch :class:`~support.systems.stochastic_base.StochasticSystem`: :func:`upsample` by
    ``factor`` (``mode``, ``n_out`` draws), then :func:`local_relax` (skipped when
    ``relax_steps = 0``: the official predator–prey pipeline interpolated without relaxing)."""

    system: StochasticSystem
    relax_patch_shape: Sequence[int]
    relax_steps: int
    factor: int = 2
    mode: str = "replicate"
    n_sweeps: int = 1
    stride: Sequence[int] | int | None = None
    n_out: int | None = None
    budget: ForceBudget | None = field(default=None, compare=False)
    progress: bool = False

    def draw_patches(self, x: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
        raise NotImplementedError("GridUpsampling upsamples; see partial_evolution.GridPatchDynamics")

    def evolve_patches(self, x, index, which, rng):
        raise NotImplementedError("GridUpsampling upsamples; see partial_evolution.GridPatchDynamics")

    def upsample(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return upsample(x, self.factor, mode=self.mode, boundary=self.system.boundary, generator=rng,
                        n_out=self.n_out)

    def relax(self, x: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, None]:
        if not self.relax_steps:
            return x, None
        return local_relax(self.system, x, self.relax_patch_shape, self.relax_steps, rng,
                           n_sweeps=self.n_sweeps, stride=self.stride, budget=self.budget,
                           progress=self.progress), None


def aligned_tiles(paths: torch.Tensor, n_out: int, gen: torch.Generator) -> torch.Tensor:
    """Upsample by tiling aligned realisations (1-D grids): large snapshot b puts side by side the
    ``factor`` independent realisations of one random group (e.g. one draw of a system's parameters)
    at one random recorded time: ``paths [G, factor, T, C, n] -> [n_out, C, factor · n]``. Unlike
    ``mode="tile"``, the tiles share their parameters and their time, so the large snapshot is a
    snapshot of one larger system up to its seams (the stochastic predator–prey chapter's rule)."""
    if paths.dim() != 5 or n_out <= 0:
        raise ValueError(f"need paths [groups, factor, T, C, n] and n_out > 0; got "
                         f"{list(paths.shape)}, {n_out}")
    n_groups, factor, n_times = paths.shape[:3]
    group = torch.randint(0, n_groups, (n_out,), generator=gen)
    t = torch.randint(0, n_times, (n_out,), generator=gen)
    tiles = paths[group, :, t]                                   # [n_out, factor, C, n]
    grid = PatchGrid((factor * paths.shape[-1],), (paths.shape[-1],))
    return grid.merge(tiles)


@dataclass(frozen=True)
class AlignedTileUpsampling(GridUpsampling):
    """:class:`GridUpsampling` whose Upsample hook is :func:`aligned_tiles` of the small paths
    ``[G, factor, T, C, n]`` (``n_out`` large snapshots); LocalRelax as in :class:`GridUpsampling`."""

    def upsample(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.n_out is None:
            raise ValueError("aligned tiles are drawn: give n_out, the number of large snapshots")
        return aligned_tiles(x, self.n_out, rng)


def hierarchical_upsample(system: StochasticSystem, x_small: torch.Tensor,
                          generator: int | torch.Generator, *, relax_patch_shape: Sequence[int],
                          relax_steps: int, factor: int = 2, n_levels: int = 1,
                          mode: str = "replicate", n_sweeps: int = 1,
                          stride: Sequence[int] | int | None = None, n_out: int | None = None,
                          budget: ForceBudget | None = None, progress: bool = False) -> torch.Tensor:
    """:func:`upsample_hierarchically` for a torch system: ``n_levels`` rounds of :func:`upsample`
    (by ``factor``) + :func:`local_relax`.

    Returns ``[N', C, *(factor^n_levels · S_small)]``; ``N'`` = ``n_out`` if given (drawn at
    every level), else ``len(x_small)``. ``relax_steps = 0`` skips the relaxation (the official
    predator–prey pipeline interpolated without relaxing).
    """
    system.check_state("x_small", x_small)
    if not isinstance(relax_steps, int) or relax_steps < 0:
        raise ValueError(f"relax_steps must be an int >= 0, got {relax_steps!r}")
    hooks = GridUpsampling(system, relax_patch_shape, relax_steps, factor=factor, mode=mode,
                           n_sweeps=n_sweeps, stride=stride, n_out=n_out, budget=budget, progress=progress)
    return upsample_hierarchically(hooks, x_small, n_levels, as_generator(generator))[0]
