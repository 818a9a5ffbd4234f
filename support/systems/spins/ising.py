r"""2-D Ising model (J = 1, field h, periodic ``Lx × Ly`` lattice) under continuous-time Glauber
dynamics, sampled exactly with the n-fold way (see :mod:`.glauber_kernels`).

    E(s) = −Σ_⟨ij⟩ s_i s_j − h Σ_i s_i,   ΔE_i = 2 s_i (Σ_{j nn i} s_j + h),
    w_i = 1 / (1 + exp(β ΔE_i)),   stationary law π(s) ∝ exp(−β E(s)).

Entry points (numpy in, numpy out; torch tensors are accepted as input):

* :func:`run_events` — ``n`` events of whole periodic lattices (batched); :func:`run_for_time` —
  the exact state after a fixed physical time;
* :func:`snapshots_from_runs` — stationary snapshots from several runs after a burn-in;
* :func:`simulate` — a recorded trajectory (one record per ``events_per_record`` events, or
  at fixed physical times ``k · record_time``);
* :func:`evolve_patches` — partial evolution: only an ``ℓ × ℓ`` window of each lattice moves,
  with the frozen-halo rule (``boundary="frozen"``, the book's rule: the window's outside
  neighbours are the lattice's spins, held fixed, so one event has exactly the full system's
  rates for the window sites) or the official code's rule (``boundary="periodic"``: the
  extracted patch is evolved as a small periodic lattice);
* :func:`evolve_patches_for_time` — the same for a fixed physical time δt;
* :func:`evolve_windows` / :func:`evolve_windows_for_time` — the same frozen-halo evolution for
  pre-extracted windows ``[B, ℓx+2, ℓy+2]`` (the ``evolve_patch`` protocol of
  ``support.systems.stochastic_base``);
* :func:`replicate` and :func:`local_relax` — the two steps of hierarchical upsampling (each spin
  becomes a block; then short dynamics in overlapping frozen-halo windows, raster order), the
  hooks of :class:`.patch_dynamics.IsingDynamics` that the one Algorithm 1
  (:func:`support.stochastic.upsampling.upsample_hierarchically`) repeats up to the target size;
* :func:`heat_bath_rates` (numpy), :func:`lattice_rates`, :func:`window_rates` (the sampler's
  own class table), :func:`flip_energy` — the rates themselves;
* :func:`onsager_energy`, :func:`onsager_domain_wall_density` — exact infinite-lattice values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...budget import ForceBudget
from . import glauber_kernels as K
from .lattice import (as_spins, charge, check_count, check_duration, check_field, check_patch,
                      check_temperature, event_cap, halo_geometry, patch_request, periodic_geometry,
                      record_trajectory, seed_key)

#: critical temperature of the square-lattice Ising model, 2 / ln(1 + √2)
T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))

BOUNDARIES = ("frozen", "periodic")


def _out(spins: np.ndarray, dt: np.ndarray, squeezed: bool):
    return (spins[0], float(dt[0])) if squeezed else (spins, dt)


# ---------------------------------------------------------------------------- rates
def flip_energy(spins: Any, h: float = 0.0) -> np.ndarray:
    """``ΔE_i = 2 s_i (Σ_nn s_j + h)`` for every site of periodic lattices ``[.., Lx, Ly]``."""
    s, squeezed = as_spins("spins", spins)
    h = check_field(h)
    s = s.astype(np.float64)
    n = (np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2))
    de = 2.0 * s * (n + h)
    return de[0] if squeezed else de


def heat_bath_rates(spins: Any, T: float, h: float = 0.0) -> np.ndarray:
    """Heat-bath rates ``w_i = 1/(1 + exp(β ΔE_i))`` of every site (numpy, periodic lattice)."""
    beta = check_temperature(T)
    x = beta * flip_energy(spins, h)
    return np.exp(-np.logaddexp(0.0, x))


def _sampler_rates(states: np.ndarray, geometry, beta: float, h: float) -> np.ndarray:
    """Rates of the active sites of flat ``states [B, M]`` read from the sampler's class table."""
    active, nbr, _ = geometry
    table = K.ising_rate_table(beta, h)
    return np.stack([table[K.ising_site_classes(row, active, nbr)] for row in states])


