r"""Curie–Weiss (mean-field) spins under continuous-time Glauber dynamics, sampled exactly.

N spins ``s_i = ±1`` (stored on an ``Lx × Ly`` array, N = Lx·Ly; the geometry plays no role),
total spin ``S = Σ_i s_i``, magnetisation ``m = S/N``:

    E = −(1/2N) Σ_{i≠j} s_i s_j − h S = −(S² − N)/(2N) − h S,
    ΔE_i = 2 s_i ((S − s_i)/N + h),    w_i = 1/(1 + exp(β ΔE_i)),
    P(S) ∝ C(N, (N + S)/2) · exp(β (S² − N)/(2N) + β h S)          (exact stationary law).

All spins of one sign share one rate, so the exact sampler is a birth–death chain: with ``N₋``
down and ``N₊`` up spins, ``W↑ = N₋ /(1 + e^{−2β((S+1)/N + h)})`` (S → S + 2) and
``W↓ = N₊ /(1 + e^{2β((S−1)/N + h)})`` (S → S − 2), the waiting time is ``Exp(W↑ + W↓)``.

Patch evolution: a window of ``n_s`` spins sees the rest of the system as a frozen mean field:
``S = S_out + S_window`` with ``S_out`` fixed, rates as above with the *whole* system's N; only
the window's spins flip (``field="global"``, the physical rule and the official code's partial
evolution). ``field="patch"`` treats the window as an isolated Curie–Weiss system of ``n_s``
spins (the official code's local relaxation, physically a different system).

Fixed-event samplers return the elapsed time; the ``*_for_time`` variants return the exact state
after a fixed physical time and the number of events it took.

The per-site samplers (:func:`run_events`, :func:`evolve_patches`, :func:`evolve_windows`) flip
a uniformly chosen spin of the chosen sign; the count samplers (:func:`run_counts`,
:func:`evolve_counts`) track only the number of up spins and give the *same* ``S`` path and
times for the same seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import expm_multiply
from scipy.stats import hypergeom

from . import glauber_kernels as K
from ...budget import ForceBudget
from .lattice import (as_numpy, as_spins, charge, check_count, check_duration, check_field,
                      check_temperature, event_cap, patch_request, record_trajectory, seed_key)

FIELDS = ("global", "patch")


# ---------------------------------------------------------------------------- exact law
def stationary_law(N: int, T: float, h: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact stationary law of ``m = S/N``: ``(m [N+1], P(m) [N+1])`` for ``S = −N, −N+2, …, N``."""
    N = check_count("N", N, 1)
    beta, h = check_temperature(T), check_field(h)
    n_up = np.arange(N + 1)
    S = 2.0 * n_up - N
    log_binom = np.array([math.lgamma(N + 1) - math.lgamma(k + 1) - math.lgamma(N - k + 1)
                          for k in n_up])
    log_p = log_binom + beta * (S * S - N) / (2.0 * N) + beta * h * S
    p = np.exp(log_p - log_p.max())
    return S / N, p / p.sum()


def stationary_moments(N: int, T: float, h: float = 0.0) -> tuple[float, float]:
    """Exact stationary ``(⟨m⟩, std m)`` of N Curie–Weiss spins."""
    m, p = stationary_law(N, T, h)
    mean = float(p @ m)
    return mean, float(math.sqrt(max(p @ (m - mean) ** 2, 0.0)))


