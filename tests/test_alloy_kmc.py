"""Vacancy KMC and SRO of the NbMoTa alloy, against independent truth:

* the official KMC's trajectory (README §6: vacancy site and clock after hops 1 and 1000 with numpy's
  legacy generator seeded 0 — computed with the official code);
* the BKL bookkeeping: rates ν exp(−E/k_BT) from the barriers, event frequencies ∝ rates (χ²),
  exponential waiting times of mean 1/R (KS), the mean-time mode Δt = 1/R, conservation;
* the frozen halo: only the chosen vacancy moves, inside its box, nothing outside changes;
* SRO: pair counts by explicit loops, the sum rules, exact values of a B2-ordered crystal, δ ≈ 0
  for random solid solutions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from support.stochastic.partial_evolution import evolve_random_patches
from support.systems.alloy import evolution as E
from support.systems.alloy import kmc, lattice as L, sro as S
from support.systems.alloy.barriers import BarrierNetwork


def reference_lattice() -> np.ndarray:
    g = np.full((16, 16, 16), -1, dtype=np.int8)
    g[L.site_mask(8)] = np.random.default_rng(2).integers(1, 4, size=1024)
    g[0, 0, 0] = 0
    return g


def test_reproduces_official_trajectory():
    net = BarrierNetwork(dtype="float64")
    state = kmc.init_state(reference_lattice(), 2000.0, net)
    rs = np.random.RandomState(0)                      # the official generator and draw order
    kmc.step(state, rs, net)
    assert state.vac[0, 0].tolist() == [15, 1, 1]
    assert state.time[0] == pytest.approx(8.69425e-11, rel=1e-5)
    for _ in range(999):
        kmc.step(state, rs, net)
    assert state.vac[0, 0].tolist() == [8, 2, 8]
    assert state.time[0] == pytest.approx(1.49474e-7, rel=1e-5)
    np.testing.assert_array_equal(L.species_counts(state.grids), [[341, 342, 340]])


def test_rates_and_event_frequencies():
    T = 2000.0
    state = kmc.init_state(reference_lattice(), T)
    e = state.barriers[0, 0]
    r = kmc.event_rates(state)[0, 0]
    np.testing.assert_allclose(r, 1e13 * np.exp(-e / (8.617333e-5 * T)), rtol=1e-12)
    n = 40_000
    batch = kmc.KMCState(np.repeat(state.grids, n, 0), np.repeat(state.vac, n, 0),
                         np.repeat(state.barriers, n, 0), np.full(n, T), mobile=np.ones((n, 1), bool))
    rng = np.random.default_rng(1)
    choice, dt = kmc.draw(batch, rng)
    counts = np.bincount(choice, minlength=8)
    expected = n * r / r.sum()
    keep = expected > 5
    chi2 = (((counts - expected) ** 2 / expected)[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3
    assert counts[~keep].sum() <= max(5, 3 * expected[~keep].sum() + 3)
    # exponential waiting times of rate R; the mean mode gives exactly 1/R
    assert stats.kstest(dt * r.sum(), "expon").pvalue > 1e-3
    _, dt_mean = kmc.draw(batch, rng, waiting="mean")
    np.testing.assert_allclose(dt_mean, 1 / r.sum(), rtol=1e-12)


def test_hop_bookkeeping_and_reverse_hop():
    rng = np.random.default_rng(3)
    grids = L.random_alloys(8, 4, rng)
    state = kmc.init_state(grids, 2500.0)
    start = state.grids.copy()
    choice, dt = kmc.draw(state, rng)
    kmc.apply(state, choice, dt)
    assert (state.hops == 1).all() and np.allclose(state.time, dt)
    np.testing.assert_array_equal(L.species_counts(state.grids), L.species_counts(start))
    assert ((state.grids != start).sum(axis=(1, 2, 3)) == 2).all()   # one atom–vacancy swap
    # the reverse hop restores the cell, and the barriers are those of a fresh state
    reverse = 7 - choice % 8                                         # −d has index 7 − k
    kmc.apply(state, reverse, dt)
    np.testing.assert_array_equal(state.grids, start)
    np.testing.assert_allclose(state.barriers, kmc.init_state(start, 2500.0).barriers, atol=1e-6)


def test_barriers_stay_consistent_with_many_vacancies():
    rng = np.random.default_rng(4)
    state = kmc.init_state(L.random_alloys(16, 2, rng, n_vacancies=8), 3000.0)
    for _ in range(300):
        kmc.step(state, rng)
    fresh = kmc.init_state(state.grids, 3000.0)                  # vacancies in C order
    for b in range(2):
        key = (state.vac[b] * [1024, 32, 1]).sum(1)
        np.testing.assert_array_equal(state.vac[b][np.argsort(key)], fresh.vac[b])
        np.testing.assert_allclose(state.barriers[b][np.argsort(key)], fresh.barriers[b], atol=1e-6)


def _partial(grids, T, hops, side, rng, checkpoints=()):
    """The one partial evolution with the alloy's hooks, as the nbmota experiment calls it."""
    ev = evolve_random_patches(E.AlloyDynamics(T, hops, side, checkpoints=checkpoints), grids, rng)
    return {"after": ev.patches, "dt": ev.info.dt, "final": ev.info.final, "before": ev.info.before,
            "checkpoints": ev.info.checkpoints}


