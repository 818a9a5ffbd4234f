"""Subsets, pseudo-inverse rows and the three losses, against independent truth."""

import pytest
import torch

from support.jacobian import condition_number, pinv_rows
from support.losses import (loss_x_decomposition, loss_x_partial, loss_x_partial_normal, loss_z,
                           partial_normal_equations)
from support.subsets import (importance_subsets, inclusion_probabilities, subset_size,
                             systematic_pps, uniform_subsets)



@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_uniform_subsets_are_without_replacement_and_uniform():
    gen = torch.Generator().manual_seed(0)
    u = uniform_subsets(4000, 20, 0.25, gen)
    assert u.shape == (4000, 5)
    assert all(len(set(r.tolist())) == 5 for r in u)                 # distinct in every row
    freq = torch.bincount(u.flatten(), minlength=20).double() / 4000
    assert torch.allclose(freq, torch.full((20,), 0.25), atol=0.03)  # inclusion prob = p


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5, float("nan")])
def test_p_outside_unit_interval_raises(p):
    with pytest.raises(ValueError):
        subset_size(10, p)


def test_systematic_pps_has_exact_inclusion_probabilities():
    gen = torch.Generator().manual_seed(1)
    scores = torch.tensor([5.0, 1, 1, 2, 0.5, 3, 1, 0.2, 4, 1])
    pi = inclusion_probabilities(scores, 4)
    assert pi.sum().item() == pytest.approx(4) and pi.max() <= 1
    units = systematic_pps(pi.expand(20000, -1), gen)
    assert all(len(set(r.tolist())) == 4 for r in units[:200])
    freq = torch.bincount(units.flatten(), minlength=10).double() / 20000
    assert torch.allclose(freq, pi, atol=0.015)


def test_importance_weights_make_the_estimator_unbiased():
    gen = torch.Generator().manual_seed(2)
    r2 = torch.rand(30, generator=gen) ** 3
    units, w = importance_subsets(torch.rand(30, generator=gen) + 0.05, 0.2, 40000, gen)
    est = (r2[units] * w).mean(dim=1)
    assert est.mean().item() == pytest.approx(r2.mean().item(), rel=0.01)


def test_pinv_rows_match_torch_pinv():
    J = torch.randn(3, 4, 50)
    rows = torch.stack([torch.randperm(50)[:7] for _ in range(3)])
    got = pinv_rows(J, rows)
    want = torch.stack([torch.linalg.pinv(J[b])[rows[b]] for b in range(3)])
    assert torch.allclose(got, want, atol=1e-10)


def test_pinv_rows_rejects_rank_deficient_jacobian():
    J = torch.randn(1, 3, 20)
    J[:, 2] = J[:, 1]
    with pytest.raises(ValueError, match="singular"):
        pinv_rows(J, torch.arange(5).unsqueeze(0))


def test_condition_number_of_prescribed_singular_values():
    U, _ = torch.linalg.qr(torch.randn(4, 4))
    V, _ = torch.linalg.qr(torch.randn(30, 4))
    J = (U @ torch.diag(torch.tensor([10.0, 3, 2, 0.5])) @ V.T).unsqueeze(0)
    assert condition_number(J).item() == pytest.approx(20.0)


def test_lx_with_all_rows_equals_full_microscopic_residual():
    B, d, N = 5, 3, 40
    J, f, g = torch.randn(B, d, N), torch.randn(B, N), torch.randn(B, d)
    all_rows = torch.arange(N).expand(B, -1)
    lx = loss_x_partial(g, f, pinv_rows(J, all_rows))
    direct = torch.stack([(f[b] - torch.linalg.pinv(J[b]) @ g[b]).pow(2).mean() for b in range(B)]).mean()
    assert lx.item() == pytest.approx(direct.item(), rel=1e-10)


def test_lx_normal_equations_form_equals_the_residual_form_value_and_gradient():
    gen = torch.Generator().manual_seed(3)
    B, r, d = 7, 12, 4
    f = torch.randn(B, r, generator=gen, dtype=torch.float64)
    psi = torch.randn(B, r, d, generator=gen, dtype=torch.float64)
    w = torch.rand(B, r, generator=gen, dtype=torch.float64) + 0.5
    for weights in (None, w):
        g1 = torch.randn(B, d, generator=gen, dtype=torch.float64, requires_grad=True)
        g2 = g1.detach().clone().requires_grad_(True)
        direct = loss_x_partial(g1, f, psi, weights)
        normal = loss_x_partial_normal(g2, *partial_normal_equations(f, psi, weights))
        assert normal.item() == pytest.approx(direct.item(), rel=1e-12)
        direct.backward()
        normal.backward()
        torch.testing.assert_close(g2.grad, g1.grad, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="psi"):
        partial_normal_equations(f, psi[:, :-1])
    with pytest.raises(ValueError, match="A"):
        loss_x_partial_normal(torch.zeros(B, d + 1, dtype=torch.float64), *partial_normal_equations(f, psi))


def test_lx_decomposition_identity_and_bounds():
    J, f, g = torch.randn(8, 4, 30), torch.randn(8, 30), torch.randn(8, 4)
    parts = loss_x_decomposition(J, f, g)
    assert torch.allclose(parts["n_lx"], parts["weighted_lz"] + parts["constant"], atol=1e-10)
    assert (parts["lower"] <= parts["weighted_lz"] + 1e-12).all()
    assert (parts["weighted_lz"] <= parts["upper"] + 1e-12).all()


def test_loss_shapes_are_checked():
    with pytest.raises(ValueError, match="shape"):
        loss_z(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="psi"):
        loss_x_partial(torch.zeros(3, 2), torch.zeros(3, 5), torch.zeros(3, 4, 2))


def test_pinv_rows_from_gram_checks_shapes_and_singularity():
    from support.jacobian import pinv_rows_from_gram
    with pytest.raises(ValueError, match="G must be"):
        pinv_rows_from_gram(torch.eye(3).expand(2, 3, 3), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="singular"):
        pinv_rows_from_gram(torch.zeros(2, 3, 3, dtype=torch.float64), torch.zeros(2, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        pinv_rows_from_gram(torch.full((1, 2, 2), float("nan")), torch.zeros(1, 2, 3))
