"""Wolff cluster sampler, upsampling diagnostics and finite-size analysis against exact truth."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from support.systems.spins import ising, ising_energy_per_site, magnetisation, wolff
from support.systems.spins.diagnostics import (correlation_function, standardised_w1,
                                               wall_density_by_offset)
from support.systems.spins.finite_size import (EXACT, crossing_temperature, moments,
                                               onsager_magnetisation, power_law_fit, slope_in_T)
from support.systems.spins.ising_patches import (adjacent_increment_correlation,
                                                 lambda_from_correlation, patch_observables)
from support.systems.spins.observables import domain_wall_density

STATES_4X4 = np.array(list(itertools.product([-1, 1], repeat=16)), np.int8).reshape(-1, 4, 4)


def _exact_4x4(T: float, h: float) -> dict[str, float]:
    e, m = ising_energy_per_site(STATES_4X4, h), magnetisation(STATES_4X4)
    w = np.exp(-16 * (e - e.min()) / T)
    w /= w.sum()
    return {"m": float(w @ m), "abs_m": float(w @ np.abs(m)), "e": float(w @ e), "m2": float(w @ m ** 2)}


@pytest.mark.parametrize("T,h", [(2.5, 0.0), (2.0, 0.0), (2.5, 0.1), (2.0, -0.3)])
def test_wolff_samples_the_boltzmann_law_of_the_4x4_torus(T, h):
    """Exact averages over all 65,536 states; the tolerance is 5 standard errors from 32 independent chains."""
    out = wolff.wolff_chains(np.ones((32, 4, 4), np.int8), 4000, T, h, moves_per_record=2, seed=11)
    m, e = out["m"][:, 200:], out["e"][:, 200:]
    exact = _exact_4x4(T, h)
    for name, series in (("m", m), ("abs_m", np.abs(m)), ("e", e), ("m2", m ** 2)):
        per_chain = series.mean(axis=1)
        se = per_chain.std(ddof=1) / math.sqrt(len(per_chain))
        assert abs(per_chain.mean() - exact[name]) < 5 * se + 1e-3, (name, per_chain.mean(), exact[name], se)


def test_wolff_agrees_with_glauber_and_onsager():
    """Two different dynamics, one stationary law (16², T = 2.5); and the 64² energy is Onsager's
    above T_c (finite-size corrections are exponentially small there)."""
    lat = wolff.equilibrium_lattices(16, 2.5, 0.0, 32, seed=2)
    sweep, lat = wolff.moves_per_sweep(lat, 2.5, seed=3)
    w = wolff.wolff_chains(lat, 1000, 2.5, moves_per_record=sweep, seed=4)
    g, _ = ising.simulate(lat, 300, 2.5, 0.0, seed=5, record_time=5.0)
    ge = ising_energy_per_site(g[:, 30:]).mean(axis=1)
    assert abs(w["e"].mean() - ge.mean()) < 4 * ge.std(ddof=1) / math.sqrt(len(ge)) + 2e-3
    big = wolff.equilibrium_lattices(64, 2.5, 0.0, 16, seed=6)
    sweep, big = wolff.moves_per_sweep(big, 2.5, seed=7)
    e = wolff.wolff_chains(big, 100, 2.5, moves_per_record=sweep, seed=8)["e"]
    assert abs(e.mean() - ising.onsager_energy(2.5)) < 3e-3


def test_wolff_is_seeded_and_checks_its_input():
    x = np.ones((3, 8, 8), np.int8)
    a = wolff.wolff_chains(x, 5, 2.3, seed=1)
    b = wolff.wolff_chains(x, 5, 2.3, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["spins"], wolff.wolff_chains(x, 5, 2.3, seed=2)["spins"])
    with pytest.raises(ValueError, match="temperature"):
        wolff.wolff_chains(x, 5, -1.0)
    with pytest.raises(ValueError, match="moves_per_record"):
        wolff.wolff_chains(x, 5, 2.0, moves_per_record=0)
    with pytest.raises(ValueError, match="spins"):
        wolff.wolff_chains(np.zeros((8, 8)), 5, 2.0)


def test_replication_maps_are_exact():
    rng = np.random.default_rng(0)
    small = np.where(rng.random((5, 8, 8)) < 0.6, 1, -1).astype(np.int8)
    big = ising.replicate(small, 2)
    assert np.allclose(magnetisation(big), magnetisation(small))
    assert np.allclose(2 * domain_wall_density(big), domain_wall_density(small))
    assert np.allclose(correlation_function(big)[::2], correlation_function(small))
    blocks = wall_density_by_offset(big, 2)
    assert blocks[1] == 0 and np.isclose(blocks.mean(), domain_wall_density(big).mean())


def test_diagnostics_inputs_and_values():
    x = np.ones((2, 4, 4), np.int8)
    assert np.allclose(correlation_function(x), 1.0)
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 2 - 1
    assert np.allclose(correlation_function(checker[None].astype(np.int8)), [1, -1, 1])
    assert standardised_w1([0, 1], [0, 1]) == 0
    assert np.isclose(standardised_w1(np.arange(10) + 2.0, np.arange(10.0)), 2 / np.arange(10.0).std())
    with pytest.raises(ValueError, match="zero spread"):
        standardised_w1([1, 2], [3, 3])
    with pytest.raises(ValueError, match="non-empty"):
        standardised_w1([], [1, 2])
    with pytest.raises(ValueError, match="period"):
        wall_density_by_offset(x, 3)
    with pytest.raises(ValueError, match="r_max"):
        correlation_function(x, 3)


def test_finite_size_tools():
    L = np.array([16, 32, 64, 128])
    fit = power_law_fit(L, 3 * L ** -0.125)
    assert abs(fit["slope"] + 0.125) < 1e-12 and fit["r2"] > 0.999999
    assert abs(slope_in_T([2.0, 2.1, 2.2], [0.1, 0.3, 0.5]) - 2.0) < 1e-12
    assert abs(crossing_temperature([1, 2, 3], [0, 1, 2], [1, 1, 1]) - 2.0) < 1e-12
    assert math.isnan(crossing_temperature([1, 2], [0, 0], [1, 1]))
    g = np.random.default_rng(0).normal(size=200_000) * 0.1
    assert abs(moments(g, 16, 1.0)["binder"]) < 0.02               # Gaussian m: U = 0
    assert abs(moments(np.array([0.5, -0.5] * 50), 16, 1.0)["binder"] - 2 / 3) < 1e-12
    assert abs(onsager_magnetisation(2.25) - 0.6719) < 1e-4       # digest anchor
    assert onsager_magnetisation(2.3) == 0.0 and abs(EXACT["T_c"] - 2.269185) < 1e-6
    with pytest.raises(ValueError, match="positive"):
        power_law_fit([16, 32], [1.0, -1.0])
    with pytest.raises(ValueError, match="two finite"):
        moments([np.nan, 0.1], 16, 1.0)


def test_patch_observables_give_the_whole_lattice_change_times_k():
    rng = np.random.default_rng(3)
    L, ell = 32, 8
    x = np.where(rng.random((6, L, L)) < 0.5, 1, -1).astype(np.int8)
    obs = patch_observables(x, ell, 1.0, 2.3, 0.0, np.random.default_rng(4))
    K = (L // ell) ** 2
    for b, (i0, j0) in enumerate(obs["origins"]):
        y = x[b].copy()
        y[i0:i0 + ell, j0:j0 + ell] = obs["patches_after"][b]          # the lattice after its patch moved
        exact = K * np.array([magnetisation(y) - magnetisation(x[b]),
                              domain_wall_density(y) - domain_wall_density(x[b])])
        assert np.allclose(obs["after"][b] - obs["before"][b], exact)
    assert (obs["patches_after"] != obs["windows_before"][:, 1:-1, 1:-1]).any()   # something moved
    whole = patch_observables(x, L, 1.0, 2.3, 0.0, np.random.default_rng(5))   # K = 1: the full torus
    assert np.allclose(whole["after"][:, 1], domain_wall_density(whole["patches_after"]))
    assert np.allclose(whole["before"][:, 1], domain_wall_density(x))


def test_adjacent_correlation_and_lambda():
    rng = np.random.default_rng(6)
    x = np.where(rng.random((400, 32, 32)) < 0.5, 1, -1).astype(np.int8)
    # at infinite temperature every spin flips independently: no correlation between patches
    c = adjacent_increment_correlation(x, 8, 0.5, 1e6, 0.0, rng)
    assert abs(c["rho"]) < 4 * c["se"] + 0.02
    assert lambda_from_correlation(1, 0.3) == 1.0
    assert lambda_from_correlation(16, 0.0) == 16 and np.isclose(lambda_from_correlation(16, 0.25), 8)
    with pytest.raises(ValueError, match="K = 1 or K >= 4"):
        lambda_from_correlation(2, 0.0)
    with pytest.raises(ValueError, match="fit side by side"):
        adjacent_increment_correlation(x[:, :16, :16], 16, 0.5, 2.0, 0.0, rng)