def flip_rates(S: Any, N: int, T: float, h: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-spin rates at total spin ``S``: ``(w↑ of a − spin, w↓ of a + spin)``."""
    N = check_count("N", N, 1)
    beta, h = check_temperature(T), check_field(h)
    S = np.asarray(S, dtype=np.float64)
    up = np.exp(-np.logaddexp(0.0, -2.0 * beta * ((S + 1.0) / N + h)))
    down = np.exp(-np.logaddexp(0.0, 2.0 * beta * ((S - 1.0) / N + h)))
    return up, down


def generator_coefficients(m: Any, N: int, T: float, h: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact drift and diffusion of ``m`` per unit time: ``μ = 2(W↑ − W↓)/N``,
    ``σ² = 4(W↑ + W↓)/N²`` with ``W↑ = N₋ w↑``, ``W↓ = N₊ w↓`` at ``S = mN``."""
    m = np.asarray(m, dtype=np.float64)
    up, down = flip_rates(m * N, N, T, h)
    w_up, w_down = N * (1.0 - m) / 2.0 * up, N * (1.0 + m) / 2.0 * down
    return 2.0 * (w_up - w_down) / N, 4.0 * (w_up + w_down) / N**2


def energy_per_site(spins: Any, h: float = 0.0) -> np.ndarray | float:
    """``E/N = −(S² − N)/(2N²) − h m`` of Curie–Weiss lattices ``[..., Lx, Ly]``."""
    s = as_numpy("spins", spins).astype(np.float64)
    if s.ndim < 2:
        raise ValueError(f"spins must have shape [..., Lx, Ly], got {list(s.shape)}")
    N = s.shape[-1] * s.shape[-2]
    S = s.sum(axis=(-2, -1))
    return -(S * S - N) / (2.0 * N * N) - h * S / N


# ---------------------------------------------------------------------------- count samplers
def _sums(name: str, S: Any) -> tuple[np.ndarray, bool]:
    a = as_numpy(name, S)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    if a.ndim > 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got shape {list(a.shape)}")
    return np.atleast_1d(a).astype(np.int64), a.ndim == 0


def evolve_counts(window_sum: Any, n_window: int, outside_sum: Any, n_total: int, n_events: int,
                  T: float, h: float = 0.0, seed: int | np.random.Generator = 0
                  ) -> tuple[np.ndarray | int, np.ndarray | float]:
    """Count-only window chain: ``n_events`` flips among ``n_window`` spins whose sum is
    ``window_sum``, the other ``n_total − n_window`` spins summing to the frozen ``outside_sum``.

    Returns ``(new window_sum, dt)`` (scalars for scalar input, ``[B]`` otherwise).
    """
    s_w, scalar = _sums("window_sum", window_sum)
    s_o, _ = _sums("outside_sum", outside_sum)
    n_window = check_count("n_window", n_window, 1)
    n_total = check_count("n_total", n_total, n_window)
    n_events = check_count("n_events", n_events)
    beta, h = check_temperature(T), check_field(h)
    s_o = np.broadcast_to(s_o, s_w.shape).copy()
    n_out = n_total - n_window
    if (np.abs(s_w) > n_window).any() or ((s_w - n_window) % 2).any():
        raise ValueError(f"window_sum must be in [-{n_window}, {n_window}] with the parity of "
                         f"n_window = {n_window}")
    if (np.abs(s_o) > n_out).any() or ((s_o - n_out) % 2).any():
        raise ValueError(f"outside_sum must be in [-{n_out}, {n_out}] with the parity of "
                         f"n_total - n_window = {n_out}")
    n_up = (s_w + n_window) // 2
    n_win = np.full_like(n_up, n_window)
    k, dt, _ = K.cw_counts_batch(n_up, n_win, s_o, n_total, n_events, math.inf, beta, h,
                                 seed_key(seed))
    s_new = 2 * k - n_window
    return (int(s_new[0]), float(dt[0])) if scalar else (s_new, dt)


def run_counts(S: Any, N: int, n_events: int, T: float, h: float = 0.0,
               seed: int | np.random.Generator = 0) -> tuple[np.ndarray | int, np.ndarray | float]:
    """Whole-system birth–death chain: ``n_events`` flips from total spin ``S`` (scalar or ``[B]``).

    Returns ``(S_new, dt)``. Same streams as :func:`run_events` on any lattice with this ``S``.
    """
    N = check_count("N", N, 1)
    S_arr, scalar = _sums("S", S)
    zeros = np.zeros_like(S_arr)
    s_new, dt = evolve_counts(S_arr, N, zeros, N, n_events, T, h, seed)
    return (int(s_new[0]), float(dt[0])) if scalar else (s_new, dt)


# ---------------------------------------------------------------------------- lattice samplers
def run_events(spins: Any, n_events: int, T: float, h: float = 0.0,
               seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray | float]:
    """Evolve Curie–Weiss lattices ``[Lx, Ly]`` or ``[B, Lx, Ly]`` (N = Lx·Ly) by ``n_events`` flips.

    Returns ``(spins_new int8, dt)`` (``dt`` a float for one lattice, ``[B]`` for a batch).
    """
    s, squeezed = as_spins("spins", spins)
    beta, h = check_temperature(T), check_field(h)
    n_events = check_count("n_events", n_events)
    flat = s.reshape(s.shape[0], -1).copy()
    zeros = np.zeros(s.shape[0], np.int64)
    dt, _ = K.cw_states_batch(flat, zeros, flat.shape[1], n_events, math.inf, beta, h,
                              seed_key(seed))
    out = flat.reshape(s.shape)
    return (out[0], float(dt[0])) if squeezed else (out, dt)


def run_for_time(spins: Any, duration: float, T: float, h: float = 0.0,
                 seed: int | np.random.Generator = 0,
                 max_events: int | None = None) -> tuple[np.ndarray, np.ndarray | int]:
    """The exact state of Curie–Weiss lattices after the physical time ``duration``.

    Returns ``(spins_new int8, n_events)``; stops earlier only after ``max_events`` events.
    """
    s, squeezed = as_spins("spins", spins)
    beta, h = check_temperature(T), check_field(h)
    t_max = check_duration(duration)
    flat = s.reshape(s.shape[0], -1).copy()
    zeros = np.zeros(s.shape[0], np.int64)
    _, done = K.cw_states_batch(flat, zeros, flat.shape[1], event_cap(max_events), t_max,
                                beta, h, seed_key(seed))
    out = flat.reshape(s.shape)
    return (out[0], int(done[0])) if squeezed else (out, done)


def simulate(spins: Any, n_records: int, T: float, h: float = 0.0,
             seed: int | np.random.Generator = 0, events_per_record: int | None = None,
             record_time: float | None = None,
             budget: ForceBudget | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Recorded trajectory: ``(x [B, n_records + 1, Lx, Ly], t [B, n_records + 1])``, initial
    state first; one record per ``events_per_record`` flips (default N, one sweep) or, with
    ``record_time``, at the fixed physical times ``k · record_time``. The flips done are charged
    to ``budget``."""
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
    flat = s.reshape(s.shape[0], -1).copy()
    zeros = np.zeros(s.shape[0], np.int64)

    done = np.zeros(s.shape[0], np.int64)

    def advance(key: np.uint64) -> np.ndarray:
        dt, n = K.cw_states_batch(flat, zeros, flat.shape[1], n_ev, t_max, beta, h, key)
        done[:] += n
        return dt

    xs, ts = record_trajectory(flat, s.shape, n_records, seed, advance)
    charge(budget, done)
    return (xs[0], ts[0]) if squeezed else (xs, ts)


def evolve_patches(lattices: Any, origins: Any, ell: int, n_events: int, T: float,
                   h: float = 0.0, seed: int | np.random.Generator = 0, *,
                   field: str = "global",
                   lattice_index: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Partial evolution: flip only spins of the ``ℓ × ℓ`` window at ``origins[b]``.

    Args:
        lattices: ``[n, Lx, Ly]`` (or one ``[Lx, Ly]``) Curie–Weiss lattices, not modified.
        origins: ``[B, 2]`` window corners inside the lattice (windows wrap around the edges).
        ell: window side; must divide ``Lx`` and ``Ly``.
        n_events: flips inside the window (``ℓ²`` = one patch sweep).
        T, h, seed: as in :func:`run_events` (window ``b`` uses the streams ``(seed, b, ·)``).
        field: ``"global"`` — the window feels the whole system's mean field with the outside
            sum frozen (N = Lx·Ly); ``"patch"`` — the window is an isolated system of ℓ² spins.
        lattice_index: ``[B]`` lattice of each window (default: window ``b`` of lattice ``b``, or
            the one lattice for every window).

    Returns:
        ``(patches [B, ℓ, ℓ] int8, dt [B])``.
    """
    n_events = check_count("n_events", n_events)
    patches, dt, _ = _patches(lattices, origins, ell, n_events, math.inf, T, h, seed, field,
                              lattice_index)
    return patches, dt


def evolve_patches_for_time(lattices: Any, origins: Any, ell: int, duration: float, T: float,
                            h: float = 0.0, seed: int | np.random.Generator = 0, *,
                            field: str = "global", lattice_index: Any = None,
                            max_events: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Partial evolution for a fixed physical time ``duration`` (exact state at that time).

    Arguments as in :func:`evolve_patches`. Returns ``(patches [B, ℓ, ℓ] int8, n_events [B])``.
    """
    t_max = check_duration(duration)
    patches, _, done = _patches(lattices, origins, ell, event_cap(max_events), t_max, T, h,
                                seed, field, lattice_index)
    return patches, done


def _patches(lattices, origins, ell, n_events, t_max, T, h, seed, field, lattice_index):
    lat, o, which, ell = patch_request(lattices, origins, ell, lattice_index)
    beta, h = check_temperature(T), check_field(h)
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}; choose one of: {', '.join(FIELDS)}")
    totals = lat.reshape(lat.shape[0], -1).sum(axis=1, dtype=np.int64)
    glob = field == "global"
    n_total = lat.shape[1] * lat.shape[2] if glob else ell * ell
    return K.cw_patches_batch(lat, which, totals, o, ell, ell, n_total, glob, n_events, t_max,
                              beta, h, seed_key(seed))


def evolve_windows(windows: Any, outside_sum: Any, n_total: int, n_events: int, T: float,
                   h: float = 0.0, seed: int | np.random.Generator = 0
                   ) -> tuple[np.ndarray, np.ndarray | float]:
    """Evolve pre-extracted windows ``[B, ℓx, ℓy]`` in the frozen mean field of the rest.

    ``outside_sum`` (scalar or ``[B]``) is the spin sum of the ``n_total − ℓx·ℓy`` spins outside
    the window (the ``patch_context`` of ``support.systems.stochastic_base``). Same streams as
    :func:`evolve_patches` with ``field="global"``.
    """
    w, squeezed = as_spins("windows", windows)
    beta, h = check_temperature(T), check_field(h)
    n_events = check_count("n_events", n_events)
    n_win = w.shape[1] * w.shape[2]
    n_total = check_count("n_total", n_total, n_win)
    s_o, _ = _sums("outside_sum", outside_sum)
    s_o = np.broadcast_to(s_o, (w.shape[0],)).copy() if s_o.size == 1 else s_o
    if s_o.shape != (w.shape[0],):
        raise ValueError(f"outside_sum must be a scalar or [{w.shape[0]}], got {list(s_o.shape)}")
    n_out = n_total - n_win
    if (np.abs(s_o) > n_out).any() or ((s_o - n_out) % 2).any():
        raise ValueError(f"outside_sum must be in [-{n_out}, {n_out}] with the parity of "
                         f"n_total - window size = {n_out}")
    flat = w.reshape(w.shape[0], -1).copy()
    dt, _ = K.cw_states_batch(flat, s_o, n_total, n_events, math.inf, beta, h, seed_key(seed))
    out = flat.reshape(w.shape)
    return (out[0], float(dt[0])) if squeezed else (out, dt)


def lattices_with_magnetisation(m: Any, L: int, rng: np.random.Generator) -> np.ndarray:
    """``[B, L, L]`` lattices whose magnetisations are ``m[b]`` rounded to the nearest attainable
    value (``n_up = round((1 + m) N / 2)``), spins placed uniformly at random."""
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    if m.ndim != 1 or np.any(np.abs(m) > 1) or not np.all(np.isfinite(m)):
        raise ValueError("m must be a 1-D array of values in [-1, 1]")
    L = check_count("L", L, 1)
    N = L * L
    n_up = np.rint((1.0 + m) * N / 2.0).astype(np.int64)
    out = -np.ones((len(m), N), dtype=np.int8)
    for b, k in enumerate(n_up):
        out[b, rng.permutation(N)[:k]] = 1
    return out.reshape(len(m), L, L)


def upsample(snapshots: Any, factor: int, rng: np.random.Generator) -> np.ndarray:
    r"""Large snapshots from small ones: replicate every spin into a ``factor × factor`` block
    (the official Upsample), then relax *exactly* by a uniform random permutation of the sites.

    Curie–Weiss spins are exchangeable: the generator depends on the configuration only through
    S, so a law that is uniform over arrangements given S stays so at all times. A uniform random
    arrangement with the replicated S is therefore the exact relaxed state of the replicated
    lattice (m is kept), which LocalRelax can only approximate (and the official LocalRelax used a
    patch-local mean field instead of the global one).
    """
    s, _ = as_spins("snapshots", snapshots)
    factor = check_count("factor", factor, 1)
    B, Lx, Ly = s.shape[0], s.shape[1] * factor, s.shape[2] * factor
    out = np.empty((B, Lx, Ly), dtype=np.int8)
    chunk = max(1, 2**22 // (Lx * Ly))                  # bounded memory for the permutation indices
    for a in range(0, B, chunk):
        big = np.repeat(np.repeat(s[a:a + chunk], factor, axis=1), factor, axis=2).reshape(-1, Lx * Ly)
        order = rng.permuted(np.tile(np.arange(Lx * Ly, dtype=np.int32), (len(big), 1)), axis=1)
        out[a:a + chunk] = np.take_along_axis(big, order, axis=1).reshape(-1, Lx, Ly)
    return out


def partial_increment_moments(m, N: int, n: int, dt: float, T: float, h: float,
                              tail: float = 1e-12) -> dict[str, np.ndarray]:
    r"""Exact moments of one partial evolution from a snapshot of magnetisation ``m`` (per value of
    ``m``), for a system of ``N`` spins, a patch of ``n`` spins and time ``dt``.

    Given S = round(m N) the snapshot is uniform over arrangements, so the patch's up-count k₀ is
    hypergeometric; the patch then evolves as the birth–death chain of its up-count k with the
    outside sum S − (2k₀ − n) frozen (the rates of :func:`flip_rates`
    at the current total). The law of (k₀, k(dt)) is propagated exactly (one sparse matrix
    exponential over a block per k₀, each block a window of k around its start and its mean-field
    relaxation, wide enough that the mass outside is negligible). Returns ``mean_partial``,
    ``var_partial`` (of Δm_I = m_I(dt) − m_I(0)), ``mean_naive``, ``var_naive`` (of m_I(dt) − m) and
    ``var_spread`` (Var(m_I(0) − m), the patch-to-system spread of the snapshot)."""
    m = np.atleast_1d(np.asarray(m, dtype=float))
    k_all = np.arange(n + 1)
    out = {key: np.empty(len(m)) for key in
           ("mean_partial", "var_partial", "mean_naive", "var_naive", "var_spread")}
    half = int(10 * math.sqrt(n * min(dt, 1.0))) + 10
    for i, mv in enumerate(m):
        n_up = int(np.rint((1 + mv) * N / 2))
        S = 2 * n_up - N
        p0 = hypergeom.pmf(k_all, N, n_up, n)
        k0s = np.flatnonzero(p0 > tail * p0.max())
        w0 = p0[k0s] / p0[k0s].sum()
        k_eq = n * (1 + math.tanh((S / N + h) / T)) / 2
        blocks, starts, ks = [], [], []
        for k0 in k0s:
            k_t = k_eq + (k0 - k_eq) * math.exp(-dt)
            lo, hi = max(0, int(min(k0, k_t)) - half), min(n, int(math.ceil(max(k0, k_t))) + half)
            k = np.arange(lo, hi + 1)
            up, down = flip_rates(S + 2 * (k - k0), N, T, h)
            wu, wd = (n - k) * up, k * down
            wu[-1], wd[0] = 0.0, 0.0                     # no flow out of the window
            blocks.append(sparse.diags([-(wu + wd), wu[:-1], wd[1:]], [0, -1, 1], format="csr"))
            starts.append(k0 - lo)
            ks.append(k)
        sizes = np.array([len(k) for k in ks])
        v = np.zeros(sizes.sum())
        v[np.concatenate([[0], np.cumsum(sizes)[:-1]]) + np.array(starts)] = w0
        prob = expm_multiply(sparse.block_diag(blocks, format="csr") * dt, v).clip(min=0)
        prob /= prob.sum()
        m_after = (2 * np.concatenate(ks) - n) / n
        m_before = (2 * np.repeat(k0s, sizes) - n) / n
        for name, d in (("partial", m_after - m_before), ("naive", m_after - S / N)):
            mean = prob @ d
            out[f"mean_{name}"][i], out[f"var_{name}"][i] = mean, prob @ (d - mean) ** 2
        e = (2 * k0s - n) / n - S / N
        out["var_spread"][i] = w0 @ e ** 2 - (w0 @ e) ** 2
    return out
