"""Exact continuous-time Glauber sampler of the 2-D Ising model, checked against independent truth.

Truth used here, none of it computed by the simulator:
* detailed balance of the rates against Boltzmann weights from a loop-based energy;
* the Boltzmann law of the 4×4 torus by enumerating its 65,536 states;
* the conditional Boltzmann law of a 3×3 window inside a frozen halo (512 states);
* Onsager's exact energy of the infinite lattice at h = 0 (T = 2.5, 3.0);
* the rates of the full lattice at the window sites (frozen-halo partial evolution).

Time averages use the CTMC holding times: a state visited by the chain is weighted by its holding
time (the ``dt`` of the next single event, or its mean ``1/R(x)``), which turns the jump chain's
law ``∝ π(x) R(x)`` back into the stationary law ``π``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from support.systems.spins import domain_wall_density, ising, ising_energy_per_site, magnetisation
from support.systems.spins import glauber_kernels as K

T_TEST, H_TEST = 2.5, 0.1


# ---------------------------------------------------------------------------- independent truth
def loop_energy(s: np.ndarray, h: float) -> float:
    """E = −Σ_<ij> s_i s_j − h Σ s_i on the periodic lattice, by explicit loops over bonds."""
    lx, ly = s.shape
    e = 0.0
    for i in range(lx):
        for j in range(ly):
            e -= s[i, j] * (s[(i + 1) % lx, j] + s[i, (j + 1) % ly]) + h * s[i, j]
    return e


def enumerate_torus(L: int, T: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """All 2^(L²) states of the L×L torus and their Boltzmann probabilities."""
    n = L * L
    codes = np.arange(2**n, dtype=np.int64)
    s = (((codes[:, None] >> np.arange(n)) & 1) * 2 - 1).reshape(-1, L, L)
    bonds = (s * np.roll(s, 1, 1)).sum((1, 2)) + (s * np.roll(s, 1, 2)).sum((1, 2))
    E = -bonds - h * s.sum((1, 2))
    w = np.exp(-(E - E.min()) / T)
    return s.astype(np.int8), w / w.sum()


def total_rate(s: np.ndarray, T: float, h: float) -> np.ndarray:
    """R(x) = Σ_i 1/(1 + exp(β ΔE_i)) by an explicit formula (batch [B, L, L])."""
    s = s.astype(float)
    n = np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2)
    return (1.0 / (1.0 + np.exp(2.0 * s * (n + h) / T))).sum((-2, -1))


def weighted_mean(f: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Ratio estimate Σf w / Σw over [replica, record] arrays and its standard error, from the
    spread of the replica totals (replicas are independent; records within one are correlated)."""
    fw, ww = (f * w).sum(1), w.sum(1)
    est = fw.sum() / ww.sum()
    resid = (fw - est * ww) / ww.mean()
    return float(est), float(resid.std(ddof=1) / math.sqrt(len(ww)))


def random_spins(rng: np.random.Generator, shape, m: float = 0.0) -> np.ndarray:
    return np.where(rng.random(shape) < (1 + m) / 2, 1, -1).astype(np.int8)


# ---------------------------------------------------------------------------- rates
def test_random_streams_uniform_and_distinct():
    u = K.uniforms(np.uint64(7), 0, 0, 200_000)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / u.size)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    v = K.uniforms(np.uint64(7), 1, 0, 1000)
    w = K.uniforms(np.uint64(8), 0, 0, 1000)
    assert abs(np.corrcoef(u[:1000], v)[0, 1]) < 0.15 and not np.array_equal(u[:1000], w)


def test_detailed_balance_of_rates():
    rng = np.random.default_rng(1)
    for T, h in [(2.5, 0.1), (1.3, -0.7), (4.0, 0.0)]:
        for _ in range(3):
            s = random_spins(rng, (5, 6))
            w = ising.heat_bath_rates(s, T, h)
            # the sampler's own class table, read through a periodic padding of the lattice
            np.testing.assert_allclose(ising.lattice_rates(s, T, h), w, rtol=1e-13)
            padded = np.pad(s, 1, mode="wrap")
            np.testing.assert_allclose(ising.window_rates(padded, T, h), w, rtol=1e-13)
            E = loop_energy(s, h)
            for i in range(5):
                for j in range(6):
                    t = s.copy()
                    t[i, j] *= -1
                    w_back = ising.heat_bath_rates(t, T, h)[i, j]
                    lhs = w[i, j] * math.exp(-E / T)
                    rhs = w_back * math.exp(-loop_energy(t, h) / T)
                    assert lhs == pytest.approx(rhs, rel=1e-12)
                    assert ising.flip_energy(s, h)[i, j] == pytest.approx(loop_energy(t, h) - E)


