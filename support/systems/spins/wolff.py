r"""Equilibrium samples of the 2-D Ising model by Wolff cluster updates (numba) — the book's
independent reference for equilibrium statistics, near the critical point in particular.

Glauber dynamics (:mod:`.ising`) is the microscopic *dynamics* the chapters learn from; its
relaxation time grows like L^z (z ≈ 2.17) at T_c, so equilibrium averages of a 64² or 128² lattice
from Glauber alone cost hours. The Wolff algorithm has the same stationary law and decorrelates in
a few cluster moves at T_c. One move:

1. pick a uniform seed site; grow a cluster by adding every aligned nearest neighbour of a
   cluster site with probability ``p_add = 1 − exp(−2β)`` (each bond tried once);
2. flip the whole cluster with probability ``min(1, exp(−2βh s|C|))`` (``s`` its sign, ``|C|`` its
   size): at h = 0 always, the classic Wolff move; at h ≠ 0 this Metropolis step accounts for the
   field energy change ``2hs|C|``, which keeps detailed balance with π ∝ exp(−βE) because the
   bond part of the construction already satisfies it. The rejection is drawn member by member
   as the cluster grows (the "ghost spin" form), so a cluster doomed to be rejected — the giant
   majority cluster of a lattice ordered by its field — is abandoned after a few members.

Tested against the exact Boltzmann law of the 4×4 torus (65,536 states) with and without field
and against Glauber's stationary statistics (``tests/test_spins_wolff.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from .glauber_kernels import _uniform, stream_state, use_threads
from .lattice import (as_spins, check_count, check_field, check_temperature, periodic_geometry,
                      record_seeds, seed_key)


@njit(cache=True)
def _wolff_moves(state, nbr, n_moves, p_add, p_ghost, h_sign, rng, stack, mark):
    """``n_moves`` cluster moves of one flat lattice (in place); returns the sites of their
    clusters in all (a fixed number of moves: a stopping rule that depended on the cluster sizes
    would sample ordered states too often).

    A cluster aligned with the field (``s = h_sign``) is rejected with probability
    ``1 − exp(−2β|h||C|)``: each member, as it joins, rejects it with probability
    ``p_ghost = 1 − exp(−2β|h|)`` (a bond to the "ghost spin"), which stops the growth early
    and has the same law as deciding once the whole cluster is built."""
    n = state.shape[0]
    built = 0
    for _ in range(n_moves):
        seed_site = int(_uniform(rng) * n)
        s = state[seed_site]
        ghost = p_ghost > 0.0 and s == h_sign
        accept = not (ghost and _uniform(rng) < p_ghost)
        mark[seed_site] = 1
        stack[0] = seed_site
        head, size = 0, 1          # breadth-first: members stack[0:size], next to grow stack[head]
        while accept and head < size:
            i = stack[head]
            head += 1
            for k in range(4):
                j = nbr[i, k]
                if mark[j] == 0 and state[j] == s and _uniform(rng) < p_add:
                    mark[j] = 1
                    stack[size] = j
                    size += 1
                    if ghost and _uniform(rng) < p_ghost:
                        accept = False
                        break
        for q in range(size):
            i = stack[q]
            mark[i] = 0
            if accept:
                state[i] = -s
        built += size
    return built


@njit(cache=True)
def _observables(state, nbr):
    """(Σ s_i, Σ_⟨ij⟩ s_i s_j over the right/down bonds) of one flat lattice."""
    total, bonds = 0, 0
    for i in range(state.shape[0]):
        total += state[i]
        bonds += state[i] * (state[nbr[i, 1]] + state[nbr[i, 3]])
    return total, bonds


@njit(cache=True)
def _chain_one(b, states, nbr, n_records, n_moves, p_add, p_ghost, h_sign, seed, mags, bonds, built):
    n = states.shape[1]
    rng = stream_state(seed, b, 0)
    stack = np.empty(n, np.int64)
    mark = np.zeros(n, np.uint8)
    state = states[b]
    for r in range(n_records):
        built[b, r] = _wolff_moves(state, nbr, n_moves, p_add, p_ghost, h_sign, rng, stack, mark)
        mags[b, r], bonds[b, r] = _observables(state, nbr)


@njit(cache=True)
def _chains_serial(states, nbr, n_records, n_moves, p_add, p_ghost, h_sign, seed, mags, bonds, built):
    for b in range(states.shape[0]):
        _chain_one(b, states, nbr, n_records, n_moves, p_add, p_ghost, h_sign, seed, mags, bonds, built)


@njit(cache=True, parallel=True)
def _chains_parallel(states, nbr, n_records, n_moves, p_add, p_ghost, h_sign, seed, mags, bonds, built):
    for b in prange(states.shape[0]):
        _chain_one(b, states, nbr, n_records, n_moves, p_add, p_ghost, h_sign, seed, mags, bonds, built)


def wolff_chains(spins: Any, n_records: int, T: float, h: float = 0.0, *, moves_per_record: int = 1,
                 seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    """Run Wolff chains from periodic lattices ``[B, L, L]`` (modified copies are returned).

    Every ``moves_per_record`` cluster moves a chain records its magnetisation per site ``m``, its
    energy per site ``e = −(1/N)Σ_⟨ij⟩ s_i s_j − h m`` and the sites of the clusters built since the
    last record (``N`` of them make one "Wolff sweep"; :func:`moves_per_sweep`). Chain ``b`` uses
    the random stream ``(seed, b)``.

    Returns ``{"spins": [B, L, L] int8 (final), "m": [B, n_records], "e": [B, n_records],
    "built": [B, n_records]}`` (no batch axis for one lattice).
    """
    s, squeezed = as_spins("spins", spins)
    beta, h = check_temperature(T), check_field(h)
    n_records = check_count("n_records", n_records, 1)
    moves = check_count("moves_per_record", moves_per_record, 1)
    _, nbr, _ = periodic_geometry(s.shape[1], s.shape[2])
    flat = s.reshape(s.shape[0], -1).copy()
    B, N = flat.shape
    mags = np.empty((B, n_records), np.int64)
    bonds = np.empty((B, n_records), np.int64)
    built = np.empty((B, n_records), np.int64)
    loop = _chains_parallel if use_threads(B, n_records * moves * 32, N) else _chains_serial
    loop(flat, nbr, n_records, moves, -math.expm1(-2.0 * beta), -math.expm1(-2.0 * beta * abs(h)),
         np.int8(1 if h > 0 else -1), seed_key(seed), mags, bonds, built)
    m = mags / N
    out = {"spins": flat.reshape(s.shape), "m": m, "e": -bonds / N - h * m, "built": built}
    if squeezed:
        out = {k: v[0] for k, v in out.items()}
    return out


def moves_per_sweep(spins: Any, T: float, h: float = 0.0, *, pilot_moves: int = 200,
                    seed: int | np.random.Generator = 0) -> tuple[int, np.ndarray]:
    """Cluster moves that build about N sites (one Wolff sweep) at (T, h), from a pilot run of
    ``pilot_moves`` moves per lattice started at ``spins``: ``(⌈N / mean cluster size⌉, spins
    after the pilot)`` (the pilot doubles as burn-in)."""
    out = wolff_chains(spins, 1, T, h, moves_per_record=pilot_moves, seed=seed)
    n_sites = out["spins"].shape[-1] * out["spins"].shape[-2]
    mean_size = float(np.mean(out["built"])) / pilot_moves
    return max(1, math.ceil(n_sites / mean_size)), out["spins"]


def _sized_sweep(x: np.ndarray, T: float, h: float, rng: np.random.Generator,
                 max_rounds: int = 12) -> tuple[int, np.ndarray]:
    """Moves per Wolff sweep, sized on lattices that approach equilibrium: starting from random
    spins the first clusters are small (and a sweep of them is many moves, far too many once the
    clusters have grown near T_c), so pilots of one current sweep are repeated until the estimate
    changes by less than 20 % (the pilots double as burn-in)."""
    sweep, x = moves_per_sweep(x, T, h, seed=rng)
    for _ in range(max_rounds):
        new, x = moves_per_sweep(x, T, h, pilot_moves=min(sweep, 1000), seed=rng)
        done = abs(new - sweep) <= 0.2 * sweep
        sweep = new
        if done:
            break
    return sweep, x


def equilibrium_lattices(L: int, T: float, h: float = 0.0, n: int = 1, *, burn_in: int = 50,
                         sweeps_between: int = 2, n_per_chain: int = 1,
                         seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` equilibrium ``L × L`` lattices: ``⌈n / n_per_chain⌉`` chains from random spins, each
    burnt in for ``burn_in`` Wolff sweeps (after a pilot run that sizes a sweep), then
    ``n_per_chain`` lattices ``sweeps_between`` sweeps apart. Returns ``[n, L, L]`` int8."""
    L = check_count("L", L, 2)
    n = check_count("n", n, 1)
    per = check_count("n_per_chain", n_per_chain, 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed_key(seed)))
    x = np.where(rng.random((-(-n // per), L, L)) < 0.5, 1, -1).astype(np.int8)
    keys = record_seeds(rng, per + 2)
    sweep, x = _sized_sweep(x, T, h, rng)
    x = wolff_chains(x, 1, T, h, moves_per_record=check_count("burn_in", burn_in, 1) * sweep,
                     seed=keys[1])["spins"]
    between = check_count("sweeps_between", sweeps_between, 1) * sweep
    out = []
    for key in keys[2:]:
        x = wolff_chains(x, 1, T, h, moves_per_record=between, seed=key)["spins"]
        out.append(x)
    return np.stack(out, axis=1).reshape(-1, L, L)[:n]
