r"""Compiled (numba) exact samplers of continuous-time Glauber dynamics, rejection-free.

**Dynamics.** Each spin ``i`` flips at the heat-bath rate

    w_i = 1 / (1 + exp(β ΔE_i)),                                                    (1)

``ΔE_i`` being the energy change of flipping it. The process is a continuous-time Markov chain;
from a state with total rate ``R = Σ_i w_i`` the next event flips spin ``i`` with probability
``w_i / R`` after an ``Exp(R)`` waiting time. Rates (1) satisfy detailed balance with the
Boltzmann law ``π ∝ exp(−βE)`` because ``w_i(s) / w_i(s^i) = exp(−β ΔE_i)``.

**Ising** (J = 1, field h): ``E = −Σ_⟨ij⟩ s_i s_j − h Σ_i s_i`` and

    ΔE_i = 2 s_i (n_i + h),   n_i = Σ_{j nn i} s_j ∈ {−4, −2, 0, 2, 4}.            (2)

The rate depends only on the *class* ``c = (s_i, n_i)``: 10 classes,
``c = 5·[s_i = +1] + (n_i + 4)/2``. The n-fold way (Bortz–Kalos–Lebowitz) keeps the sites of
every class in a bucket; an event picks a class with probability ``count_c · w_c / R``, a uniform
site of it, flips it (its class moves by ±5), and moves each active neighbour by ``±1`` class
(its ``n_j`` changes by ``2 s_i^new``). The cost is O(1) per event, independent of the lattice
size. Frozen halo spins take part in ``n_i`` but never flip.

**Curie–Weiss** (N spins, total spin S): ``E = −(S² − N)/(2N) − h S`` and

    ΔE_i = 2 s_i ((S − s_i)/N + h).                                                 (3)

All spins of one sign share one rate, so there are two classes: a − spin flips up at
``w↑ = 1/(1 + exp(−2β((S + 1)/N + h)))`` and a + spin down at
``w↓ = 1/(1 + exp(2β((S − 1)/N + h)))``. In a window of ``n_w`` spins (``n₊`` up) the event rates
are ``(n_w − n₊) w↑`` and ``n₊ w↓``; ``S = S_out + S_window`` with the outside sum frozen.

**Fixed number of events vs fixed time.** Every kernel stops after ``n_events`` events or at the
physical time ``t_max``, whichever comes first. The state after a fixed number of events follows
the embedded jump chain: its stationary law is ``π(x) R(x) / Z`` (biased toward high-rate states)
and it is periodic (every event flips one spin, so the parity of the number of up spins
alternates). Time averages along a path must weight each visited state by its holding time; the
state at a fixed time ``t_max`` is an exact sample of the continuous-time process.

**Random numbers.** Every sample ``b`` of a batch draws from its own xoshiro256** stream keyed
by ``(seed, b, sub)`` through splitmix64, so results do not depend on the batch size, on the
other samples or on the number of threads. Per event: one uniform picks the class, one the site
(Ising), one the waiting time ``−log(1 − u)/R``. The Curie–Weiss lattice sampler draws the class
and time from sub-stream 0 exactly like the count-only sampler, and the site from sub-stream 1,
so both give the same magnetisation path and times for the same seed.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

# ---------------------------------------------------------------------------- random streams
_U1 = np.uint64(1)
_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)
_SH = {k: np.uint64(k) for k in (11, 17, 27, 30, 31, 45)}
_S11, _S17, _S27, _S30, _S31, _S45 = (_SH[k] for k in (11, 17, 27, 30, 31, 45))
_R7, _R57, _R45, _R19 = np.uint64(7), np.uint64(57), np.uint64(45), np.uint64(19)
_FIVE, _NINE = np.uint64(5), np.uint64(9)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _mix64(z):
    """splitmix64 finaliser (a bijective hash of a uint64)."""
    z = (z ^ (z >> _S30)) * _SM_M1
    z = (z ^ (z >> _S27)) * _SM_M2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_state(seed, sample, sub):
    """xoshiro256** state (4 × uint64) of stream ``(seed, sample, sub)``."""
    key = _mix64(np.uint64(seed) + _SM_GAMMA)
    key = _mix64(key ^ (np.uint64(sample) + _SM_GAMMA))
    key = _mix64(key ^ (np.uint64(sub) * _SM_GAMMA + _U1))
    s = np.empty(4, np.uint64)
    x = key
    for k in range(4):
        x = x + _SM_GAMMA
        s[k] = _mix64(x)
    return s


@njit(cache=True, inline="always")
def _next(s):
    """xoshiro256** step: returns a uint64 and advances the state ``s`` in place."""
    x = s[1] * _FIVE
    r = ((x << _R7) | (x >> _R57)) * _NINE
    t = s[1] << _S17
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = (s[3] << _R45) | (s[3] >> _R19)
    return r


@njit(cache=True, inline="always")
def _uniform(s):
    """Uniform double in [0, 1) with 53 random bits."""
    return float(_next(s) >> _S11) * _INV53


@njit(cache=True)
def uniforms(seed, sample, sub, n):
    """``n`` uniforms of stream ``(seed, sample, sub)`` (for tests of the generator)."""
    s = stream_state(seed, sample, sub)
    out = np.empty(n)
    for k in range(n):
        out[k] = _uniform(s)
    return out


# ---------------------------------------------------------------------------- threads
#: a batch runs on numba's threads (``prange`` over samples) only when it has at least this many
#: events in all (thread start-up costs tens of µs; a busy machine makes small parallel calls
#: slower than serial ones). Results are identical either way (one stream per sample).
PARALLEL_MIN_EVENTS = 200_000


def use_threads(n_samples: int, n_events: int, n_sites: int) -> bool:
    """Whether a batch of ``n_samples`` runs of ``n_events`` events is worth the thread pool
    (for runs bounded by time, ``n_events`` is huge and 10 sweeps of ``n_sites`` are assumed)."""
    if n_samples < 2 or numba.get_num_threads() < 2:
        return False
    work = n_samples * min(int(n_events), 10 * max(int(n_sites), 1))
    return work >= PARALLEL_MIN_EVENTS


# ---------------------------------------------------------------------------- rates
@njit(cache=True, inline="always")
def heat_bath(x):
    """1 / (1 + exp(x)) without overflow (x = β ΔE)."""
    if x > 0.0:
        e = math.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(x))


@njit(cache=True)
def ising_rate_table(beta, h):
    """Rates (1)–(2) of the 10 Ising classes ``c = 5·[s = +1] + (n + 4)/2``."""
    r = np.empty(10)
    for c in range(10):
        s = 1.0 if c >= 5 else -1.0
        n = 2.0 * (c % 5) - 4.0
        r[c] = heat_bath(beta * 2.0 * s * (n + h))
    return r


@njit(cache=True, inline="always")
def _ising_class(state, a, site, nbr):
    n = state[nbr[a, 0]] + state[nbr[a, 1]] + state[nbr[a, 2]] + state[nbr[a, 3]]
    return (5 if state[site] > 0 else 0) + (n + 4) // 2


@njit(cache=True)
def ising_site_classes(state, active, nbr):
    """Class of every active site, as the sampler sees it (for rate-table tests)."""
    out = np.empty(active.shape[0], np.int64)
    for a in range(active.shape[0]):
        out[a] = _ising_class(state, a, active[a], nbr)
    return out


# ---------------------------------------------------------------------------- Ising n-fold way
@njit(cache=True, inline="always")
def _move(a, cnew, cls, pos, members, counts):
    """Move active site ``a`` from its bucket to bucket ``cnew`` (swap-with-last removal)."""
    c = cls[a]
    p = pos[a]
    last = members[c, counts[c] - 1]
    members[c, p] = last
    pos[last] = p
    counts[c] -= 1
    members[cnew, counts[cnew]] = a
    pos[a] = counts[cnew]
    counts[cnew] += 1
    cls[a] = cnew


@njit(cache=True)
def _ising_nfold(state, active, nbr, slot, n_events, t_max, rates, rng):
    """Run the n-fold way on the flat spins ``state`` (in place) for ``n_events`` events or until
    the physical time ``t_max``, whichever comes first.

    Returns ``(elapsed time, events done)``. Stopping at ``t_max`` is exact: when the next event
    would come after ``t_max`` the current state is the state at ``t_max`` (memoryless waiting
    times). A frozen state (total rate 0) returns ``t_max`` (``inf`` if unbounded).
    """
    n_a = active.shape[0]
    members = np.empty((10, n_a), np.int32)
    pos = np.empty(n_a, np.int32)
    cls = np.empty(n_a, np.int32)
    counts = np.zeros(10, np.int64)
    for a in range(n_a):
        c = _ising_class(state, a, active[a], nbr)
        cls[a] = c
        members[c, counts[c]] = a
        pos[a] = counts[c]
        counts[c] += 1
    t = 0.0
    for e in range(n_events):
        total = 0.0
        for c in range(10):
            total += counts[c] * rates[c]
        if not total > 0.0:
            return t_max, e
        u = _uniform(rng) * total
        chosen = -1
        for c in range(10):
            if counts[c] > 0 and rates[c] > 0.0:
                w = counts[c] * rates[c]
                chosen = c
                if u < w:
                    break
                u -= w
        k = int(_uniform(rng) * counts[chosen])
        if k >= counts[chosen]:
            k = counts[chosen] - 1
        a = members[chosen, k]
        wait = -math.log(1.0 - _uniform(rng)) / total
        if t + wait > t_max:
            return t_max, e
        t += wait
        site = active[a]
        snew = -state[site]
        state[site] = snew
        _move(a, chosen + 5 * snew, cls, pos, members, counts)
        for d in range(4):
            b = slot[nbr[a, d]]
            if b >= 0:
                _move(b, cls[b] + snew, cls, pos, members, counts)
    return t, n_events


@njit(cache=True)
def _ising_states_one(b, states, active, nbr, slot, n_events, t_max, rates, seed, times, done):
    rng = stream_state(seed, b, 0)
    times[b], done[b] = _ising_nfold(states[b], active, nbr, slot, n_events, t_max, rates, rng)


@njit(cache=True)
def _ising_states_serial(states, active, nbr, slot, n_events, t_max, rates, seed, times, done):
    for b in range(states.shape[0]):
        _ising_states_one(b, states, active, nbr, slot, n_events, t_max, rates, seed, times, done)


@njit(cache=True, parallel=True)
def _ising_states_parallel(states, active, nbr, slot, n_events, t_max, rates, seed, times, done):
    for b in prange(states.shape[0]):
        _ising_states_one(b, states, active, nbr, slot, n_events, t_max, rates, seed, times, done)


def ising_states_batch(states, active, nbr, slot, n_events, t_max, beta, h, seed):
    """Evolve every row of ``states [B, M]`` (int8, in place) by ``n_events`` events or up to
    time ``t_max``.

    Returns (elapsed time ``[B]``, events done ``[B]``); sample ``b`` uses stream ``(seed, b, 0)``.
    """
    n = states.shape[0]
    times, done = np.empty(n), np.empty(n, np.int64)
    loop = _ising_states_parallel if use_threads(n, n_events, states.shape[1]) else \
        _ising_states_serial
    loop(states, active, nbr, slot, int(n_events), float(t_max),
         ising_rate_table(float(beta), float(h)), np.uint64(seed), times, done)
    return times, done


@njit(cache=True)
def _ising_patch_one(b, lattices, which, origins, wx, wy, halo, active, nbr, slot,
                     n_events, t_max, rates, seed, out, times, done):
    lx, ly = lattices.shape[1], lattices.shape[2]
    bx, by = wx + 2 * halo, wy + 2 * halo
    lat = lattices[which[b]]
    x0 = origins[b, 0] - halo
    y0 = origins[b, 1] - halo
    state = np.empty(bx * by, np.int8)
    for i in range(bx):
        gi = (x0 + i) % lx
        for j in range(by):
            state[i * by + j] = lat[gi, (y0 + j) % ly]
    rng = stream_state(seed, b, 0)
    times[b], done[b] = _ising_nfold(state, active, nbr, slot, n_events, t_max, rates, rng)
    for a in range(wx * wy):
        out[b, a // wy, a % wy] = state[active[a]]


@njit(cache=True)
def _ising_patches_serial(lattices, which, origins, wx, wy, halo, active, nbr, slot,
                          n_events, t_max, rates, seed, out, times, done):
    for b in range(origins.shape[0]):
        _ising_patch_one(b, lattices, which, origins, wx, wy, halo, active, nbr, slot,
                         n_events, t_max, rates, seed, out, times, done)


@njit(cache=True, parallel=True)
def _ising_patches_parallel(lattices, which, origins, wx, wy, halo, active, nbr, slot,
                            n_events, t_max, rates, seed, out, times, done):
    for b in prange(origins.shape[0]):
        _ising_patch_one(b, lattices, which, origins, wx, wy, halo, active, nbr, slot,
                         n_events, t_max, rates, seed, out, times, done)


def ising_patches_batch(lattices, which, origins, wx, wy, halo, active, nbr, slot,
                        n_events, t_max, beta, h, seed):
    """Fused extract–evolve of ``B`` patches of periodic lattices ``[n, Lx, Ly]`` (int8).

    Sample ``b`` reads the ``(wx + 2·halo) × (wy + 2·halo)`` box of lattice ``which[b]`` whose
    interior starts at ``origins[b]`` (coordinates wrap), evolves it with the geometry
    ``(active, nbr, slot)`` and returns its active sites ``[B, wx, wy]`` and times ``[B]``.
    ``halo = 1`` with the frozen-halo geometry is the book's rule; ``halo = 0`` with the periodic
    geometry of the patch is the official code's rule. Stops after ``n_events`` events or at time
    ``t_max``. Returns (patches, times ``[B]``, events done ``[B]``). Stream ``(seed, b, 0)``.
    """
    n = origins.shape[0]
    out = np.empty((n, wx, wy), np.int8)
    times, done = np.empty(n), np.empty(n, np.int64)
    loop = _ising_patches_parallel if use_threads(n, n_events, wx * wy) else \
        _ising_patches_serial
    loop(lattices, which, origins, int(wx), int(wy), int(halo), active, nbr, slot, int(n_events),
         float(t_max), ising_rate_table(float(beta), float(h)), np.uint64(seed), out, times, done)
    return out, times, done


# ---------------------------------------------------------------------------- Curie–Weiss
@njit(cache=True, inline="always")
def _cw_rates(S, n_total, beta, h):
    """Per-spin rates (3): (w↑ of a − spin, w↓ of a + spin) at total spin ``S``."""
    up = heat_bath(-2.0 * beta * ((S + 1.0) / n_total + h))
    down = heat_bath(2.0 * beta * ((S - 1.0) / n_total + h))
    return up, down


@njit(cache=True, inline="always")
def _cw_event(n_up, n_win, S, n_total, beta, h, rng):
    """One event of the window birth–death chain: returns (flip up?, waiting time ``inf`` when
    no spin can flip)."""
    up, down = _cw_rates(S, n_total, beta, h)
    w_up = (n_win - n_up) * up
    w_down = n_up * down
    total = w_up + w_down
    if not total > 0.0:
        return False, math.inf
    go_up = _uniform(rng) * total < w_up
    return go_up, -math.log(1.0 - _uniform(rng)) / total


@njit(cache=True)
def _cw_counts_one(b, n_up, n_win, outside_sum, n_total, n_events, t_max, beta, h, seed,
                   out, times, done):
    rng = stream_state(seed, b, 0)
    k = n_up[b]
    t = 0.0
    e = 0
    while e < n_events:
        S = outside_sum[b] + 2 * k - n_win[b]
        go_up, dt = _cw_event(k, n_win[b], S, n_total, beta, h, rng)
        if t + dt > t_max:
            t = t_max
            break
        t += dt
        k += 1 if go_up else -1
        e += 1
    out[b] = k
    times[b] = t
    done[b] = e


@njit(cache=True)
def _cw_counts_serial(n_up, n_win, outside_sum, n_total, n_events, t_max, beta, h, seed,
                      out, times, done):
    for b in range(n_up.shape[0]):
        _cw_counts_one(b, n_up, n_win, outside_sum, n_total, n_events, t_max, beta, h, seed,
                       out, times, done)


@njit(cache=True, parallel=True)
def _cw_counts_parallel(n_up, n_win, outside_sum, n_total, n_events, t_max, beta, h, seed,
                        out, times, done):
    for b in prange(n_up.shape[0]):
        _cw_counts_one(b, n_up, n_win, outside_sum, n_total, n_events, t_max, beta, h, seed,
                       out, times, done)


def cw_counts_batch(n_up, n_win, outside_sum, n_total, n_events, t_max, beta, h, seed):
    """Count-only Curie–Weiss window chain for ``B`` samples.

    ``n_up [B]`` up spins among ``n_win [B]`` window spins, frozen outside sum ``outside_sum [B]``,
    ``n_total`` spins in the whole system; ``n_events`` events or up to time ``t_max``. Returns
    (new ``n_up`` [B], times [B], events done [B]); stream ``(seed, b, 0)``.
    """
    n = n_up.shape[0]
    out, times, done = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64)
    loop = _cw_counts_parallel if use_threads(n, n_events, int(n_win.max(initial=1))) else \
        _cw_counts_serial
    loop(n_up, n_win, outside_sum, int(n_total), int(n_events), float(t_max), float(beta),
         float(h), np.uint64(seed), out, times, done)
    return out, times, done


@njit(cache=True)
def _cw_lattice(state, outside_sum, n_total, n_events, t_max, beta, h, rng, rng_site):
    """Per-site Curie–Weiss window chain on the flat spins ``state`` (in place): two buckets.

    Returns (elapsed time, events done); stops after ``n_events`` or at time ``t_max``.
    """
    m = state.shape[0]
    plus = np.empty(m, np.int64)
    minus = np.empty(m, np.int64)
    pos = np.empty(m, np.int64)
    n_up = 0
    n_dn = 0
    for i in range(m):
        if state[i] > 0:
            plus[n_up] = i
            pos[i] = n_up
            n_up += 1
        else:
            minus[n_dn] = i
            pos[i] = n_dn
            n_dn += 1
    t = 0.0
    for e in range(n_events):
        S = outside_sum + n_up - n_dn
        go_up, dt = _cw_event(n_up, m, S, n_total, beta, h, rng)
        if t + dt > t_max:
            return t_max, e
        t += dt
        if go_up:
            k = min(int(_uniform(rng_site) * n_dn), n_dn - 1)
            i = minus[k]
            n_dn -= 1
            last = minus[n_dn]
            minus[k] = last
            pos[last] = k
            plus[n_up] = i
            pos[i] = n_up
            n_up += 1
            state[i] = 1
        else:
            k = min(int(_uniform(rng_site) * n_up), n_up - 1)
            i = plus[k]
            n_up -= 1
            last = plus[n_up]
            plus[k] = last
            pos[last] = k
            minus[n_dn] = i
            pos[i] = n_dn
            n_dn += 1
            state[i] = -1
    return t, n_events


@njit(cache=True)
def _cw_states_one(b, states, outside_sum, n_total, n_events, t_max, beta, h, seed, times, done):
    rng = stream_state(seed, b, 0)
    rng_site = stream_state(seed, b, 1)
    times[b], done[b] = _cw_lattice(states[b], outside_sum[b], n_total, n_events, t_max,
                                    beta, h, rng, rng_site)


@njit(cache=True)
def _cw_states_serial(states, outside_sum, n_total, n_events, t_max, beta, h, seed, times, done):
    for b in range(states.shape[0]):
        _cw_states_one(b, states, outside_sum, n_total, n_events, t_max, beta, h, seed,
                       times, done)


@njit(cache=True, parallel=True)
def _cw_states_parallel(states, outside_sum, n_total, n_events, t_max, beta, h, seed, times,
                        done):
    for b in prange(states.shape[0]):
        _cw_states_one(b, states, outside_sum, n_total, n_events, t_max, beta, h, seed,
                       times, done)


def cw_states_batch(states, outside_sum, n_total, n_events, t_max, beta, h, seed):
    """Evolve every row of ``states [B, M]`` (int8, in place) as a Curie–Weiss window.

    Returns (times ``[B]``, events done ``[B]``); class/time stream ``(seed, b, 0)``, site stream
    ``(seed, b, 1)``.
    """
    n = states.shape[0]
    times, done = np.empty(n), np.empty(n, np.int64)
    loop = _cw_states_parallel if use_threads(n, n_events, states.shape[1]) else \
        _cw_states_serial
    loop(states, outside_sum, int(n_total), int(n_events), float(t_max), float(beta), float(h),
         np.uint64(seed), times, done)
    return times, done


@njit(cache=True)
def _cw_patch_one(b, lattices, which, totals, origins, wx, wy, n_total, global_field,
                  n_events, t_max, beta, h, seed, out, times, done):
    lx, ly = lattices.shape[1], lattices.shape[2]
    lat = lattices[which[b]]
    state = np.empty(wx * wy, np.int8)
    s_win = 0
    for i in range(wx):
        gi = (origins[b, 0] + i) % lx
        for j in range(wy):
            v = lat[gi, (origins[b, 1] + j) % ly]
            state[i * wy + j] = v
            s_win += v
    s_out = totals[which[b]] - s_win if global_field else 0
    rng = stream_state(seed, b, 0)
    rng_site = stream_state(seed, b, 1)
    times[b], done[b] = _cw_lattice(state, s_out, n_total, n_events, t_max, beta, h,
                                    rng, rng_site)
    for a in range(wx * wy):
        out[b, a // wy, a % wy] = state[a]


@njit(cache=True)
def _cw_patches_serial(lattices, which, totals, origins, wx, wy, n_total, global_field,
                       n_events, t_max, beta, h, seed, out, times, done):
    for b in range(origins.shape[0]):
        _cw_patch_one(b, lattices, which, totals, origins, wx, wy, n_total, global_field,
                      n_events, t_max, beta, h, seed, out, times, done)


@njit(cache=True, parallel=True)
def _cw_patches_parallel(lattices, which, totals, origins, wx, wy, n_total, global_field,
                         n_events, t_max, beta, h, seed, out, times, done):
    for b in prange(origins.shape[0]):
        _cw_patch_one(b, lattices, which, totals, origins, wx, wy, n_total, global_field,
                      n_events, t_max, beta, h, seed, out, times, done)


def cw_patches_batch(lattices, which, totals, origins, wx, wy, n_total, global_field,
                     n_events, t_max, beta, h, seed):
    """Fused extract–evolve of ``B`` Curie–Weiss windows ``wx × wy`` of lattices ``[n, Lx, Ly]``.

    ``global_field``: the window feels the whole system, ``S = S_out + S_window`` with
    ``S_out = totals[which[b]] − S_window`` frozen and ``n_total`` the system size (the physical
    rule); otherwise the window is an isolated Curie–Weiss system of ``wx·wy`` spins (pass
    ``n_total = wx·wy``). Stops after ``n_events`` or at time ``t_max``. Returns the evolved
    windows ``[B, wx, wy]``, times ``[B]`` and events done ``[B]``.
    """
    n = origins.shape[0]
    out = np.empty((n, wx, wy), np.int8)
    times, done = np.empty(n), np.empty(n, np.int64)
    loop = _cw_patches_parallel if use_threads(n, n_events, wx * wy) else _cw_patches_serial
    loop(lattices, which, totals, origins, int(wx), int(wy), int(n_total), bool(global_field),
         int(n_events), float(t_max), float(beta), float(h), np.uint64(seed), out, times, done)
    return out, times, done