@pytest.mark.parametrize("origin", [(0, 0), (4, 8), (10, 9)])
def test_frozen_halo_window_has_full_system_rates(origin):
    rng = np.random.default_rng(2)
    lat = random_spins(rng, (12, 12))
    ell = 4
    rows = (origin[0] - 1 + np.arange(ell + 2)) % 12
    cols = (origin[1] - 1 + np.arange(ell + 2)) % 12
    window = lat[np.ix_(rows, cols)]
    inner = np.ix_(rows[1:-1], cols[1:-1])
    # bit for bit: same class of every window site as in the full lattice, same rate table
    full = ising.lattice_rates(lat, T_TEST, H_TEST)[inner]
    np.testing.assert_array_equal(ising.window_rates(window, T_TEST, H_TEST), full)
    # and the independent numpy formula
    np.testing.assert_allclose(full, ising.heat_bath_rates(lat, T_TEST, H_TEST)[inner], rtol=1e-13)


def test_one_event_in_frozen_halo_window_samples_the_full_rates():
    """First event of the window: site ∝ full-lattice rate, waiting time Exp(Σ window rates)."""
    rng = np.random.default_rng(3)
    lat = random_spins(rng, (8, 8))
    ell, origin, B = 4, (6, 2), 40_000
    rows, cols = (origin[0] + np.arange(ell)) % 8, (origin[1] + np.arange(ell)) % 8
    rates = ising.heat_bath_rates(lat, T_TEST, H_TEST)[np.ix_(rows, cols)].ravel()
    patches, dt = ising.evolve_patches(lat, np.tile(origin, (B, 1)), ell, 1, T_TEST, H_TEST,
                                       seed=5, lattice_index=np.zeros(B, int))
    before = lat[np.ix_(rows, cols)].reshape(-1)
    changed = patches.reshape(B, -1) != before
    assert (changed.sum(1) == 1).all()
    counts = np.bincount(changed.argmax(1), minlength=ell * ell)
    expected = B * rates / rates.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, ell * ell - 1) > 1e-3
    R = rates.sum()
    assert abs(dt.mean() * R - 1.0) < 4 / math.sqrt(B)
    assert stats.kstest(dt * R, "expon").pvalue > 1e-3


# ---------------------------------------------------------------------------- stationary laws
def test_4x4_torus_matches_enumerated_boltzmann_law():
    T, h, L = T_TEST, H_TEST, 4
    states, p = enumerate_torus(L, T, h)
    m = magnetisation(states)
    exact = {"m": p @ m, "|m|": p @ np.abs(m), "rho": p @ domain_wall_density(states),
             "e": p @ ising_energy_per_site(states, h)}
    # cross-check the energy observable against the loop energy on a few states
    for k in (0, 12345, 65535):
        assert ising_energy_per_site(states[k], h) * 16 == pytest.approx(loop_energy(states[k], h))

    rng = np.random.default_rng(4)
    B, n_rec, gap = 400, 300, 16  # record stride 17 events: odd (the jump chain has period 2)
    x = random_spins(rng, (B, L, L))
    x, _ = ising.run_events(x, 50 * L * L, T, h, seed=10)  # burn-in
    f = {k: np.empty((B, n_rec)) for k in exact}
    w = np.empty((B, n_rec))
    ratio = np.empty((B, n_rec))
    for r in range(n_rec):
        x, _ = ising.run_events(x, gap, T, h, seed=1000 + r)
        mm = magnetisation(x)
        f["m"][:, r], f["|m|"][:, r] = mm, np.abs(mm)
        f["rho"][:, r], f["e"][:, r] = domain_wall_density(x), ising_energy_per_site(x, h)
        R = total_rate(x, T, h)
        x, dt = ising.run_events(x, 1, T, h, seed=5000 + r)  # the holding time of the state
        w[:, r] = dt
        ratio[:, r] = dt * R
    # the holding time of x is Exp(R(x)): E[dt · R(x)] = 1
    assert abs(ratio.mean() - 1.0) < 4 * ratio.std() / math.sqrt(ratio.size / 2)
    for k, val in exact.items():
        est, se = weighted_mean(f[k], w)
        assert abs(est - val) < 4 * se, (k, est, val, se)
    # the unweighted jump-chain average is biased toward high-rate states (a sanity check that the
    # weighting matters: the bias in ρ_dw is positive and well resolved)
    assert f["rho"].mean() > exact["rho"]


