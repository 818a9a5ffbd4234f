r"""Input checks, seeds and lattice geometry shared by the spin simulators.

Geometry is handed to the compiled kernels as three int32 tables over a flat array of ``M``
spins (a whole lattice, or a window with its frozen halo):

* ``active [n_a]``: the flat indices of the spins that may flip (row-major order);
* ``nbr [n_a, 4]``: the flat indices of the four nearest neighbours of each active spin
  (up, down, left, right);
* ``slot [M]``: the position of a flat index in ``active``, or −1 for a frozen (halo) spin.

Three geometries are built here: the periodic ``Lx × Ly`` torus (every spin active), the
``ℓx × ℓy`` window inside a frozen halo of width 1 (array ``(ℓx + 2) × (ℓy + 2)``, the interior
active, the halo frozen, the four halo corners unused), and the periodic patch (a small torus).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...budget import ForceBudget

#: the budget label of one Glauber event (one spin flip of the rejection-free sampler)
COST_KIND = "spin_flips"


def charge(budget: ForceBudget | None, events: Any) -> None:
    """Charge the events done (an int or an array of counts) to ``budget``, if one is given."""
    if budget is not None:
        budget.charge(int(np.sum(events)), COST_KIND)

#: largest seed accepted (seeds are 64-bit unsigned keys of the counter-based streams)
MAX_SEED = 2**64 - 1


def as_numpy(name: str, x: Any) -> np.ndarray:
    """``x`` as a numpy array (torch tensors are moved to the CPU; lists are converted)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc


def as_spins(name: str, x: Any, *, batch: bool = True) -> tuple[np.ndarray, bool]:
    """Validated spins as a C-contiguous ``int8`` array ``[B, Lx, Ly]`` of ±1.

    ``x`` may be ``[Lx, Ly]`` (one lattice; returned with a batch axis and ``squeezed = True``)
    or ``[B, Lx, Ly]`` (``squeezed = False``). Any integer, boolean-free real dtype holding
    exactly ±1 is accepted. Raises ``ValueError`` for other shapes or values.
    """
    a = as_numpy(name, x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer)
                                   or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must hold integer or float spins ±1, got dtype {a.dtype}")
    if a.ndim == 2:
        squeezed = True
        a = a[None]
    elif a.ndim == 3 and batch:
        squeezed = False
    else:
        want = "[Lx, Ly] or [B, Lx, Ly]" if batch else "[Lx, Ly]"
        raise ValueError(f"{name} must have shape {want}, got {list(a.shape)}")
    if a.size == 0:
        raise ValueError(f"{name} is empty: shape {list(a.shape)}")
    bad = (a != 1) & (a != -1)
    if bad.any():
        vals = np.unique(a[bad])[:5]
        raise ValueError(f"{name} must hold spins ±1 only; found {bad.sum()} other value(s), "
                         f"e.g. {vals.tolist()}")
    return np.ascontiguousarray(a, dtype=np.int8), squeezed


def check_temperature(T: float) -> float:
    """``T`` must be a finite number > 0; returns β = 1/T."""
    try:
        T = float(T)
    except (TypeError, ValueError):
        raise TypeError(f"temperature T must be a number, got {T!r}") from None
    if not math.isfinite(T) or T <= 0.0:
        raise ValueError(f"temperature T must be finite and > 0, got {T}")
    return 1.0 / T


def check_field(h: float) -> float:
    """The external field ``h`` must be a finite number."""
    try:
        h = float(h)
    except (TypeError, ValueError):
        raise TypeError(f"field h must be a number, got {h!r}") from None
    if not math.isfinite(h):
        raise ValueError(f"field h must be finite, got {h}")
    return h


def check_duration(duration: Any) -> float:
    """A physical time: a finite number >= 0."""
    try:
        d = float(duration)
    except (TypeError, ValueError):
        raise TypeError(f"duration must be a number, got {duration!r}") from None
    if not math.isfinite(d) or d < 0.0:
        raise ValueError(f"duration must be finite and >= 0, got {d}")
    return d


