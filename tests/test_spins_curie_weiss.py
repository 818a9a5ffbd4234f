"""Exact continuous-time Glauber sampler of Curie–Weiss spins, checked against independent truth.

Truth: the stationary law P(S) ∝ C(N, N₊) exp(β(S² − N)/2N + βhS) recomputed here with exact
binomials, the digest's anchor table (T = 1.1, h = 0.1), the conditional law of a window in a
frozen outside field, per-site rates from an explicit pair-sum energy, and the large-N drift and
diffusion of m.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from support.systems.spins import curie_weiss as cw
from support.systems.spins import glauber_kernels as K
from support.systems.spins import magnetisation

T_TEST, H_TEST = 1.1, 0.1


def exact_law(N: int, T: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """P(S) for S = −N, −N+2, …, N with exact integer binomials (independent of the module)."""
    S = np.arange(-N, N + 1, 2)
    logw = np.array([math.log(math.comb(N, (N + s) // 2)) + (s * s - N) / (2 * N * T) + h * s / T
                     for s in S])
    w = np.exp(logw - logw.max())
    return S, w / w.sum()


def pair_energy(s: np.ndarray, h: float) -> float:
    """E = −(1/2N) Σ_{i≠j} s_i s_j − h Σ s_i by an explicit double loop."""
    N = s.size
    e = 0.0
    for i in range(N):
        for j in range(N):
            if i != j:
                e -= s[i] * s[j] / (2 * N)
    return e - h * s.sum()


def random_spins(rng, shape, m=0.0):
    return np.where(rng.random(shape) < (1 + m) / 2, 1, -1).astype(np.int8)


# ---------------------------------------------------------------------------- exact law and rates
def test_stationary_law_matches_anchor_table_and_exact_binomials():
    for N, mean, std in [(4096, 0.4899, 0.0245), (1024, 0.4873, 0.0493), (256, 0.4765, 0.1013),
                         (64, 0.4320, 0.2185)]:
        mu, sd = cw.stationary_moments(N, T_TEST, H_TEST)
        assert mu == pytest.approx(mean, abs=1e-4) and sd == pytest.approx(std, abs=1e-4)
    S, p = exact_law(64, T_TEST, H_TEST)
    m, q = cw.stationary_law(64, T_TEST, H_TEST)
    np.testing.assert_allclose(m, S / 64)
    np.testing.assert_allclose(q, p, rtol=1e-10)


def test_rates_satisfy_detailed_balance_with_the_pair_energy():
    rng = np.random.default_rng(0)
    N, T, h = 12, 0.8, 0.3
    for _ in range(5):
        s = random_spins(rng, N).astype(float)
        E = pair_energy(s, h)
        assert cw.energy_per_site(s.reshape(3, 4), h) * N == pytest.approx(E)
        up, down = cw.flip_rates(s.sum(), N, T, h)
        for i in range(N):
            t = s.copy()
            t[i] *= -1
            dE = pair_energy(t, h) - E
            w = up if s[i] < 0 else down
            assert w == pytest.approx(1 / (1 + math.exp(dE / T)), rel=1e-12)
            up_t, down_t = cw.flip_rates(t.sum(), N, T, h)
            w_back = up_t if t[i] < 0 else down_t
            assert w * math.exp(-E / T) == pytest.approx(w_back * math.exp(-(E + dE) / T), rel=1e-12)


def test_generator_coefficients_large_N_limit():
    m = np.linspace(-0.9, 0.9, 7)
    N = 10**7
    mu, s2 = cw.generator_coefficients(m, N, T_TEST, H_TEST)
    th = np.tanh((m + H_TEST) / T_TEST)
    np.testing.assert_allclose(mu, th - m, atol=1e-5)
    np.testing.assert_allclose(N * s2, 2 * (1 - m * th), atol=1e-5)
    # anchors: fixed point m* = 0.49074, μ'(m*) = −0.310, Nσ²(m*) = 1.518
    m_star = 0.49074
    assert abs(math.tanh((m_star + H_TEST) / T_TEST) - m_star) < 1e-4
    d = 1e-4
    slope = (cw.generator_coefficients(m_star + d, N, T_TEST, H_TEST)[0]
             - cw.generator_coefficients(m_star - d, N, T_TEST, H_TEST)[0]) / (2 * d)
    assert slope == pytest.approx(-0.310, abs=1e-3)
    assert N * cw.generator_coefficients(m_star, N, T_TEST, H_TEST)[1] == pytest.approx(1.518, abs=1e-3)


# ---------------------------------------------------------------------------- samplers agree
def test_lattice_and_count_samplers_follow_the_same_path():
    rng = np.random.default_rng(1)
    lats = random_spins(rng, (5, 8, 8), m=0.3)
    x, dt = cw.run_events(lats, 300, T_TEST, H_TEST, seed=9)
    S, dt_c = cw.run_counts(lats.astype(int).sum((1, 2)), 64, 300, T_TEST, H_TEST, seed=9)
    np.testing.assert_array_equal(x.astype(int).sum((1, 2)), S)
    np.testing.assert_array_equal(dt, dt_c)
    # windows: fused patches == pre-extracted windows with their outside sums == counts
    origins = np.array([[0, 0], [4, 4], [4, 0], [0, 4], [4, 4]])
    p, dt_p = cw.evolve_patches(lats, origins, 4, 50, T_TEST, H_TEST, seed=3)
    wins = np.stack([lat[o[0]:o[0] + 4, o[1]:o[1] + 4] for lat, o in zip(lats, origins)])
    outside = lats.astype(int).sum((1, 2)) - wins.astype(int).sum((1, 2))
    q, dt_q = cw.evolve_windows(wins, outside, 64, 50, T_TEST, H_TEST, seed=3)
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(dt_p, dt_q)
    sw, dt_w = cw.evolve_counts(wins.astype(int).sum((1, 2)), 16, outside, 64, 50, T_TEST,
                                H_TEST, seed=3)
    np.testing.assert_array_equal(p.astype(int).sum((1, 2)), sw)
    np.testing.assert_array_equal(dt_p, dt_w)
    # each event is a flip inside the window
    assert ((p != wins).sum((1, 2)) <= 50).all() and ((p != wins).sum((1, 2)) % 2 == 0).all()


def test_patch_field_option_is_an_isolated_small_system():
    rng = np.random.default_rng(2)
    lats = random_spins(rng, (3, 16, 16))
    origins = np.array([[0, 8], [8, 8], [12, 12]])
    p, dt = cw.evolve_patches(lats, origins, 8, 64, T_TEST, H_TEST, seed=4, field="patch")
    ext = np.stack([np.roll(lat, (-o[0], -o[1]), (0, 1))[:8, :8] for lat, o in zip(lats, origins)])
    ref, ref_dt = cw.run_events(ext, 64, T_TEST, H_TEST, seed=4)
    np.testing.assert_array_equal(p, ref)
    np.testing.assert_array_equal(dt, ref_dt)


def test_one_event_in_a_window_samples_the_full_system_rates():
    rng = np.random.default_rng(3)
    lat = random_spins(rng, (8, 8), m=0.4)
    s = lat.astype(float)
    N, S = s.size, s.sum()
    rates = 1.0 / (1.0 + np.exp(2 * s * ((S - s) / N + H_TEST) / T_TEST))  # ΔE_i from (3)
    origin, ell, B = (4, 2), 4, 40_000
    win_rates = rates[4:8, 2:6].ravel()
    p, dt = cw.evolve_patches(lat, np.tile(origin, (B, 1)), ell, 1, T_TEST, H_TEST, seed=6,
                              lattice_index=np.zeros(B, int))
    changed = p.reshape(B, -1) != lat[4:8, 2:6].reshape(-1)
    assert (changed.sum(1) == 1).all()
    counts = np.bincount(changed.argmax(1), minlength=ell * ell)
    expected = B * win_rates / win_rates.sum()
    assert stats.chi2.sf(((counts - expected) ** 2 / expected).sum(), ell * ell - 1) > 1e-3
    assert abs(dt.mean() * win_rates.sum() - 1) < 4 / math.sqrt(B)


# ---------------------------------------------------------------------------- stationary laws
def test_time_average_with_holding_times_matches_exact_law_N64():
    """Count chain, 2000 replicas; jump-chain states weighted by their holding time; record
    stride 33 events (odd: the jump chain has period 2)."""
    N, B, n_rec = 64, 2000, 150
    S_all, p = exact_law(N, T_TEST, H_TEST)
    m_exact, m2_exact = p @ (S_all / N), p @ (S_all / N) ** 2
    rng = np.random.default_rng(4)
    S = 2 * rng.binomial(N, 0.5, size=B) - N
    S, _ = cw.run_counts(S, N, 20 * N, T_TEST, H_TEST, seed=1)
    f1, f2, w = np.empty((B, n_rec)), np.empty((B, n_rec)), np.empty((B, n_rec))
    for r in range(n_rec):
        S, _ = cw.run_counts(S, N, 32, T_TEST, H_TEST, seed=100 + r)
        f1[:, r], f2[:, r] = S / N, (S / N) ** 2
        S, dt = cw.run_counts(S, N, 1, T_TEST, H_TEST, seed=10_000 + r)
        w[:, r] = dt
    for f, val in ((f1, m_exact), (f2, m2_exact)):
        fw, ww = (f * w).sum(1), w.sum(1)
        est = fw.sum() / ww.sum()
        se = ((fw - est * ww) / ww.mean()).std(ddof=1) / math.sqrt(B)
        assert abs(est - val) < 4 * se, (est, val, se)
    std_est = math.sqrt((f2 * w).sum() / w.sum() - ((f1 * w).sum() / w.sum()) ** 2)
    assert std_est == pytest.approx(0.2185, abs=0.01)


def test_fixed_time_lattice_ensemble_matches_exact_law_N256():
    B, N = 1500, 256
    mu, sd = cw.stationary_moments(N, T_TEST, H_TEST)
    x0 = random_spins(np.random.default_rng(5), (B, 16, 16), m=-0.5)
    x, n_ev = cw.run_for_time(x0, 30.0, T_TEST, H_TEST, seed=2)
    m = magnetisation(x)
    assert abs(m.mean() - mu) < 4 * sd / math.sqrt(B)
    # std of m: sampling error of a std ≈ sd / √(2B)
    assert abs(m.std() - sd) < 4 * sd / math.sqrt(2 * B)
    assert (n_ev > 10 * N).all()


def test_window_relaxes_to_the_conditional_law_in_the_frozen_outside_field():
    """A 4×4 window of an 8×8 system (N = 64), outside sum fixed: P(k up in window) ∝
    C(16, k) exp(β S²/2N + βhS), S = S_out + 2k − 16. Exact states at a fixed time."""
    rng = np.random.default_rng(7)
    lat = random_spins(rng, (8, 8), m=0.6)
    lat[:4, :4] = -1  # start the window far from its equilibrium
    s_out = int(lat.astype(int).sum() - lat[:4, :4].astype(int).sum())
    k = np.arange(17)
    S = s_out + 2 * k - 16
    logw = np.array([math.log(math.comb(16, int(j))) for j in k]) + \
        (S * S / (2 * 64) + H_TEST * S) / T_TEST
    p = np.exp(logw - logw.max())
    p /= p.sum()
    B = 20_000
    win, n_ev = cw.evolve_patches_for_time(lat, np.zeros((B, 2), int), 4, 25.0, T_TEST, H_TEST,
                                           seed=8, lattice_index=np.zeros(B, int))
    ups = (win > 0).sum((1, 2))
    counts = np.bincount(ups, minlength=17)
    keep = p * B > 5
    expected = p[keep] * B
    chi2 = ((counts[keep] - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3
    assert counts[~keep].sum() < 5 * max(p[~keep].sum() * B, 1)
    assert n_ev.min() > 50


# ---------------------------------------------------------------------------- checks
def test_reproducible_and_bad_input():
    x = random_spins(np.random.default_rng(9), (4, 8, 8))
    a = cw.run_events(x, 100, T_TEST, H_TEST, seed=1)
    b = cw.run_events(x, 100, T_TEST, H_TEST, seed=1)
    c = cw.run_events(x, 100, T_TEST, H_TEST, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    threshold = K.PARALLEL_MIN_EVENTS
    try:  # the prange loops give the same results as the serial ones
        K.PARALLEL_MIN_EVENTS = 0
        d = cw.run_events(x, 100, T_TEST, H_TEST, seed=1)
        e = cw.run_counts(x.astype(int).sum((1, 2)), 64, 100, T_TEST, H_TEST, seed=1)
        f = cw.evolve_patches(x, np.zeros((4, 2), int), 4, 10, T_TEST, H_TEST, seed=1)
    finally:
        K.PARALLEL_MIN_EVENTS = threshold
    np.testing.assert_array_equal(a[0], d[0])
    np.testing.assert_array_equal(a[1], d[1])
    np.testing.assert_array_equal(e[0], a[0].astype(int).sum((1, 2)))
    g = cw.evolve_patches(x, np.zeros((4, 2), int), 4, 10, T_TEST, H_TEST, seed=1)
    np.testing.assert_array_equal(f[0], g[0])
    xs, ts = cw.simulate(x[0], 5, T_TEST, H_TEST, seed=3, record_time=0.5)
    assert xs.shape == (6, 8, 8)
    np.testing.assert_allclose(ts, 0.5 * np.arange(6))

    with pytest.raises(ValueError, match="±1"):
        cw.run_events(np.zeros((4, 4)), 1, 1.0)
    with pytest.raises(ValueError, match="temperature"):
        cw.run_events(x, 1, 0.0)
    with pytest.raises(ValueError, match="parity"):
        cw.run_counts(3, 64, 1, 1.0)
    with pytest.raises(ValueError, match="parity"):
        cw.evolve_counts(0, 16, 100, 64, 1, 1.0)
    with pytest.raises(ValueError, match="field"):
        cw.evolve_patches(x, np.zeros((4, 2), int), 4, 1, 1.0, field="local")
    with pytest.raises(ValueError, match="does not divide"):
        cw.evolve_patches(x, np.zeros((4, 2), int), 3, 1, 1.0)
    with pytest.raises(ValueError, match="inside the lattice"):
        cw.evolve_patches(x, np.full((4, 2), 9), 4, 1, 1.0)
    with pytest.raises(ValueError, match="outside_sum"):
        cw.evolve_windows(x[:, :4, :4], np.zeros(3, int), 64, 1, 1.0)
    with pytest.raises(ValueError, match="outside_sum"):
        cw.evolve_windows(x[:, :4, :4], 49, 64, 1, 1.0)
    with pytest.raises(ValueError, match="duration"):
        cw.run_for_time(x, -1.0, 1.0)
    with pytest.raises(ValueError, match="not both"):
        cw.simulate(x, 2, 1.0, events_per_record=3, record_time=1.0)


# ---------------------------------------------------------------------------- partial evolution, exactly
def test_partial_increment_moments_match_the_simulator():
    """The experiment's exact moments of one partial evolution (hypergeometric patch law, patch
    chain in the frozen outside sum, propagated by a matrix exponential) against the simulator: a
    16×16 system at m = 0.25, random 4×4 patches of exchangeable snapshots evolved for δt."""
    from support.systems.spins.curie_weiss import partial_increment_moments
    from support.systems.spins import patch_origins

    rng = np.random.default_rng(11)
    L, ell, B = 16, 4, 20_000
    N, n = L * L, ell * ell
    for dt in (0.2, 2.0):
        x = cw.lattices_with_magnetisation(np.full(B, 0.25), L, rng)
        origins = patch_origins((L, L), ell, rng.integers(0, (L // ell) ** 2, B))
        after, _ = cw.evolve_patches_for_time(x, origins, ell, dt, T_TEST, H_TEST, seed=12, field="global")
        rows, cols = origins[:, 0, None] + np.arange(ell), origins[:, 1, None] + np.arange(ell)
        before = x[np.arange(B)[:, None, None], rows[:, :, None], cols[:, None, :]]
        m, mb, ma = magnetisation(x), magnetisation(before), magnetisation(after)
        pred = partial_increment_moments([0.25], N, n, dt, T_TEST, H_TEST)
        for name, d in (("partial", ma - mb), ("naive", ma - m)):
            var = d.var(ddof=1)
            assert abs(d.mean() - pred[f"mean_{name}"][0]) < 4 * math.sqrt(var / B)
            se_var = math.sqrt(((d - d.mean()) ** 4).mean() - var ** 2) / math.sqrt(B)
            assert abs(var - pred[f"var_{name}"][0]) < 4 * se_var
        # the spread term is the hypergeometric variance of a patch of a uniform arrangement
        assert pred["var_spread"][0] == pytest.approx((1 - 0.25 ** 2) * (N - n) / (n * (N - 1)), rel=1e-9)


def test_partial_increment_moments_short_time_limit_is_the_generator():
    """As δt → 0: E[Δm_I]/δt → μ(m), Var(Δm_I)/(K δt) → σ²(m) (λ = K), and the naive increment's
    variance → Var(m_I − m), the spread term, which over δt diverges."""
    from support.systems.spins.curie_weiss import partial_increment_moments

    N, n, dt = 1024, 64, 1e-4
    ms = np.array([-0.5, 0.0, 0.4])
    pred = partial_increment_moments(ms, N, n, dt, T_TEST, H_TEST)
    mu, var = cw.generator_coefficients(ms, N, T_TEST, H_TEST)
    np.testing.assert_allclose(pred["mean_partial"] / dt, mu, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(pred["var_partial"] / (N // n * dt), var, rtol=5e-3)
    np.testing.assert_allclose(pred["var_naive"], pred["var_spread"], rtol=1e-2)
