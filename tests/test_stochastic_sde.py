"""Latent SDE: PD diffusion in every mode, L_p against NumPy, normalisation, rollout statistics."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from support.stochastic import (DIFFUSION_MODES, Diffusion, LatentPairs, LatentSDE,
                                gaussian_increment_nll, train_sde)
from support.train import TrainConfig


# small nets: one torch thread is several times faster (fixture in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("mode", DIFFUSION_MODES)
def test_diffusion_is_positive_definite_in_every_mode(mode):
    torch.manual_seed(0)
    net = Diffusion(4, mode, hidden=(16, 16))
    with torch.no_grad():                                  # move parameters away from the init
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    sigma = net(2 * torch.randn(256, 4)).double()
    assert sigma.shape == (256, 4, 4)
    assert torch.equal(sigma, sigma.tril())                # lower triangular ...
    assert (torch.diagonal(sigma, dim1=-2, dim2=-1) > 0).all()   # ... with a positive diagonal
    cov = sigma @ sigma.mT
    assert (torch.linalg.eigvalsh(cov) > 0).all()
    # σ is exactly the (unique) Cholesky factor of σσᵀ
    assert torch.allclose(torch.linalg.cholesky(cov), sigma, atol=1e-10)
    # even where softplus underflows (huge negative raw values) the diagonal keeps its floor
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(-1e6)
    diag = torch.diagonal(net(torch.ones(3, 4)), dim1=-2, dim2=-1)
    assert (diag >= net.min_scale).all()


def test_diffusion_initial_scale():
    for mode in DIFFUSION_MODES:
        s = Diffusion(3, mode, init_scale=0.3)(torch.randn(2, 3))
        assert torch.allclose(s, 0.3 * torch.eye(3).expand(2, 3, 3), atol=1e-6)


def _numpy_loss(z0, z1, dt, mu, sigma, lam, eps):
    out = []
    for a, b, h, m, s in zip(z0, z1, dt, mu, sigma):
        cov = lam * h * s @ s.T + eps * np.eye(len(a))
        r = b - a - m * h
        out.append(r @ np.linalg.inv(cov) @ r + np.linalg.slogdet(cov)[1])
    return np.mean(out)


def test_loss_matches_a_direct_numpy_evaluation():
    g = torch.Generator().manual_seed(0)
    B, d = 64, 3
    z0, z1, mu = (torch.randn(B, d, generator=g, dtype=torch.float64) for _ in range(3))
    sigma = torch.randn(B, d, d, generator=g, dtype=torch.float64)   # any (non-triangular) σ
    dt = 0.01 + torch.rand(B, generator=g, dtype=torch.float64)      # per-sample δt
    got = gaussian_increment_nll(z0, z1, dt, mu, sigma, lam=5.0, eps=1e-3)
    want = _numpy_loss(*(t.numpy() for t in (z0, z1, dt, mu, sigma)), 5.0, 1e-3)
    assert math.isclose(got.item(), want, rel_tol=1e-10)
    # λ enters the covariance only: λ = 1 gives a different value
    assert not math.isclose(gaussian_increment_nll(z0, z1, dt, mu, sigma, 1.0, 1e-3).item(), want,
                            rel_tol=1e-3)


def test_model_loss_uses_fixed_training_normalisation():
    g = torch.Generator().manual_seed(1)
    z_train = 3 + 2 * torch.randn(500, 2, generator=g)
    model = LatentSDE(2, diffusion="diagonal", hidden=(8,))
    with pytest.raises(RuntimeError, match="fit_normalisation"):
        model.loss(z_train, z_train, 0.1, 1.0)
    model.fit_normalisation(z_train)
    assert torch.allclose(model.scaler.mean, z_train.mean(0)) and torch.allclose(
        model.scaler.std, z_train.std(0, unbiased=False))
    z0, z1 = z_train[:10], z_train[10:20]
    zn0, zn1 = model.scaler.normalize(z0), model.scaler.normalize(z1)
    want = gaussian_increment_nll(zn0, zn1, 0.1, model.drift_net(zn0), model.diffusion_net(zn0), 2.0)
    assert torch.allclose(model.loss(z0, z1, 0.1, 2.0), want)
    # physical diffusion = diag(std) σₙσₙᵀ diag(std)
    s = model.diffusion_net(zn0)
    assert torch.allclose(model.diffusion_matrix(z0), model.scaler.std[:, None] * (s @ s.mT)
                          * model.scaler.std[None, :], rtol=1e-5)


class _Zero(nn.Module):
    def forward(self, z):
        return torch.zeros_like(z)


def test_simulate_produces_the_right_ensemble_variance_in_physical_units():
    model = LatentSDE(2, drift=_Zero(), diffusion="constant_diagonal", init_scale=0.5)
    model.fit_normalisation(torch.tensor([[0.0, 0.0], [2.0, 6.0]]))       # std = (1, 3)
    z0 = torch.tensor([[1.0, 3.0]]).repeat(4000, 1)
    paths = model.simulate(z0, dt=0.01, n_steps=100, generator=0)
    assert paths.shape == (4000, 101, 2) and torch.equal(paths[:, 0], z0)
    var = paths[:, -1].var(0)
    want = torch.tensor([0.25 * 1.0, 0.25 * 9.0])                          # σ² std² T, T = 1
    assert torch.allclose(var, want, rtol=4 * math.sqrt(2 / 4000))
    again = model.simulate(z0[:3], dt=0.01, n_steps=5, generator=0)
    assert torch.equal(again, model.simulate(z0[:3], dt=0.01, n_steps=5, generator=0))


def test_train_sde_recovers_a_constant_covariance():
    """Pairs from an exact Gaussian step with correlated noise: the full Cholesky mode recovers Σ."""
    g = torch.Generator().manual_seed(2)
    n, dt = 20000, 0.05
    chol = torch.tensor([[0.6, 0.0], [0.3, 0.4]])
    z0 = torch.randn(n, 2, generator=g)
    z1 = z0 - z0 * dt + math.sqrt(dt) * torch.randn(n, 2, generator=g) @ chol.T
    pairs = LatentPairs(z0, z1, torch.full((n,), dt), n_patches=1, target="partial")
    model = LatentSDE(2, drift=nn.Linear(2, 2), diffusion="constant")
    train_sde(model, pairs, TrainConfig(lr=0.05, batch_size=2000, steps=300, progress=False))
    got = model.diffusion_matrix(z0[:1])[0]
    assert torch.allclose(got, chol @ chol.T, atol=0.03)


def test_bad_inputs_raise():
    z = torch.zeros(4, 2)
    s = torch.eye(2).expand(4, 2, 2)
    with pytest.raises(ValueError, match="unknown diffusion mode"):
        Diffusion(2, "arbitrary")
    with pytest.raises(ValueError, match="lam"):
        gaussian_increment_nll(z, z, 0.1, z, s, lam=0.0)
    with pytest.raises(ValueError, match="dt"):
        gaussian_increment_nll(z, z, torch.tensor([0.1, 0.1, -0.1, 0.1]), z, s, lam=1.0)
    with pytest.raises(ValueError, match="dt"):
        gaussian_increment_nll(z, z, torch.ones(3), z, s, lam=1.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_increment_nll(z, z, 0.1, z, torch.eye(2), lam=1.0)
    model = LatentSDE(2)
    with pytest.raises(ValueError, match="constant"):
        model.fit_normalisation(torch.ones(10, 2))
    with pytest.raises(ValueError, match="non-finite"):
        model.simulate(torch.full((1, 2), float("nan")), 0.1, 2)
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        model.simulate(torch.zeros(1, 3), 0.1, 2)
    bad = LatentPairs(z, torch.full((4, 2), float("inf")), torch.ones(4), 2, "partial")
    with pytest.raises(ValueError, match="non-finite"):
        train_sde(model, bad, TrainConfig(steps=1, progress=False))