def lattice_rates(spins: Any, T: float, h: float = 0.0) -> np.ndarray:
    """Rates of every site of periodic lattices as the compiled sampler sees them (its 10-class
    table and neighbour tables); equal to :func:`heat_bath_rates` up to round-off."""
    beta, h = check_temperature(T), check_field(h)
    s, squeezed = as_spins("spins", spins)
    out = _sampler_rates(s.reshape(s.shape[0], -1), periodic_geometry(*s.shape[1:]), beta, h)
    out = out.reshape(s.shape)
    return out[0] if squeezed else out


def window_rates(window: Any, T: float, h: float = 0.0) -> np.ndarray:
    """Rates of the interior sites of frozen-halo windows ``[.., ℓx+2, ℓy+2]`` → ``[.., ℓx, ℓy]``,
    as the compiled sampler sees them (so they can be compared bit for bit with
    :func:`lattice_rates` of the lattice the window was cut from)."""
    beta, h = check_temperature(T), check_field(h)
    w, squeezed = as_spins("window", window)
    if w.shape[1] < 3 or w.shape[2] < 3:
        raise ValueError(f"a window with a halo of width 1 needs sides >= 3, got {list(w.shape[1:])}")
    lx, ly = w.shape[1] - 2, w.shape[2] - 2
    out = _sampler_rates(w.reshape(w.shape[0], -1), halo_geometry(lx, ly), beta, h)
    out = out.reshape(w.shape[0], lx, ly)
    return out[0] if squeezed else out


# ---------------------------------------------------------------------------- whole lattices
def run_events(spins: Any, n_events: int, T: float, h: float = 0.0,
               seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray | float]:
    """Evolve periodic lattices by exactly ``n_events`` Glauber events each.

    Args:
        spins: ``[Lx, Ly]`` or ``[B, Lx, Ly]`` of ±1 (not modified).
        n_events: events per lattice (``Lx·Ly`` events = one sweep).
        T, h: temperature (> 0) and field.
        seed: int key (sample ``b`` uses the stream ``(seed, b)``) or a numpy Generator.

    Returns:
        ``(spins_new int8, dt)``; ``dt`` is the elapsed physical time (a float for one lattice,
        ``[B]`` for a batch), the sum of the ``Exp(R)`` waiting times.
    """
    s, squeezed = as_spins("spins", spins)
    beta, h = check_temperature(T), check_field(h)
    n_events = check_count("n_events", n_events)
    active, nbr, slot = periodic_geometry(s.shape[1], s.shape[2])
    flat = s.reshape(s.shape[0], -1).copy()
    dt, _ = K.ising_states_batch(flat, active, nbr, slot, n_events, math.inf, beta, h,
                                 seed_key(seed))
    return _out(flat.reshape(s.shape), dt, squeezed)


def run_for_time(spins: Any, duration: float, T: float, h: float = 0.0,
                 seed: int | np.random.Generator = 0,
                 max_events: int | None = None) -> tuple[np.ndarray, np.ndarray | int]:
    """The exact state of periodic lattices after the physical time ``duration``.

    Returns ``(spins_new int8, n_events)`` (events done per lattice, the cost). Stops earlier only
    if ``max_events`` (default unbounded) events happen first.
    Same streams as :func:`run_events`: the paths coincide up to the stopping rule.
    """
    s, squeezed = as_spins("spins", spins)
    beta, h = check_temperature(T), check_field(h)
    t_max = check_duration(duration)
    n_max = event_cap(max_events)
    active, nbr, slot = periodic_geometry(s.shape[1], s.shape[2])
    flat = s.reshape(s.shape[0], -1).copy()
    _, done = K.ising_states_batch(flat, active, nbr, slot, n_max, t_max, beta, h, seed_key(seed))
    out = flat.reshape(s.shape)
    return (out[0], int(done[0])) if squeezed else (out, done)


