"""Patch decomposition of a spatial state, in any number of spatial dimensions.

A state ``x [B, *ch, *S]`` (batch first, any channel dimensions, then ``D`` spatial dimensions)
is cut into ``K = Π_d S_d / p_d`` non-overlapping patches of shape ``p``. Patches are numbered in
C order of their block coordinates: patch ``J`` has block coordinates
``c = unravel_index(J, S / p)`` and corner (origin) ``c · p``.

Windows (a patch plus a halo of width ``h`` on every side, or any box at any corner) are read
with a boundary rule at the edge of the global domain:

* ``"periodic"``: coordinates wrap modulo ``S_d``;
* ``"replicate"`` (Neumann / zero-flux ghost cells): coordinates are clamped to ``[0, S_d − 1]``.

The halo read this way is the *frozen halo* of partial evolution and local relaxation: the values
of the neighbouring sites at the moment the patch is extracted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..validation import check_choice
from ..systems.stochastic_base import BOUNDARIES


def as_shape(name: str, shape: int | Sequence[int], n_dims: int | None = None) -> tuple[int, ...]:
    """A tuple of positive ints (an int is broadcast to ``n_dims`` dimensions)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        if n_dims is None:
            shape = (shape,)
        else:
            shape = (shape,) * n_dims
    shape = tuple(shape)
    if not shape or any(not isinstance(s, int) or isinstance(s, bool) or s <= 0 for s in shape):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {shape!r}")
    if n_dims is not None and len(shape) != n_dims:
        raise ValueError(f"{name} must have {n_dims} dimension(s), got {shape!r}")
    return shape


def _check_spatial(name: str, x: torch.Tensor, spatial_shape: tuple[int, ...]) -> None:
    d = len(spatial_shape)
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < d + 1 or tuple(x.shape[x.dim() - d:]) != spatial_shape or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape [B > 0, *channels, {', '.join(map(str, spatial_shape))}]"
                         f", got {list(x.shape)}")


def _check_origins(origins: torch.Tensor, batch: int, n_dims: int) -> torch.Tensor:
    if not torch.is_tensor(origins) or origins.dtype not in (torch.int64, torch.int32):
        raise TypeError("origins must be an integer tensor of shape [B, D]")
    if origins.shape != (batch, n_dims):
        raise ValueError(f"origins must have shape [{batch}, {n_dims}], got {list(origins.shape)}")
    return origins.long()


def window_coords(origins: torch.Tensor, size: tuple[int, ...], halo: int,
                  spatial_shape: tuple[int, ...], boundary: str) -> list[torch.Tensor]:
    """Global coordinates of a window per dimension: ``[B, size_d + 2 halo]`` each.

    Coordinate ``origin_d − halo + k`` is wrapped (periodic) or clamped (replicate).
    """
    check_choice("boundary", boundary, BOUNDARIES)
    coords = []
    for d, (w, n) in enumerate(zip(size, spatial_shape)):
        c = origins[:, d:d + 1] - halo + torch.arange(w + 2 * halo, device=origins.device)
        coords.append(c.remainder(n) if boundary == "periodic" else c.clamp(0, n - 1))
    return coords


def _index_tuple(coords: list[torch.Tensor], batch: int, device: torch.device) -> tuple:
    """Broadcastable advanced-index tuple (batch, coord_0, ..., coord_{D-1})."""
    n_dims = len(coords)
    idx = [torch.arange(batch, device=device).view(batch, *([1] * n_dims))]
    for d, c in enumerate(coords):
        shape = [batch] + [1] * n_dims
        shape[1 + d] = c.shape[1]
        idx.append(c.view(shape))
    return tuple(idx)


def _spatial_first(x: torch.Tensor, n_dims: int) -> torch.Tensor:
    """``[B, *ch, *S] -> [B, *S, *ch]`` (a view)."""
    n_ch = x.dim() - 1 - n_dims
    return x.movedim(tuple(range(1, 1 + n_ch)), tuple(range(x.dim() - n_ch, x.dim())))


def _channels_first(y: torch.Tensor, n_dims: int) -> torch.Tensor:
    """``[B, *W, *ch] -> [B, *ch, *W]`` (a view)."""
    n_ch = y.dim() - 1 - n_dims
    return y.movedim(tuple(range(1 + n_dims, y.dim())), tuple(range(1, 1 + n_ch)))