def check_count(name: str, n: Any, minimum: int = 0) -> int:
    """A plain int ``>= minimum`` (numpy ints accepted, bools and floats rejected)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(n).__name__} {n!r}")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


def seed_key(seed: int | np.random.Generator) -> np.uint64:
    """The 64-bit key of the random streams: an int in ``[0, 2**64)``, or one draw of a Generator.

    Sample ``b`` of a batched call uses the stream keyed by ``(seed, b)``, so a sample's path does
    not depend on the batch size, on the other samples, or on the number of threads.
    """
    if isinstance(seed, np.random.Generator):
        return np.uint64(seed.integers(0, MAX_SEED, dtype=np.uint64, endpoint=True))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must lie in [0, 2**64), got {seed}")
    return np.uint64(int(seed))


def record_seeds(seed: int | np.random.Generator, n: int) -> list[np.uint64]:
    """``n`` independent keys for successive calls (one per recorded step of a trajectory)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed_key(seed)))
    return [np.uint64(k) for k in rng.integers(0, MAX_SEED, size=n, dtype=np.uint64, endpoint=True)]


def record_trajectory(flat: np.ndarray, shape: tuple[int, ...], n_records: Any,
                      seed: int | np.random.Generator,
                      advance: Callable[[np.uint64], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Record ``n_records`` calls of ``advance(key)`` (which evolves ``flat [B, M]`` in place and
    returns the elapsed times ``[B]``): ``(x [B, n + 1, *shape[1:]], t [B, n + 1])``."""
    n_records = check_count("n_records", n_records)
    xs = np.empty((shape[0], n_records + 1) + tuple(shape[1:]), np.int8)
    ts = np.zeros((shape[0], n_records + 1))
    xs[:, 0] = flat.reshape(shape)
    for r, key in enumerate(record_seeds(seed, n_records)):
        dt = advance(key)
        xs[:, r + 1] = flat.reshape(shape)
        ts[:, r + 1] = ts[:, r] + dt
    return xs, ts


# ---------------------------------------------------------------------------- geometry
def periodic_geometry(lx: int, ly: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(active, nbr, slot)`` of the periodic ``lx × ly`` torus (flat index ``i·ly + j``)."""
    if lx < 2 or ly < 2:
        raise ValueError(f"a periodic lattice needs both sides >= 2, got {lx} x {ly}")
    i, j = np.divmod(np.arange(lx * ly), ly)
    nbr = np.stack([((i - 1) % lx) * ly + j, ((i + 1) % lx) * ly + j,
                    i * ly + (j - 1) % ly, i * ly + (j + 1) % ly], axis=1)
    active = np.arange(lx * ly, dtype=np.int32)
    return active, np.ascontiguousarray(nbr, dtype=np.int32), active.copy()


def halo_geometry(lx: int, ly: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(active, nbr, slot)`` of an ``lx × ly`` window inside a frozen halo of width 1.

    The array is ``(lx + 2) × (ly + 2)`` (flat index ``i·(ly + 2) + j``); the interior sites
    ``1 ≤ i ≤ lx, 1 ≤ j ≤ ly`` are active (row-major), their neighbours are plain offsets (no
    wrap), so the neighbours of edge sites are halo spins, which never flip.
    """
    if lx < 1 or ly < 1:
        raise ValueError(f"a window needs both sides >= 1, got {lx} x {ly}")
    wy = ly + 2
    ii, jj = np.meshgrid(np.arange(1, lx + 1), np.arange(1, ly + 1), indexing="ij")
    active = (ii * wy + jj).ravel().astype(np.int32)
    nbr = np.stack([active - wy, active + wy, active - 1, active + 1], axis=1)
    slot = np.full((lx + 2) * wy, -1, dtype=np.int32)
    slot[active] = np.arange(active.size)
    return active, np.ascontiguousarray(nbr, dtype=np.int32), slot


# ---------------------------------------------------------------------------- patches
def check_patch(shape: tuple[int, int], ell: Any) -> int:
    """The patch side ``ell`` must be a positive int dividing both lattice sides."""
    ell = check_count("patch side ell", ell, 1)
    if any(n % ell for n in shape):
        raise ValueError(f"patch side {ell} does not divide the lattice {shape[0]} x {shape[1]} "
                         f"(the patches must tile the lattice)")
    return ell


def check_origins(origins: Any, batch: int, shape: tuple[int, int]) -> np.ndarray:
    """Patch corners ``[B, 2]`` of ints inside the lattice ``[0, Lx) × [0, Ly)``.

    A window starting near the edge wraps around the periodic lattice.
    """
    o = as_numpy("origins", origins)
    if not np.issubdtype(o.dtype, np.integer):
        raise TypeError(f"origins must be integers, got dtype {o.dtype}")
    if o.shape != (batch, 2):
        raise ValueError(f"origins must have shape [{batch}, 2], got {list(o.shape)}")
    lo = o.min(axis=0) if batch else np.zeros(2)
    hi = o.max(axis=0) if batch else np.zeros(2)
    if (lo < 0).any() or hi[0] >= shape[0] or hi[1] >= shape[1]:
        raise ValueError(f"origins must lie inside the lattice [0, {shape[0]}) x [0, {shape[1]}), "
                         f"got rows in [{lo[0]}, {hi[0]}] and columns in [{lo[1]}, {hi[1]}]")
    return np.ascontiguousarray(o, dtype=np.int64)


def check_lattice_index(index: Any, batch: int, n_lattices: int) -> np.ndarray:
    """Which lattice each patch comes from: ``[B]`` ints, or ``None``: patch ``b`` of lattice ``b``
    (every patch of the lattice when there is only one)."""
    if index is None:
        if n_lattices == 1:
            return np.zeros(batch, dtype=np.int64)
        if n_lattices != batch:
            raise ValueError(f"{n_lattices} lattices for {batch} origins: pass lattice_index to "
                             f"say which lattice each patch comes from")
        return np.arange(batch, dtype=np.int64)
    idx = as_numpy("lattice_index", index)
    if not np.issubdtype(idx.dtype, np.integer) or idx.shape != (batch,):
        raise ValueError(f"lattice_index must be {batch} integers, got dtype {idx.dtype} and "
                         f"shape {list(idx.shape)}")
    if batch and (idx.min() < 0 or idx.max() >= n_lattices):
        raise IndexError(f"lattice_index must lie in [0, {n_lattices}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    return np.ascontiguousarray(idx, dtype=np.int64)


def event_cap(limit: int | None) -> int:
    """The event cap of a run for a fixed time: ``limit`` (an int >= 0), or none (int64's max)."""
    return np.iinfo(np.int64).max if limit is None else check_count("max_events", limit)


def patch_request(lattices: Any, origins: Any, ell: Any,
                  lattice_index: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The checked input of a batched partial evolution (Ising's and Curie–Weiss's
    ``evolve_patches``): ``(lattices [n, Lx, Ly] int8, origins [B, 2] int64, lattice of each patch
    [B] int64, ℓ)``; ℓ must divide both sides, the corners lie inside the lattice."""
    lat, _ = as_spins("lattices", lattices)
    ell = check_patch(lat.shape[1:], ell)
    o = as_numpy("origins", origins)
    if o.ndim != 2:
        raise ValueError(f"origins must have shape [B, 2], got {list(o.shape)}")
    o = check_origins(o, o.shape[0], lat.shape[1:])
    return lat, o, check_lattice_index(lattice_index, o.shape[0], lat.shape[0]), ell


def patch_origins(shape: tuple[int, int], ell: int, index: Any) -> np.ndarray:
    """Corners ``[B, 2]`` of tiling patches numbered in C order of their block coordinates.

    Patch ``J`` of the ``(Lx/ℓ) × (Ly/ℓ)`` tiling has corner ``ℓ · (J // (Ly/ℓ), J % (Ly/ℓ))``
    (the numbering of ``support.stochastic.patches.PatchGrid``).
    """
    ell = check_patch(tuple(shape), ell)
    kx, ky = shape[0] // ell, shape[1] // ell
    idx = as_numpy("index", index)
    if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
        raise ValueError(f"index must be a 1-D integer array, got {idx.dtype} {list(idx.shape)}")
    if idx.size and (idx.min() < 0 or idx.max() >= kx * ky):
        raise IndexError(f"patch index must lie in [0, {kx * ky}), got [{idx.min()}, {idx.max()}]")
    return np.stack([idx // ky, idx % ky], axis=1).astype(np.int64) * ell


def windows(x: np.ndarray, origins: np.ndarray, ell: int, halo: int = 1, width: int | None = None) -> np.ndarray:
    """The ``(ℓ + 2·halo) × (width + 2·halo)`` boxes (width defaults to ℓ) of lattices ``x [n, L, L]``
    around patches whose corners are ``origins [n, 2]`` (coordinates wrap, rows modulo the lattice's
    height and columns modulo its width)."""
    width = ell if width is None else width
    rows = (origins[:, 0, None] + np.arange(-halo, ell + halo)) % x.shape[-2]
    cols = (origins[:, 1, None] + np.arange(-halo, width + halo)) % x.shape[-1]
    return x[np.arange(len(x))[:, None, None], rows[:, :, None], cols[:, None, :]]
