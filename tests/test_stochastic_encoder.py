"""Patch-additive encoder, partial/naive targets, the mean-field context hook, the closure AE, MMD."""

import pytest
import torch

from support.metrics import mmd2
from support.stochastic import (PatchClosureAutoencoder, MLPDecoder, PatchAdditiveEncoder, PatchGrid,
                                PatchMLP, PerChannelMLP, StepResult, StochasticSystem, encode_pairs,
                                partial_evolution, train_closure)
from support.systems.spde_predator_prey import PredatorPreySPDE, initial_state, sample_parameters
from support.train import TrainConfig


# small nets: one torch thread is several times faster (fixture in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spde_setup(n_snap=32, seed=0):
    system = PredatorPreySPDE()
    gen = torch.Generator().manual_seed(seed)
    x0 = initial_state(*sample_parameters(4, gen), 200)
    x = system.simulate(x0, n_snap // 4 - 1, gen).snapshots()
    grid = PatchGrid((200,), (40,), boundary=system.boundary)
    torch.manual_seed(seed)
    enc = PatchAdditiveEncoder.for_system(system, grid, PerChannelMLP((40,), 2), closure_dim=2)
    return system, grid, enc, x


def test_encoder_is_the_patch_mean_of_the_local_latent():
    system, grid, enc, x = _spde_setup()
    z = enc(x)
    assert z.shape == (len(x), 4)
    assert torch.allclose(z[:, :2], x.mean(-1))                        # φ* = (ū, v̄)
    by_loop = torch.stack([enc.local(grid.extract(x, torch.full((len(x),), j)))
                           for j in range(grid.n_patches)]).mean(0)
    assert torch.allclose(z, by_loop, atol=1e-6)
    assert enc.additivity_gap(x).max() < 1e-6


def test_partial_target_is_K_times_the_increment_of_the_updated_state():
    """ẑ₁ = φ(x) + K [φ(x') − φ(x)], x' = x with patch I replaced (exact for additive φ)."""
    system, grid, enc, x = _spde_setup()
    sample = partial_evolution(system, grid, x, 3, 0)
    with torch.no_grad():
        pairs = encode_pairs(enc, sample, "partial", batch_size=7)
        x_new = grid.insert(x, sample.index, sample.patch_next)
        want = enc(x) + grid.n_patches * (enc(x_new) - enc(x))
        assert torch.allclose(pairs.z1, want, atol=1e-5)
        naive = encode_pairs(enc, sample, "naive")
        assert torch.allclose(naive.z1, enc.local(sample.patch_next))
        assert torch.allclose(naive.z0, pairs.z0, atol=1e-6)
    assert pairs.default_lambda == 5.0 and naive.default_lambda == 1.0
    assert torch.allclose(pairs.dt, torch.full((len(x),), 0.03))


def test_additivity_gap_detects_a_bond_observable():
    grid = PatchGrid((16,), (4,))
    x = torch.randn(5, 1, 16, generator=torch.Generator().manual_seed(0))

    def bonds(y):                                 # nearest-neighbour products with periodic wrap
        return (y * y.roll(1, dims=-1)).mean(dim=(1, 2)).unsqueeze(-1)

    assert PatchAdditiveEncoder(grid, bonds, 1).additivity_gap(x).item() > 1e-3


class _MeanFieldProbe(StochasticSystem):
    """Test double of a mean-field system: the patch becomes the frozen outside total it was given."""

    name, channels, spatial_dims, halo, boundary = "probe", 1, 2, 0, "periodic"
    n_observables = 1

    def observables(self, x):
        return x.flatten(1).mean(1, keepdim=True)

    def step(self, x, generator):
        return StepResult(x, torch.zeros(x.shape[0]), 0)

    def patch_context(self, x, origins, patch_shape):
        total = x.flatten(1).sum(1)
        patch = torch.stack([x[b, :, o[0]:o[0] + patch_shape[0], o[1]:o[1] + patch_shape[1]].sum()
                             for b, o in enumerate(origins.tolist())])
        return total - patch

    def evolve_patch(self, window, n_steps, generator, context=None):
        return StepResult(context.view(-1, 1, 1, 1).expand_as(window).clone(),
                          torch.ones(window.shape[0]), window[0].numel() * window.shape[0])


def test_mean_field_context_reaches_the_patch_simulator():
    grid = PatchGrid((6, 6), (3, 3))
    x = torch.randn(4, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    sample = partial_evolution(_MeanFieldProbe(), grid, x, 1, 0)
    outside = x.flatten(1).sum(1) - sample.patch_now().flatten(1).sum(1)
    assert torch.allclose(sample.patch_next[:, 0, 0, 0], outside)


def test_closure_autoencoder_trains_by_reconstruction():
    system, grid, enc, x = _spde_setup(n_snap=64)
    ae = PatchClosureAutoencoder(enc, MLPDecoder(4, (2, 200)))
    hist = train_closure(ae, x, TrainConfig(lr=1e-3, batch_size=16, epochs=5, progress=False,
                                            plateau_patience=100))
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    spins = torch.randint(0, 2, (32, 1, 8, 8), generator=torch.Generator().manual_seed(0)) * 2.0 - 1
    sgrid = PatchGrid((8, 8), (4, 4))
    senc = PatchAdditiveEncoder(sgrid, lambda s: s.flatten(1).mean(1, keepdim=True), 1,
                                PatchMLP((4, 4), 1, 2), closure_dim=2)
    sae = PatchClosureAutoencoder(senc, MLPDecoder(3, (1, 8, 8)))
    h = train_closure(sae, spins, TrainConfig(steps=5, batch_size=8, progress=False), loss="bce_pm1")
    assert all(torch.isfinite(torch.tensor(h.loss)))


def test_mmd_of_identical_samples_vanishes_and_detects_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 4, generator=g)
    assert mmd2(a, a).item() < 1e-6
    b = torch.randn(200, 4, generator=g)
    assert mmd2(a, b).item() < mmd2(a, b + 1.0).item()


def test_bad_inputs_raise():
    system, grid, enc, x = _spde_setup(n_snap=8)
    with pytest.raises(ValueError, match="local_net"):
        PatchAdditiveEncoder(grid, system.observables, 2, PerChannelMLP((40,), 2), closure_dim=0)
    sample = partial_evolution(system, grid, x, 1, 0)
    with pytest.raises(ValueError, match="unknown target"):
        encode_pairs(enc, sample, "full")
    other = PatchAdditiveEncoder.for_system(system, PatchGrid((200,), (20,), "replicate"))
    with pytest.raises(ValueError, match="grid"):
        encode_pairs(other, sample)
    with pytest.raises(RuntimeError, match="local_net returned"):
        PatchAdditiveEncoder.for_system(system, grid, PerChannelMLP((40,), 2), closure_dim=3)(x)
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        train_closure(PatchClosureAutoencoder(enc, MLPDecoder(4, (2, 200))), x,
                      TrainConfig(steps=1, progress=False), loss="l1")