def extract_window(x: torch.Tensor, origins: torch.Tensor, size: Sequence[int], *,
                   halo: int = 0, boundary: str = "periodic") -> torch.Tensor:
    """Read a box of shape ``size`` at per-sample corners ``origins [B, D]`` plus a halo.

    Returns ``[B, *ch, *(size + 2 halo)]``; the halo (and any part of the box outside the domain)
    follows ``boundary``.
    """
    n_dims = origins.shape[-1] if origins.dim() == 2 else -1
    size = as_shape("size", tuple(size), n_dims if n_dims > 0 else None)
    spatial = tuple(x.shape[x.dim() - len(size):])
    _check_spatial("x", x, spatial)
    origins = _check_origins(origins, x.shape[0], len(size))
    if not isinstance(halo, int) or halo < 0:
        raise ValueError(f"halo must be an int >= 0, got {halo!r}")
    coords = window_coords(origins, size, halo, spatial, boundary)
    picked = _spatial_first(x, len(size))[_index_tuple(coords, x.shape[0], x.device)]
    return _channels_first(picked, len(size))


def write_window(x: torch.Tensor, origins: torch.Tensor, values: torch.Tensor, *,
                 boundary: str = "periodic", inplace: bool = False) -> torch.Tensor:
    """``x`` with ``values [B, *ch, *w]`` written at corners ``origins [B, D]`` (a copy unless
    ``inplace``).

    Periodic: the box wraps around the domain. Replicate: the box must lie inside the domain
    (writing through a clamped edge would write one site several times).
    """
    check_choice("boundary", boundary, BOUNDARIES)
    n_dims = origins.shape[-1] if origins.dim() == 2 else 0
    if n_dims == 0:
        raise ValueError(f"origins must have shape [B, D], got {list(origins.shape)}")
    spatial = tuple(x.shape[x.dim() - n_dims:])
    _check_spatial("x", x, spatial)
    origins = _check_origins(origins, x.shape[0], n_dims)
    size = tuple(values.shape[values.dim() - n_dims:])
    if values.shape[:values.dim() - n_dims] != x.shape[:x.dim() - n_dims]:
        raise ValueError(f"values {list(values.shape)} do not match the batch/channels of x "
                         f"{list(x.shape)}")
    if any(w > n for w, n in zip(size, spatial)):
        raise ValueError(f"window {size} is larger than the domain {spatial}")
    if boundary == "replicate":
        hi = torch.tensor([n - w for n, w in zip(spatial, size)], device=origins.device)
        if (origins < 0).any() or (origins > hi).any():
            raise ValueError("with a replicate boundary a written window must lie inside the domain")
    coords = window_coords(origins, size, 0, spatial, boundary)
    out = x if inplace else x.clone()
    _spatial_first(out, n_dims)[_index_tuple(coords, x.shape[0], x.device)] = \
        _spatial_first(values.to(out.dtype), n_dims)
    return out