def test_frozen_halo_window_matches_conditional_boltzmann_law():
    """A 3×3 window with a fixed halo relaxes to π(window | halo) (512 states enumerated)."""
    T, h = 2.0, 0.2
    rng = np.random.default_rng(6)
    window0 = random_spins(rng, (5, 5))
    codes = np.arange(512)
    inner = ((codes[:, None] >> np.arange(9)) & 1) * 2 - 1
    full = np.repeat(window0[None].astype(int), 512, 0)
    full[:, 1:4, 1:4] = inner.reshape(-1, 3, 3)
    # energy terms that involve the interior: interior–interior and interior–halo bonds, field
    E = np.zeros(512)
    for i in range(1, 4):
        for j in range(1, 4):
            E -= h * full[:, i, j]
            E -= full[:, i, j] * (full[:, i + 1, j] + full[:, i, j + 1])  # right/down bonds
            if i == 1:
                E -= full[:, i, j] * full[:, 0, j]
            if j == 1:
                E -= full[:, i, j] * full[:, i, 0]
    p = np.exp(-(E - E.min()) / T)
    p /= p.sum()
    m_exact = p @ inner.mean(1)
    corner_exact = p @ inner[:, 0]

    B, n_rec = 2000, 60
    x = np.repeat(window0[None], B, 0)
    inner_now, _ = ising.evolve_windows(x, 200, T, h, seed=1)
    x[:, 1:4, 1:4] = inner_now
    fm, fc, w = np.empty((B, n_rec)), np.empty((B, n_rec)), np.empty((B, n_rec))
    # one record every 9 events (8 + the one that measures the holding time): an odd stride,
    # because the jump chain is periodic (each event changes the number of up spins by ±1), so
    # an even stride would only ever see one parity class of states
    for r in range(n_rec):
        inner_now, _ = ising.evolve_windows(x, 8, T, h, seed=100 + r)
        x[:, 1:4, 1:4] = inner_now
        fm[:, r], fc[:, r] = inner_now.mean((1, 2)), inner_now[:, 0, 0]
        inner_now, dt = ising.evolve_windows(x, 1, T, h, seed=900 + r)
        w[:, r] = dt
        x[:, 1:4, 1:4] = inner_now
    assert (x[:, 0] == window0[0]).all() and (x[:, :, 0] == window0[:, 0]).all()  # halo kept
    for f, val in ((fm, m_exact), (fc, corner_exact)):
        est, se = weighted_mean(f, w)
        assert abs(est - val) < 4 * se, (est, val, se)


