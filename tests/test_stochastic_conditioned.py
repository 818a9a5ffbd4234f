"""SDEs conditioned on fixed parameters (support.stochastic.conditioned): the parameter coordinates
never move (up to the round-off of standardising), and σ has zero rows and columns for them."""

from __future__ import annotations

import pytest
import torch

from support.stochastic.conditioned import AffineDrift, conditioned_sde


@pytest.mark.parametrize("drift", ["mlp", "affine"])
def test_parameters_stay_fixed(one_torch_thread, drift):
    torch.manual_seed(0)
    model = conditioned_sde(3, 1, (16,), drift=drift).double()
    z = torch.randn(50, 4, dtype=torch.float64)
    model.fit_normalisation(z)
    paths = model.simulate(z[:5], 0.01, 20, generator=1)
    assert torch.allclose(paths[:, :, 3], z[:5, None, 3].expand(5, 21), rtol=0, atol=1e-12)  # round-off of the scaler
    assert not torch.equal(paths[:, -1, :3], z[:5, :3])
    s = model.sigma(z)
    assert torch.all(s[:, 3] == 0) and torch.all(s[:, :, 3] == 0)
    assert torch.all(model.drift(z)[:, 3] == 0)


def test_affine_drift_is_affine_in_z():
    torch.manual_seed(1)
    f = AffineDrift(2, 1, (8,)).double()
    c = torch.full((4, 1), 0.3, dtype=torch.float64)
    z = torch.randn(4, 2, dtype=torch.float64)
    mu = lambda x: f(torch.cat([x, c], 1))[:, :2]
    lhs = mu(2 * z) - mu(z)
    assert torch.allclose(lhs, mu(z) - mu(torch.zeros_like(z)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_cond"):
        conditioned_sde(3, 0)
    with pytest.raises(ValueError, match="drift"):
        conditioned_sde(3, 1, drift="bogus")
