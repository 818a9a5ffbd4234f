"""OU-lattice toy: the partial target is unbiased, its covariance is λ* times the full one, and
L_p with λ = K recovers the large system's diffusion (λ = 1 is off by K, the naive target worse)."""

import math

import pytest
import torch
from torch import nn

from support.stochastic import (LatentSDE, PatchAdditiveEncoder, PatchGrid, encode_pairs,
                                partial_evolution, train_sde)
from support.systems.ou_lattice import (OULattice, exact_drift, exact_lambda, increment_moments,
                                       large_system_diffusion, patch_correlation, patch_diffusion,
                                       stationary_variance)
from support.train import TrainConfig

K, NS = 8, 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)      # tiny tensors: threading only adds overhead
    yield
    torch.set_num_threads(n)


def _increments(system, x, target_kind, seed):
    """ẑ₁ − z₀ of the partial (or full-system) increment for every row of x."""
    grid = PatchGrid((K * NS,), (NS,))
    enc = PatchAdditiveEncoder.for_system(system, grid)
    if target_kind == "full":
        x1 = system.step(x, torch.Generator().manual_seed(seed)).x
        return (enc(x1) - enc(x)).squeeze(-1)
    pairs = encode_pairs(enc, partial_evolution(system, grid, x, 1, seed), target_kind)
    return (pairs.z1 - pairs.z0).squeeze(-1)


def test_exact_formulas_are_consistent():
    s, rho = 1.3, 0.2
    rho_p = patch_correlation(rho, NS)
    assert exact_lambda(K) == K
    assert math.isclose(exact_lambda(K, rho_p),
                        patch_diffusion(s, NS, rho) / large_system_diffusion(s, K, NS, rho))
    assert math.isclose(large_system_diffusion(s, K, NS), patch_diffusion(s, NS) / K)
    system = OULattice.from_patch_noise(0.5, NS)
    assert math.isclose(patch_diffusion(system.site_noise, NS), 0.25)
    assert torch.equal(exact_drift(torch.tensor([2.0]), 0.5), torch.tensor([-1.0]))


def test_stationary_sample_has_the_exact_variance():
    system = OULattice(theta=0.7, site_noise=1.2, rho=0.3)
    x = system.stationary_sample(20000, K * NS, torch.Generator().manual_seed(0), torch.float64)
    z = system.observables(x).squeeze(-1)
    want = stationary_variance(large_system_diffusion(1.2, K, NS, 0.3), 0.7)
    assert abs(z.var().item() / want - 1) < 4 * math.sqrt(2 / 20000)


def test_partial_target_is_unbiased_for_the_full_increment():
    system = OULattice(theta=1.0, site_noise=1.0, dt=0.01)
    m = 40000
    # one fixed large state whose patches differ (patch means 0.5 … 2.0)
    sites = torch.linspace(0.5, 2.0, K, dtype=torch.float64).repeat_interleave(NS)
    x = sites.view(1, 1, -1).repeat(m, 1, 1)
    z = sites.mean().item()
    inc = _increments(system, x, "partial", seed=0)
    want, _ = increment_moments(torch.tensor(z), 1.0, 0.01, 1.0)
    se = inc.std().item() / math.sqrt(m)
    assert abs(inc.mean().item() - want.item()) < 4 * se
    # the test has power: an increment wrongly divided by K is rejected
    assert abs(inc.mean().item() / K - want.item()) > 10 * se


@pytest.mark.parametrize("rho", [0.0, 0.3])
def test_partial_covariance_is_lambda_times_the_full_one(rho):
    system = OULattice(theta=1.0, site_noise=1.0, rho=rho, dt=0.01)
    m = 20000
    x = torch.ones(m, 1, K * NS, dtype=torch.float64)       # equal patches: no drift spread
    ratio = _increments(system, x, "partial", 1).var() / _increments(system, x, "full", 2).var()
    want = exact_lambda(K, patch_correlation(rho, NS))
    assert abs(ratio.item() / want - 1) < 4 * math.sqrt(4 / m)     # ratio of two variances
    if rho:
        assert want < K / 2                                        # λ = K would be wrong here


def _fit_diffusion(target, lam):
    system = OULattice(theta=1.0, site_noise=1.0, dt=0.01)
    gen = torch.Generator().manual_seed(0)
    x = system.stationary_sample(20000, K * NS, gen)
    grid = PatchGrid((K * NS,), (NS,))
    enc = PatchAdditiveEncoder.for_system(system, grid)
    pairs = encode_pairs(enc, partial_evolution(system, grid, x, 1, gen), target)
    sde = LatentSDE(1, drift=nn.Linear(1, 1), diffusion="constant")
    train_sde(sde, pairs, TrainConfig(lr=0.1, batch_size=2000, steps=400, progress=False), lam=lam)
    return sde.diffusion_matrix(pairs.z0[:1]).item() / large_system_diffusion(1.0, K, NS)


def test_sde_fit_recovers_large_diffusion_only_with_lambda_K():
    assert abs(_fit_diffusion("partial", None) - 1) < 0.1        # default λ = K
    assert abs(_fit_diffusion("partial", 1.0) / K - 1) < 0.1     # λ = 1: K times too large
    assert _fit_diffusion("naive", None) > 2 * K                   # naive: spatial spread too


def test_bad_parameters_raise():
    with pytest.raises(ValueError):
        OULattice(rho=1.0)
    with pytest.raises(ValueError):
        OULattice(theta=0.0)