def simulate(spins: Any, n_records: int, T: float, h: float = 0.0,
             seed: int | np.random.Generator = 0, events_per_record: int | None = None,
             record_time: float | None = None,
             budget: ForceBudget | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A recorded trajectory of periodic lattices.

    Records come every ``events_per_record`` events (default one sweep, ``Lx·Ly``; the official
    code's convention, random times) or, with ``record_time``, at the fixed physical times
    ``k · record_time`` (exact states of the continuous-time process).

    Returns ``(x [B, n_records + 1, Lx, Ly] int8, t [B, n_records + 1])`` with the initial state
    first and the cumulative physical time (without the batch axis for one lattice). The flips done
    are charged to ``budget`` (kind ``"spin_flips"``).
    """
    s, squeezed = as_spins("spins", spins)
    beta, h = check_temperature(T), check_field(h)
    if record_time is None:
        n_ev = s.shape[1] * s.shape[2] if events_per_record is None else \
            check_count("events_per_record", events_per_record, 1)
        t_max = math.inf
    else:
        if events_per_record is not None:
            raise ValueError("give events_per_record or record_time, not both")
        n_ev, t_max = event_cap(None), check_duration(record_time)
    geometry = periodic_geometry(s.shape[1], s.shape[2])
    flat = s.reshape(s.shape[0], -1).copy()

    done = np.zeros(s.shape[0], np.int64)

    def advance(key: np.uint64) -> np.ndarray:
        dt, n = K.ising_states_batch(flat, *geometry, n_ev, t_max, beta, h, key)
        done[:] += n
        return dt

    xs, ts = record_trajectory(flat, s.shape, n_records, seed, advance)
    charge(budget, done)
    return (xs[0], ts[0]) if squeezed else (xs, ts)


def snapshots_from_runs(L: int, n: int, T: float, h: float = 0.0, *, runs: int = 64,
                        burn_in: float = 400.0, interval: float = 10.0,
                        seed: int | np.random.Generator = 0) -> tuple[np.ndarray, int]:
    """``n`` stationary snapshots of the periodic ``L × L`` lattice from ``runs`` Glauber runs
    started at random spins: each run discards the physical time ``burn_in``, then records every
    ``interval``. Returns ``([n, L, L] int8, Glauber events spent in all)``."""
    L, n, runs = check_count("L", L, 2), check_count("n", n, 1), check_count("runs", runs, 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed_key(seed)))
    x = np.where(rng.random((runs, L, L)) < 0.5, 1, -1).astype(np.int8)
    x, events = run_for_time(x, burn_in, T, h, seed=rng)
    total, out = int(np.sum(events)), []
    for _ in range(-(-n // runs)):
        x, events = run_for_time(x, check_duration(interval), T, h, seed=rng)
        total += int(np.sum(events))
        out.append(x)
    return np.stack(out, axis=1).reshape(-1, L, L)[:n], total


# ---------------------------------------------------------------------------- patches
def evolve_patches(lattices: Any, origins: Any, ell: int, n_events: int, T: float,
                   h: float = 0.0, seed: int | np.random.Generator = 0, *,
                   boundary: str = "frozen",
                   lattice_index: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Partial evolution: evolve only the ``ℓ × ℓ`` window at ``origins[b]`` of each lattice.

    Args:
        lattices: ``[n, Lx, Ly]`` (or one ``[Lx, Ly]``) periodic lattices, not modified.
        origins: ``[B, 2]`` window corners inside the lattice (windows wrap around the edges).
        ell: window side; must divide ``Lx`` and ``Ly`` (the windows tile the lattice).
        n_events: events inside each window (``ℓ²`` = one patch sweep).
        T, h: temperature and field.
        seed: stream key (window ``b`` uses the stream ``(seed, b)``) or a numpy Generator.
        boundary: ``"frozen"`` — the lattice spins around the window are its neighbours, held
            fixed (the book's rule; the window sites have exactly the full system's rates);
            ``"periodic"`` — the extracted window is evolved as an ``ℓ × ℓ`` torus (official code).
        lattice_index: ``[B]`` lattice of each window (default: window ``b`` of lattice ``b``, or
            the one lattice for every window).

    Returns:
        ``(patches [B, ℓ, ℓ] int8, dt [B])``: the evolved windows and their elapsed times. The
        lattice outside the window is unchanged (write the patch back to get ``x_{t+δt}``).
    """
    n_events = check_count("n_events", n_events)
    patches, dt, _ = _patches(lattices, origins, ell, n_events, math.inf, T, h, seed, boundary,
                              lattice_index)
    return patches, dt


def evolve_patches_for_time(lattices: Any, origins: Any, ell: int, duration: float, T: float,
                            h: float = 0.0, seed: int | np.random.Generator = 0, *,
                            boundary: str = "frozen", lattice_index: Any = None,
                            max_events: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Partial evolution for a fixed physical time ``duration`` (exact state at that time).

    Arguments as in :func:`evolve_patches`. Returns ``(patches [B, ℓ, ℓ] int8, n_events [B])``.
    """
    t_max = check_duration(duration)
    patches, _, done = _patches(lattices, origins, ell, event_cap(max_events), t_max, T, h,
                                seed, boundary, lattice_index)
    return patches, done


def _patches(lattices, origins, ell, n_events, t_max, T, h, seed, boundary, lattice_index):
    lat, o, which, ell = patch_request(lattices, origins, ell, lattice_index)
    beta, h = check_temperature(T), check_field(h)
    if boundary == "frozen":
        halo, (active, nbr, slot) = 1, halo_geometry(ell, ell)
    elif boundary == "periodic":
        if ell < 2:
            raise ValueError("a periodic patch needs ell >= 2")
        halo, (active, nbr, slot) = 0, periodic_geometry(ell, ell)
    else:
        raise ValueError(f"unknown boundary {boundary!r}; choose one of: {', '.join(BOUNDARIES)}")
    return K.ising_patches_batch(lat, which, o, ell, ell, halo, active, nbr, slot, n_events,
                                 t_max, beta, h, seed_key(seed))


def evolve_windows(windows: Any, n_events: int, T: float, h: float = 0.0,
                   seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray | float]:
    """Evolve the interior of frozen-halo windows ``[B, ℓx+2, ℓy+2]`` (halo width 1, held fixed).

    Returns ``(interior [B, ℓx, ℓy] int8, dt [B])`` (no batch axis for one window). Same streams
    as :func:`evolve_patches` with ``boundary="frozen"``.
    """
    w, squeezed = as_spins("windows", windows)
    beta, h = check_temperature(T), check_field(h)
    n_events = check_count("n_events", n_events)
    if w.shape[1] < 3 or w.shape[2] < 3:
        raise ValueError(f"a window with a halo of width 1 needs sides >= 3, got {list(w.shape[1:])}")
    lx, ly = w.shape[1] - 2, w.shape[2] - 2
    active, nbr, slot = halo_geometry(lx, ly)
    flat = w.reshape(w.shape[0], -1).copy()
    dt, _ = K.ising_states_batch(flat, active, nbr, slot, n_events, math.inf, beta, h,
                                 seed_key(seed))
    inner = flat[:, active].reshape(w.shape[0], lx, ly)
    return _out(inner, dt, squeezed)


def evolve_windows_for_time(windows: Any, duration: float, T: float, h: float = 0.0,
                            seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray | int]:
    """The interior of frozen-halo windows ``[B, ℓx+2, ℓy+2]`` after the physical time
    ``duration`` (exact state at that time). Returns ``(interior [B, ℓx, ℓy] int8, n_events [B])``."""
    w, squeezed = as_spins("windows", windows)
    beta, h = check_temperature(T), check_field(h)
    t_max = check_duration(duration)
    if w.shape[1] < 3 or w.shape[2] < 3:
        raise ValueError(f"a window with a halo of width 1 needs sides >= 3, got {list(w.shape[1:])}")
    lx, ly = w.shape[1] - 2, w.shape[2] - 2
    active, nbr, slot = halo_geometry(lx, ly)
    flat = w.reshape(w.shape[0], -1).copy()
    _, done = K.ising_states_batch(flat, active, nbr, slot, event_cap(None), t_max, beta, h,
                                   seed_key(seed))
    inner = flat[:, active].reshape(w.shape[0], lx, ly)
    return (inner[0], int(done[0])) if squeezed else (inner, done)


# ---------------------------------------------------------------------------- upsampling
def replicate(lattices: Any, factor: int) -> np.ndarray:
    """Every spin of ``[.., Lx, Ly]`` lattices becomes a ``factor × factor`` block (the official
    Upsample): ``[.., factor·Lx, factor·Ly]`` int8. Keeps m, halves ρ_dw (for factor 2)."""
    s, squeezed = as_spins("lattices", lattices)
    factor = check_count("factor", factor, 1)
    out = s.repeat(factor, axis=1).repeat(factor, axis=2)
    return out[0] if squeezed else out


def relax_origins(shape: tuple[int, int], window: int, stride: int) -> np.ndarray:
    """Corners ``[W, 2]`` of the overlapping relaxation windows, raster (C) order: rows and
    columns ``0, stride, 2·stride, … < L`` (windows wrap around the periodic lattice)."""
    window = check_patch(tuple(shape), window)
    stride = check_count("stride", stride, 1)
    rows, cols = np.arange(0, shape[0], stride), np.arange(0, shape[1], stride)
    return np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2).astype(np.int64)


def local_relax(lattices: Any, window: int, duration: float, T: float, h: float = 0.0,
                seed: int | np.random.Generator = 0, *, stride: int | None = None,
                boundary: str = "frozen", return_events: bool = False) -> np.ndarray | tuple:
    """LocalRelax of hierarchical upsampling: evolve overlapping ``window × window`` windows of
    every lattice in raster order (corners :func:`relax_origins`, default stride ``window // 2``),
    each for the physical time ``duration``, writing each back before the next is read.

    ``boundary="frozen"`` (the book's rule): a window's neighbours are the current lattice spins,
    held fixed while it evolves; ``"periodic"``: the extracted window is a small torus (the
    official LocalRelax). ``window`` must divide the lattice sides. Returns new int8 lattices
    ``[n, Lx, Ly]`` (the input is not modified), and with ``return_events`` also the events done
    per lattice ``[n]`` (the cost).
    """
    s, squeezed = as_spins("lattices", lattices)
    window = check_patch(s.shape[1:], window)
    check_duration(duration)
    stride = window // 2 if stride is None else stride
    origins = relax_origins(s.shape[1:], window, max(1, stride))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed_key(seed)))
    x = s.copy()
    n = x.shape[0]
    steps = np.arange(window)
    events = np.zeros(n, np.int64)
    for o in origins:
        corner = np.broadcast_to(o, (n, 2)).copy()
        new, done = evolve_patches_for_time(x, corner, window, duration, T, h, seed=rng,
                                            boundary=boundary)
        events += done
        rows = (o[0] + steps) % x.shape[1]
        cols = (o[1] + steps) % x.shape[2]
        x[:, rows[:, None], cols[None, :]] = new
    x = x[0] if squeezed else x
    if return_events:
        return x, (int(events[0]) if squeezed else events)
    return x


# ---------------------------------------------------------------------------- exact values
def onsager_energy(T: float) -> float:
    r"""Exact energy per site ``u(T)`` of the infinite square lattice at ``h = 0`` (Onsager):

        u = −coth(2β) [1 + (2/π)(2 tanh²(2β) − 1) K(k²)],   k = 2 sinh(2β) / cosh²(2β),

    ``K(m) = ∫_0^{π/2} (1 − m sin²θ)^{−1/2} dθ`` (``scipy.special.ellipk``, parameter m = k²).
    """
    from scipy.special import ellipk

    beta = check_temperature(T)
    k = 2.0 * math.sinh(2 * beta) / math.cosh(2 * beta) ** 2
    if abs(k - 1.0) < 1e-15:  # at T_c the K term is multiplied by 0
        return -math.sqrt(2.0)
    t = math.tanh(2 * beta)
    return -(1.0 / t) * (1.0 + (2.0 / math.pi) * (2.0 * t * t - 1.0) * float(ellipk(k * k)))


def onsager_domain_wall_density(T: float) -> float:
    """Exact ``ρ_dw = (1 − ⟨s_i s_j⟩)/2 = (1 + u/2)/2`` of the infinite lattice at ``h = 0``."""
    return (1.0 + onsager_energy(T) / 2.0) / 2.0