@pytest.mark.parametrize("T,L,n_rec,records", [(2.5, 48, 1000, "time"), (3.0, 32, 600, "events")])
def test_domain_wall_density_matches_onsager(T, L, n_rec, records):
    """h = 0: ρ_dw = (1 + u/2)/2 with Onsager's u. Finite-size corrections on the torus above T_c
    are O(exp(−L/ξ)) with ξ(2.5) ≈ 6.0, ξ(3.0) ≈ 2.1 (ξ⁻¹ = 2(K* − K)), i.e. ≲ 5e-4 here; the
    tolerance is 4 standard errors plus that bound.

    Records at fixed physical times are exact samples of the process (plain average); records
    after a fixed number of events are jump-chain samples, weighted by the mean holding time
    1/R(x) (an odd stride, N + 1 events, because the jump chain has period 2)."""
    exact = ising.onsager_domain_wall_density(T)
    rng = np.random.default_rng(7)
    B = 8
    x0 = random_spins(rng, (B, L, L))
    if records == "time":
        xs, ts = ising.simulate(x0, n_rec, T, 0.0, seed=11, record_time=2.0)
        np.testing.assert_allclose(ts[:, -1], 2.0 * n_rec)
    else:
        xs, _ = ising.simulate(x0, n_rec, T, 0.0, seed=11, events_per_record=L * L + 1)
    keep = xs[:, n_rec // 5:]
    rho = domain_wall_density(keep)
    w = np.ones(rho.shape) if records == "time" else 1.0 / total_rate(keep, T, 0.0)
    est, se = weighted_mean(rho, w)
    assert abs(est - exact) < 4 * se + 5e-4, (est, exact, se)


def test_fixed_time_states_follow_the_boltzmann_law_and_event_counts_do_not():
    """4×4 torus: the state at a fixed physical time is a sample of π (plain ensemble average);
    the state after a fixed number of events is not (jump chain law ∝ π·R, biased)."""
    T, h, L, B = T_TEST, H_TEST, 4, 20_000
    states, p = enumerate_torus(L, T, h)
    rho_exact = p @ domain_wall_density(states)
    R = total_rate(states, T, h)
    q = p * R / (p @ R)
    rho_jump = q @ domain_wall_density(states)
    x0 = random_spins(np.random.default_rng(12), (B, L, L))
    x, n_ev = ising.run_for_time(x0, 100.0, T, h, seed=13)
    rho = domain_wall_density(x)
    assert abs(rho.mean() - rho_exact) < 4 * rho.std() / math.sqrt(B)
    assert n_ev.mean() > 100
    # the fixed-event-count ensemble: its own average is the jump-chain one, not π's
    # (odd and even counts averaged, the jump chain having period 2)
    y = np.concatenate([ising.run_events(x0[: B // 2], 601, T, h, seed=14)[0],
                        ising.run_events(x0[B // 2:], 600, T, h, seed=15)[0]])
    rho_y = domain_wall_density(y)
    assert abs(rho_y.mean() - rho_jump) < 4 * rho_y.std() / math.sqrt(B)
    assert rho_jump - rho_exact > 8 * rho.std() / math.sqrt(B)


def test_fixed_time_stop_is_the_same_path_as_fixed_events():
    x = random_spins(np.random.default_rng(16), (3, 8, 8))
    y, dt = ising.run_events(x, 100, T_TEST, H_TEST, seed=17)
    for b in range(3):
        z, n = ising.run_for_time(x[b:b + 1], dt[b], T_TEST, H_TEST, seed=17)
        # stream (17, 0) for a batch of one; compare with the batch row run with that stream
        ref, ref_dt = ising.run_events(x[b], 100, T_TEST, H_TEST, seed=17)
        z1, n1 = ising.run_for_time(x[b], ref_dt, T_TEST, H_TEST, seed=17)
        assert n1 == 100
        np.testing.assert_array_equal(z1, ref)
    np.testing.assert_array_equal(ising.run_events(x[0], 100, T_TEST, H_TEST, seed=17)[0], y[0])
    patches, n_ev = ising.evolve_patches_for_time(x, np.zeros((3, 2), int), 4, 1.5, T_TEST, H_TEST,
                                                  seed=2)
    ref, _ = ising.evolve_patches(x, np.zeros((3, 2), int), 4, 0, T_TEST, H_TEST, seed=2)
    assert patches.shape == (3, 4, 4) and (n_ev > 0).all()
    np.testing.assert_array_equal(ref, x[:, :4, :4])


def test_onsager_anchor_values():
    for T, u, rho in [(2.25, -1.4631, 0.1342), (2.27, -1.4109, 0.1473), (2.29, -1.3620, 0.1595),
                      (2.5, -1.1061, 0.22348)]:
        assert ising.onsager_energy(T) == pytest.approx(u, abs=1e-4)
        assert ising.onsager_domain_wall_density(T) == pytest.approx(rho, abs=1e-4)
    assert ising.onsager_energy(ising.T_C) == pytest.approx(-math.sqrt(2), abs=1e-6)
    assert ising.onsager_energy(ising.T_C * (1 + 1e-9)) == pytest.approx(-math.sqrt(2), abs=1e-5)
    assert ising.onsager_energy(0.5) == pytest.approx(-2.0, abs=1e-6)  # ground state


# ---------------------------------------------------------------------------- boundary rules
def test_periodic_patch_option_equals_a_small_periodic_lattice():
    rng = np.random.default_rng(8)
    lats = random_spins(rng, (3, 16, 16))
    origins = np.array([[0, 0], [8, 12], [12, 4]])
    patches, dt = ising.evolve_patches(lats, origins, 8, 64, T_TEST, H_TEST, seed=3,
                                       boundary="periodic")
    extracted = np.stack([np.roll(lat, (-o[0], -o[1]), (0, 1))[:8, :8]
                          for lat, o in zip(lats, origins)])
    ref, ref_dt = ising.run_events(extracted, 64, T_TEST, H_TEST, seed=3)
    np.testing.assert_array_equal(patches, ref)
    np.testing.assert_array_equal(dt, ref_dt)


def test_frozen_patch_equals_evolve_windows_and_leaves_rest():
    rng = np.random.default_rng(9)
    lats = random_spins(rng, (4, 16, 16))
    origins = np.array([[0, 0], [8, 12], [12, 4], [15, 15]])
    patches, dt = ising.evolve_patches(lats, origins, 8, 64, T_TEST, H_TEST, seed=4)
    windows = np.stack([np.roll(lat, (1 - o[0], 1 - o[1]), (0, 1))[:10, :10]
                        for lat, o in zip(lats, origins)])
    ref, ref_dt = ising.evolve_windows(windows, 64, T_TEST, H_TEST, seed=4)
    np.testing.assert_array_equal(patches, ref)
    np.testing.assert_array_equal(dt, ref_dt)
    assert (patches != windows[:, 1:-1, 1:-1]).any() and (dt > 0).all()


# ---------------------------------------------------------------------------- reproducibility
def test_seeded_runs_are_reproducible_and_independent_of_batch_and_threads():
    rng = np.random.default_rng(10)
    x = random_spins(rng, (6, 16, 16))
    a, ta = ising.run_events(x, 500, T_TEST, H_TEST, seed=42)
    b, tb = ising.run_events(x, 500, T_TEST, H_TEST, seed=42)
    c, tc = ising.run_events(x, 500, T_TEST, H_TEST, seed=43)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta, tb)
    assert not np.array_equal(a, c)
    one, t_one = ising.run_events(x[0], 500, T_TEST, H_TEST, seed=42)
    np.testing.assert_array_equal(one, a[0])
    assert t_one == ta[0]
    n, threshold = numba.get_num_threads(), K.PARALLEL_MIN_EVENTS
    try:
        numba.set_num_threads(1)
        d, td = ising.run_events(x, 500, T_TEST, H_TEST, seed=42)  # serial loop
        numba.set_num_threads(max(n, 2))
        K.PARALLEL_MIN_EVENTS = 0
        e, te = ising.run_events(x, 500, T_TEST, H_TEST, seed=42)  # prange loop
        pe = ising.evolve_patches(x, np.zeros((6, 2), int), 8, 64, T_TEST, H_TEST, seed=1)
    finally:
        numba.set_num_threads(n)
        K.PARALLEL_MIN_EVENTS = threshold
    pd = ising.evolve_patches(x, np.zeros((6, 2), int), 8, 64, T_TEST, H_TEST, seed=1)
    for u, v in ((a, d), (ta, td), (a, e), (ta, te), (pe[0], pd[0]), (pe[1], pd[1])):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(x, random_spins(np.random.default_rng(10), (6, 16, 16)))  # input kept
    s1 = ising.simulate(x[:2], 3, T_TEST, H_TEST, seed=np.random.default_rng(0))
    s2 = ising.simulate(x[:2], 3, T_TEST, H_TEST, seed=np.random.default_rng(0))
    np.testing.assert_array_equal(s1[0], s2[0])
    assert s1[0].shape == (2, 4, 16, 16) and (np.diff(s1[1], axis=1) > 0).all()


def test_patch_origins_follow_the_patch_grid_numbering_and_torch_inputs_work():
    import torch

    from support.stochastic.patches import PatchGrid
    from support.systems.spins import patch_origins

    idx = np.arange(16)
    grid = PatchGrid((32, 32), (8, 8))
    np.testing.assert_array_equal(patch_origins((32, 32), 8, idx),
                                  grid.origins(torch.as_tensor(idx)).numpy())
    x = random_spins(np.random.default_rng(18), (2, 8, 8))
    a = ising.run_events(torch.as_tensor(x, dtype=torch.float32), 10, T_TEST, seed=1)
    b = ising.run_events(x, 10, T_TEST, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    p1 = ising.evolve_patches(x[0], torch.zeros(3, 2, dtype=torch.long), 4, 5, T_TEST, seed=2)
    assert p1[0].shape == (3, 4, 4)


def test_zero_events_and_sweep_counts():
    x = random_spins(np.random.default_rng(11), (8, 8))
    y, dt = ising.run_events(x, 0, T_TEST)
    np.testing.assert_array_equal(x, y)
    assert dt == 0.0
    # n events flip n sites (each event is a real flip: rejection-free)
    y, _ = ising.run_events(x, 1, T_TEST)
    assert (y != x).sum() == 1


# ---------------------------------------------------------------------------- observables
def test_observables_on_simple_states():
    up = np.ones((4, 6), np.int8)
    checker = np.where(np.add.outer(np.arange(4), np.arange(6)) % 2, 1, -1)
    stripes = np.repeat(np.array([[1], [1], [-1], [-1]]), 6, 1)
    assert magnetisation(up) == 1.0 and domain_wall_density(up) == 0.0
    assert domain_wall_density(checker) == 1.0 and magnetisation(checker) == 0.0
    assert domain_wall_density(stripes) == pytest.approx(12 / 48)  # 12 of 48 bonds cross a wall
    assert ising_energy_per_site(up, 0.3) == pytest.approx(-2.3)
    assert ising_energy_per_site(stripes, 0.0) * 24 == pytest.approx(loop_energy(stripes, 0.0))


# ---------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors():
    x = np.ones((8, 8), np.int8)
    with pytest.raises(ValueError, match="±1"):
        ising.run_events(np.zeros((8, 8)), 1, 2.0)
    with pytest.raises(ValueError, match="±1"):
        ising.run_events(np.full((8, 8), 2), 1, 2.0)
    with pytest.raises(ValueError, match="shape"):
        ising.run_events(np.ones(8), 1, 2.0)
    with pytest.raises(ValueError, match="shape"):
        ising.run_events(np.ones((2, 2, 8, 8)), 1, 2.0)
    with pytest.raises(TypeError, match="dtype"):
        ising.run_events(np.ones((8, 8), bool), 1, 2.0)
    for T in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            ising.run_events(x, 1, T)
    with pytest.raises(ValueError, match="field"):
        ising.run_events(x, 1, 2.0, h=float("nan"))
    with pytest.raises(ValueError, match="n_events"):
        ising.run_events(x, -1, 2.0)
    with pytest.raises(TypeError, match="n_events"):
        ising.run_events(x, 2.5, 2.0)
    with pytest.raises(ValueError, match="seed"):
        ising.run_events(x, 1, 2.0, seed=-3)
    with pytest.raises(ValueError, match="does not divide"):
        ising.evolve_patches(x, np.zeros((1, 2), int), 3, 1, 2.0)
    with pytest.raises(ValueError, match="inside the lattice"):
        ising.evolve_patches(x, np.array([[8, 0]]), 4, 1, 2.0)
    with pytest.raises(ValueError, match="inside the lattice"):
        ising.evolve_patches(x, np.array([[0, -1]]), 4, 1, 2.0)
    with pytest.raises(ValueError, match="origins"):
        ising.evolve_patches(x, np.array([[0, 0, 0]]), 4, 1, 2.0)
    with pytest.raises(ValueError, match="lattice_index"):
        ising.evolve_patches(np.stack([x, x]), np.zeros((3, 2), int), 4, 1, 2.0)
    with pytest.raises(IndexError, match="lattice_index"):
        ising.evolve_patches(np.stack([x, x]), np.zeros((1, 2), int), 4, 1, 2.0,
                             lattice_index=np.array([2]))
    with pytest.raises(ValueError, match="boundary"):
        ising.evolve_patches(x, np.zeros((1, 2), int), 4, 1, 2.0, boundary="open")
    with pytest.raises(ValueError, match="sides >= 3"):
        ising.evolve_windows(np.ones((2, 2)), 1, 2.0)
