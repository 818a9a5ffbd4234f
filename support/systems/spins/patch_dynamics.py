r"""The spin simulators as paper 2's pipeline sees them: :class:`IsingDynamics` and
:class:`CurieWeissDynamics` implement :class:`~support.stochastic.protocol.PatchDynamics`, so one
partial evolution (:func:`support.stochastic.partial_evolution.evolve_random_patches`) and one
Algorithm 1 (:func:`support.stochastic.upsampling.upsample_hierarchically`) serve both.

Configurations are ``[B, L, L]`` int8 lattices of ±1 and random streams are numpy generators, as
in the numba kernels behind the hooks (:mod:`.ising`, :mod:`.curie_weiss`). A patch is one of the
``K = (L/ℓ)²`` tiles of side ℓ, numbered as :func:`.lattice.patch_origins` numbers them; it evolves
for the physical time ``dt`` (exact continuous-time Glauber dynamics) while the rest of the lattice
is frozen: its outside neighbours for Ising (a halo), the outside total spin for Curie–Weiss (the
mean field). The hooks report the events done per patch: the simulation cost of the training data.

Both are registered in :mod:`support.systems` (``get_system("ising", T=…)``) with the capability
``"patch_evolution"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import curie_weiss as cw
from . import ising
from ...budget import ForceBudget
from ...validation import check_choice
from .lattice import (charge, check_count, check_duration, check_field, check_patch, check_temperature,
                      patch_origins, windows)
from .observables import domain_wall_density, magnetisation


@dataclass(frozen=True)
class _SpinPatches:
    """Shared by the spin systems: uniform tiles of side ``ell``, evolved for the time ``dt``."""

    T: float
    h: float = 0.0
    ell: int = 8
    dt: float = 1.0
    #: charged with every flip the hooks do (kind ``"spin_flips"``): the cost of the training data
    budget: ForceBudget | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        check_temperature(self.T)
        check_field(self.h)
        check_count("ell", self.ell, 1)
        if check_duration(self.dt) <= 0:
            raise ValueError(f"dt must be > 0, got {self.dt!r}")

    def n_patches(self, x: np.ndarray) -> int:
        """K = (L/ℓ)² for lattices ``x [B, L, L]``."""
        side = check_patch(tuple(x.shape[-2:]), self.ell)
        return (x.shape[-2] // side) * (x.shape[-1] // side)

    def draw_patches(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform tile numbers ``I ~ U{0, …, K−1}``."""
        return rng.integers(0, self.n_patches(x), n)

    def origins(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Corners ``[n, 2]`` of tiles ``index``."""
        return patch_origins(tuple(x.shape[-2:]), self.ell, index)

    def tiles(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Tile ``index[i]`` of lattice ``x[i]`` (one index per lattice: pass ``x[which]``), ``[n, ℓ, ℓ]``
        (e.g. the patches as they were before :meth:`evolve_patches` moved them)."""
        return windows(x, self.origins(x, index), self.ell, halo=0)


@dataclass(frozen=True)
class IsingDynamics(_SpinPatches):
    """2-D Ising under Glauber dynamics (:mod:`.ising`), with the hooks of paper 2's pipeline.

    Attributes:
        T, h: temperature and field; ``ell``, ``dt``: patch side and evolution time of a pair.
        boundary: rule around an evolved tile, ``"frozen"`` (its neighbours held fixed: exactly the
            full system's rates inside; the book's rule) or ``"periodic"`` (the tile as a small torus;
            the official code). A tile that is the whole lattice (ℓ = L) always evolves periodically.
        relax_window, relax_time: LocalRelax evolves overlapping windows of side
            ``min(relax_window, L/2)`` (stride half a window, raster order) for ``relax_time`` each;
            0 only replicates.
        relax_boundary: the rule around a relaxation window (as ``boundary``).
    """

    boundary: str = "frozen"
    relax_window: int = 8
    relax_time: float = 0.0
    relax_boundary: str = "frozen"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("boundary", self.boundary, ising.BOUNDARIES)
        check_choice("relax_boundary", self.relax_boundary, ising.BOUNDARIES)
        check_count("relax_window", self.relax_window, 1)
        check_duration(self.relax_time)

    def observables(self, x: np.ndarray) -> np.ndarray:
        """φ*(x) = (m, ρ_dw) ``[B, 2]``."""
        return np.column_stack([magnetisation(x), domain_wall_density(x)])

    def evolve_patches(self, x: np.ndarray, index: np.ndarray, which: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Tiles ``index`` of lattices ``x[which]`` after ``dt``: ``(patches [n, ℓ, ℓ], events [n])``."""
        boundary = "periodic" if self.ell == x.shape[-1] else self.boundary
        patches, events = ising.evolve_patches_for_time(x, self.origins(x, index), self.ell, self.dt,
                                                        self.T, self.h, seed=rng, boundary=boundary,
                                                        lattice_index=which)
        charge(self.budget, events)
        return patches, events

    def upsample(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Every spin becomes a 2×2 block (the official Upsample)."""
        return ising.replicate(x, 2)

    def relax(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """:func:`.ising.local_relax` in windows of ``min(relax_window, L/2)``; events per lattice."""
        if self.relax_time <= 0:
            return x, np.zeros(len(x), np.int64)
        x, events = ising.local_relax(x, min(self.relax_window, x.shape[-1] // 2), self.relax_time,
                                      self.T, self.h, seed=rng, boundary=self.relax_boundary,
                                      return_events=True)
        charge(self.budget, events)
        return x, events


@dataclass(frozen=True)
class CurieWeissDynamics(_SpinPatches):
    """Curie–Weiss spins under Glauber dynamics (:mod:`.curie_weiss`), with the hooks of paper 2.

    A tile evolves in the frozen field of the spins outside it (``mean_field="global"``, the exact rates;
    ``"patch"``: the tile's own mean field, the official code). Upsample enlarges by ``factor`` per
    side at once and places the spins uniformly at random, which is already the exact relaxed state
    (the spins are exchangeable: see :func:`.curie_weiss.upsample`), so LocalRelax is the identity.
    """

    mean_field: str = "global"
    factor: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("mean_field", self.mean_field, ("global", "patch"))
        check_count("factor", self.factor, 1)

    def observables(self, x: np.ndarray) -> np.ndarray:
        """φ*(x) = m ``[B, 1]``."""
        return np.asarray(magnetisation(x), dtype=np.float64).reshape(-1, 1)

    def evolve_patches(self, x: np.ndarray, index: np.ndarray, which: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Tiles ``index`` of lattices ``x[which]`` after ``dt``: ``(patches [n, ℓ, ℓ], events [n])``."""
        patches, events = cw.evolve_patches_for_time(x, self.origins(x, index), self.ell, self.dt, self.T,
                                                     self.h, seed=rng, field=self.mean_field,
                                                     lattice_index=which)
        charge(self.budget, events)
        return patches, events

    def upsample(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Replicate by ``factor`` and permute the sites uniformly (exact relaxation)."""
        return cw.upsample(x, self.factor, rng)

    def relax(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        """The identity: the upsample's permutation is the exact relaxed state."""
        return x, None


def levels_to(side: int, L: int, factor: int = 2) -> int:
    """How many Upsample levels of ``factor`` take a lattice of side ``side`` to ``L`` (clear error
    unless ``L / side`` is a power of ``factor``)."""
    side, L, factor = check_count("side", side, 1), check_count("L", L, 1), check_count("factor", factor, 2)
    n = round(math.log(L / side, factor)) if L >= side else -1
    if n < 1 or side * factor ** n != L:
        raise ValueError(f"L = {L} is not the small side {side} times a power of {factor} (>= 1)")
    return n


def upsample_lattices(dynamics: Any, small: np.ndarray, L: int, rng: np.random.Generator) -> tuple:
    """Algorithm 1 for square lattices: ``small [n, s, s]`` to ``[n, L, L]`` and the relaxation
    events per lattice (:func:`support.stochastic.upsampling.upsample_hierarchically`); lattices
    already of side L are returned as they are (no events)."""
    from ...stochastic.upsampling import upsample_hierarchically
    if small.ndim != 3 or small.shape[1] != small.shape[2]:
        raise ValueError(f"need square small lattices [n, s, s], got {list(small.shape)}")
    if small.shape[-1] == L:                       # already the large size (a patch as large as L)
        return small, np.zeros(len(small), np.int64)
    factor = getattr(dynamics, "factor", 2)
    return upsample_hierarchically(dynamics, small, levels_to(small.shape[-1], L, factor), rng)