def test_frozen_halo_patch():
    rng = np.random.default_rng(5)
    grids = L.random_alloys(16, 6, rng, n_vacancies=8)
    out = _partial(grids, 3000.0, 200, 16, rng)
    st = out["final"]
    mob = st.mobile
    rel = (st.vac[mob] - st.box_lo) % st.size
    assert (rel < 16).all()
    for b in range(len(grids)):
        lo = st.box_lo[b]
        inside = np.zeros(grids.shape[1:], bool)
        idx = [(lo[a] + np.arange(16)) % 32 for a in range(3)]
        inside[np.ix_(*idx)] = True
        np.testing.assert_array_equal(st.grids[b][~inside], grids[b][~inside])
        np.testing.assert_array_equal(st.vac[b][~mob[b]], L.vacancies(grids[b:b + 1])[0][~mob[b]])
    assert (out["dt"] > 0).all()
    np.testing.assert_allclose(out["after"], S.sro(st.grids))


# ------------------------------------------------------------------------------------- SRO
def loop_pairs(x: np.ndarray) -> np.ndarray:
    out = np.zeros((3, 3), dtype=np.int64)
    g = x.shape[0]
    for i, j, k in np.argwhere(x > 0):
        for d in L.HOPS:
            y = x[(i + d[0]) % g, (j + d[1]) % g, (k + d[2]) % g]
            if y > 0:
                out[x[i, j, k] - 1, y - 1] += 1
    return out


def test_pair_counts_and_sum_rules():
    rng = np.random.default_rng(6)
    grids = L.random_alloys(8, 3, rng)
    n = S.pair_counts(grids)
    np.testing.assert_array_equal(n[0], loop_pairs(grids[0]))
    d = S.sro(grids)
    c = L.species_counts(grids)
    Z = np.zeros((3, 3, 3))
    for m, (i, j) in enumerate(S.SRO_PAIRS):
        Z[:, i, j] = d[:, m] + 8 / 3
        Z[:, j, i] = (d[:, m] + 8 / 3) * c[:, i] / c[:, j]       # c_i Z_ij = c_j Z_ji
    vac_bonds = np.array([[((g == s) & sum((np.roll(g, tuple(-h), (0, 1, 2)) == 0) for h in L.HOPS)
                            .astype(bool)).sum() for s in (1, 2, 3)] for g in grids])
    np.testing.assert_allclose(Z.sum(2), 8 - vac_bonds / c)   # one vacancy: ≤ 1 vacant neighbour


def test_b2_order_exact():
    g = np.full((16, 16, 16), -1, dtype=np.int8)
    mask = L.site_mask(8)
    idx = np.argwhere(mask)
    even = (idx % 2 == 0).all(1)
    g[tuple(idx[even].T)] = 2                                   # Mo on the corners
    odd = idx[~even]
    g[tuple(odd.T)] = np.where(odd[:, 0] % 4 == 1, 1, 3)        # Nb / Ta layers on the centres
    d = dict(zip(S.SRO_NAMES, S.sro(g)))
    assert d["MoMo"] == pytest.approx(-8 / 3) and d["NbNb"] == pytest.approx(-8 / 3)
    assert d["NbMo"] == pytest.approx(16 / 3) and d["NbTa"] == pytest.approx(-8 / 3)
    assert d["MoTa"] == pytest.approx(4 - 8 / 3)               # half the Mo neighbours are Ta


def test_random_alloy_has_no_order():
    d = S.sro(L.random_alloys(8, 60, np.random.default_rng(7)))
    se = d.std(0, ddof=1) / np.sqrt(len(d))
    assert (np.abs(d.mean(0)) < 4 * se + 0.01).all()
    assert (d.std(0) < 0.15).all()


def test_bad_inputs():
    g = reference_lattice()
    with pytest.raises(ValueError, match="non-site"):
        S.sro(np.where(g == -1, 1, g))
    with pytest.raises(ValueError, match="temperatures"):
        kmc.init_state(g, -5.0)
    with pytest.raises(ValueError, match="waiting"):
        kmc.draw(kmc.init_state(g, 2000.0), np.random.default_rng(), waiting="bogus")
    with pytest.raises(ValueError, match="record_times"):
        E.simulate(g, 2000.0, [2.0, 1.0], np.random.default_rng())


def test_simulate_records_at_times():
    rng = np.random.default_rng(8)
    grids = L.random_alloys(8, 3, rng)
    times = np.linspace(0, 2e-8, 5)
    out = E.simulate(grids, 2500.0, times, rng, snapshots=True)
    np.testing.assert_allclose(out["delta"][:, 0], S.sro(grids))
    np.testing.assert_allclose(out["delta"][:, -1], S.sro(out["snapshots"][:, -1].copy()))
    assert out["mean_wait"] > 0 and (out["hops"] > 0).all()


def test_tiling_is_equimolar_with_one_vacancy_per_tile():
    rng = np.random.default_rng(9)
    small = L.random_alloys(8, 5, rng)
    big = E.tile_snapshots(small, 2, 3, rng)
    np.testing.assert_array_equal(L.species_counts(big), [[2728] * 3] * 3)
    assert L.vacancies(big).shape == (3, 8, 3)
    L.check_grids("big", big)


def test_replication_is_seamless_and_checkpoints_match():
    rng = np.random.default_rng(10)
    small = L.random_alloys(8, 3, rng)
    big = E.replicate_snapshots(small, 2, [2, 0])
    np.testing.assert_allclose(S.sro(big), S.sro(small[[2, 0]]))          # no seams: same δ
    assert L.vacancies(big).shape == (2, 8, 3)
    out = _partial(big, 2500.0, 20, 16, rng, checkpoints=(5, 20))
    np.testing.assert_allclose(out["checkpoints"][20][0], out["after"])
    np.testing.assert_allclose(out["checkpoints"][20][1], out["dt"])
    assert (out["checkpoints"][5][1] < out["dt"]).all()