@dataclass(frozen=True)
class PatchGrid:
    """``K`` non-overlapping patches of shape ``patch_shape`` tiling ``spatial_shape``.

    Attributes:
        spatial_shape: the large system's grid ``S`` (1-, 2- or 3-D).
        patch_shape: the patch ``p``; every ``p_d`` must divide ``S_d``.
        boundary: global boundary rule used for halos at the domain edge (``BOUNDARIES``).
    """

    spatial_shape: tuple[int, ...]
    patch_shape: tuple[int, ...]
    boundary: str = "periodic"

    def __post_init__(self) -> None:
        spatial = as_shape("spatial_shape", self.spatial_shape)
        patch = as_shape("patch_shape", self.patch_shape, len(spatial))
        object.__setattr__(self, "spatial_shape", spatial)
        object.__setattr__(self, "patch_shape", patch)
        check_choice("boundary", self.boundary, BOUNDARIES)
        bad = [(n, p) for n, p in zip(spatial, patch) if n % p]
        if bad:
            raise ValueError(f"patch shape {patch} does not tile the grid {spatial}: "
                             f"(size, patch) pairs {bad} leave a remainder")

    # ------------------------------------------------------------------ sizes
    @property
    def n_dims(self) -> int:
        return len(self.spatial_shape)

    @property
    def counts(self) -> tuple[int, ...]:
        """Patches per spatial dimension, ``S / p``."""
        return tuple(n // p for n, p in zip(self.spatial_shape, self.patch_shape))

    @property
    def n_patches(self) -> int:
        """K, the number of patches."""
        return math.prod(self.counts)

    @property
    def patch_sites(self) -> int:
        """n_s, sites per patch."""
        return math.prod(self.patch_shape)

    @property
    def n_sites(self) -> int:
        """n, sites of the large system."""
        return math.prod(self.spatial_shape)

    # ------------------------------------------------------------------ indices
    def check_index(self, index: torch.Tensor, batch: int) -> torch.Tensor:
        """``index`` must be an integer tensor ``[batch]`` with values in ``[0, K)``."""
        if not torch.is_tensor(index) or index.dtype not in (torch.int64, torch.int32):
            raise TypeError("patch index must be an integer tensor")
        if index.shape != (batch,):
            raise ValueError(f"patch index must have shape [{batch}], got {list(index.shape)}")
        if batch and (int(index.min()) < 0 or int(index.max()) >= self.n_patches):
            raise IndexError(f"patch index must lie in [0, {self.n_patches}), got values in "
                             f"[{int(index.min())}, {int(index.max())}]")
        return index.long()

    def origins(self, index: torch.Tensor) -> torch.Tensor:
        """Corners ``[B, D]`` of patches ``index [B]`` (C order of block coordinates)."""
        if not torch.is_tensor(index) or index.dim() != 1:
            raise ValueError("patch index must be a 1-D integer tensor [B]")
        index = self.check_index(index, index.shape[0])
        out, rest = [], index
        for c, p in zip(reversed(self.counts), reversed(self.patch_shape)):
            out.append((rest % c) * p)
            rest = rest // c
        return torch.stack(out[::-1], dim=-1)

    # ------------------------------------------------------------------ split / merge
    def split(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, *ch, *S] -> [B, K, *ch, *p]`` (patch ``J`` at position ``J``)."""
        _check_spatial("x", x, self.spatial_shape)
        lead = x.shape[:x.dim() - self.n_dims]           # (B, *ch)
        n_ch, D = len(lead) - 1, self.n_dims
        blocked = x.reshape(*lead, *[s for c, p in zip(self.counts, self.patch_shape)
                                     for s in (c, p)])
        base = 1 + n_ch
        order = ([0] + [base + 2 * d for d in range(D)] + list(range(1, base))
                 + [base + 2 * d + 1 for d in range(D)])
        return blocked.permute(order).reshape(lead[0], self.n_patches, *lead[1:],
                                              *self.patch_shape)

    def merge(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split`: ``[B, K, *ch, *p] -> [B, *ch, *S]``."""
        D = self.n_dims
        if (patches.dim() < D + 2 or patches.shape[1] != self.n_patches
                or tuple(patches.shape[patches.dim() - D:]) != self.patch_shape):
            raise ValueError(f"patches must have shape [B, {self.n_patches}, *channels, "
                             f"{', '.join(map(str, self.patch_shape))}], got {list(patches.shape)}")
        B, ch = patches.shape[0], tuple(patches.shape[2:patches.dim() - D])
        n_ch = len(ch)
        blocked = patches.reshape(B, *self.counts, *ch, *self.patch_shape)
        # [B, c_0..c_{D-1}, *ch, p_0..p_{D-1}] -> [B, *ch, c_0, p_0, c_1, p_1, ...]
        order = [0] + list(range(1 + D, 1 + D + n_ch))
        for d in range(D):
            order += [1 + d, 1 + D + n_ch + d]
        return blocked.permute(order).reshape(B, *ch, *self.spatial_shape)

    # ------------------------------------------------------------------ one patch per sample
    def extract(self, x: torch.Tensor, index: torch.Tensor, halo: int = 0) -> torch.Tensor:
        """Patch ``index[b]`` of sample ``b`` with a frozen halo: ``[B, *ch, *(p + 2 halo)]``."""
        _check_spatial("x", x, self.spatial_shape)
        index = self.check_index(index, x.shape[0])
        return extract_window(x, self.origins(index), self.patch_shape, halo=halo,
                              boundary=self.boundary)

    def insert(self, x: torch.Tensor, index: torch.Tensor, patch: torch.Tensor) -> torch.Tensor:
        """A copy of ``x`` with patch ``index[b]`` replaced by ``patch [B, *ch, *p]``."""
        _check_spatial("x", x, self.spatial_shape)
        index = self.check_index(index, x.shape[0])
        if tuple(patch.shape[patch.dim() - self.n_dims:]) != self.patch_shape:
            raise ValueError(f"patch must end in the patch shape {self.patch_shape}, got "
                             f"{list(patch.shape)}")
        return write_window(x, self.origins(index), patch, boundary=self.boundary)
