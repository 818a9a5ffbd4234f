"""Latent models g_θ (paper 1, §2): interface, structure against exact identities, trainability."""

from __future__ import annotations

import pytest
import torch

from support.latent import (GFINN, LATENT_MODELS, MLP, OnsagerNet, ReQUr, build_latent_model)
from support.train import TrainConfig, fit

SMALL = {"mlp": dict(hidden=(32, 32)), "onsagernet": dict(hidden=(16, 16)),
         "gfinn": dict(hidden=(16, 16), K=3)}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def random_z(b: int, d: int, seed: int = 0, scale: float = 1.5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(b, d, generator=gen, dtype=torch.float64)


def fd_gradient(fn, z: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Central finite differences of a per-sample scalar fn: [B, d] -> [B] (independent of autograd)."""
    grad = torch.empty_like(z)
    with torch.no_grad():
        for j in range(z.shape[1]):
            e = torch.zeros_like(z)
            e[:, j] = h
            grad[:, j] = (fn(z + e) - fn(z - e)) / (2 * h)
    return grad


def autograd_gradient(fn, z: torch.Tensor) -> torch.Tensor:
    z = z.detach().requires_grad_(True)
    return torch.autograd.grad(fn(z).sum(), z)[0]


def matvec(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (a @ v.unsqueeze(-1)).squeeze(-1)


# ------------------------------------------------------------------------------------ interface
@pytest.mark.parametrize("name", list(LATENT_MODELS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes(name, dtype):
    model = build_latent_model(name, 5, **SMALL[name]).to(dtype)
    out = model(torch.randn(7, 5, dtype=dtype))
    assert out.shape == (7, 5) and out.dtype == dtype
    assert torch.isfinite(out).all()


def test_registry_names_and_alias():
    assert isinstance(build_latent_model("gfinns", 3, **SMALL["gfinn"]), GFINN)
    assert isinstance(build_latent_model("GFINNs", 3, **SMALL["gfinn"]), GFINN)
    assert isinstance(build_latent_model("OnsagerNet", 3, **SMALL["onsagernet"]), OnsagerNet)
    with pytest.raises(ValueError, match="gfinn.*mlp.*onsagernet"):
        build_latent_model("sindy", 3)
    for bad_d in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            build_latent_model("mlp", bad_d)


@pytest.mark.parametrize("name", list(LATENT_MODELS))
@pytest.mark.parametrize("bad", [torch.randn(4), torch.randn(3, 5), torch.randn(2, 3, 4),
                                 torch.randn(0, 4), torch.ones(3, 4, dtype=torch.int64)])
def test_wrong_input_raises(name, bad):
    model = build_latent_model(name, 4, **SMALL[name])
    with pytest.raises((ValueError, TypeError), match="z "):
        model(bad)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="equal hidden widths"):
        OnsagerNet(3, hidden=(8, 16))
    with pytest.raises(ValueError, match="alpha"):
        OnsagerNet(3, alpha=-0.1)
    with pytest.raises(ValueError, match="activation"):
        MLP(3, activation="sigmoidish")
    with pytest.raises(ValueError, match="K"):
        GFINN(3, K=0)
    with pytest.raises(TypeError, match="hidden"):
        MLP(3, hidden=64)


def test_parameter_counts_match_paper():
    assert n_params(MLP(32, (256, 256))) == 82_464          # paper 1, §2.3
    assert n_params(OnsagerNet(16, (64, 64))) == 24_240     # paper 1, §2.2 (AC, d = 16)
    d, h, k = 32, 256, 4                                    # §2.4 structure with a cheaper K
    scalar_net = d * h + h + h * h + h + h      # no output bias: E, S enter via ∇
    sigma_net = d * h + h + h * h + h + h * k * k + k * k
    assert n_params(GFINN(d, (h, h), K=k)) == 2 * scalar_net + 2 * sigma_net + 2 * k * d * d


def test_seed_controls_initialisation():
    a, b, c = (OnsagerNet(4, (8, 8), seed=s) for s in (1, 1, 2))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_requr_values():
    x = torch.tensor([-1.0, 0.0, 0.25, 0.5, 1.0, 3.0])
    expected = torch.tensor([0.0, 0.0, 0.0625, 0.25, 0.75, 2.75])   # 0, x², x − ¼
    assert torch.allclose(ReQUr()(x), expected)


# ------------------------------------------------------------------------- autograd and no_grad
@pytest.mark.parametrize("name", list(LATENT_MODELS))
def test_no_grad_matches_and_keeps_no_graph(name):
    model = build_latent_model(name, 4, **SMALL[name]).double()
    z = random_z(6, 4)
    with_grad = model(z)
    with torch.no_grad():
        without = model(z)
    assert not without.requires_grad
    assert torch.allclose(with_grad, without, rtol=0, atol=1e-14)


@pytest.mark.parametrize("name", list(LATENT_MODELS))
def test_gradients_wrt_inputs_and_parameters(name):
    model = build_latent_model(name, 3, **SMALL[name]).double()
    z = random_z(2, 3, seed=1).requires_grad_(True)
    assert torch.autograd.gradcheck(model, (z,), eps=1e-6, atol=1e-6)
    model(z.detach()).pow(2).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_inference_mode_gives_clear_error():
    model = OnsagerNet(3, (8, 8), gradient="autograd")
    with torch.inference_mode(), pytest.raises(RuntimeError, match="no_grad"):
        model(torch.randn(2, 3))


def test_exact_gradient_path_works_under_inference_mode():
    for model in (OnsagerNet(3, (8, 8)), GFINN(3, (8,), K=2)):
        with torch.inference_mode():
            assert model(torch.randn(2, 3)).shape == (2, 3)


# ------------------------------------------------- hand-written input gradients vs the autograd path
EXACT_CASES = [("onsagernet", dict(hidden=(16, 16, 16))),
               ("onsagernet", dict(hidden=(12, 9), activation="tanh", residual=False, forcing=False,
                                   alpha=0.01)),
               ("onsagernet", dict(hidden=(8, 8), activation="softplus")),
               ("gfinn", dict(hidden=(16, 16), K=3)),
               ("gfinn", dict(hidden=(10,), K=5, activation="silu"))]


@pytest.mark.parametrize("name, kwargs", EXACT_CASES)
def test_exact_forward_and_parameter_gradients_equal_the_autograd_reference(name, kwargs):
    """gradient="exact" (hand-written ∇V / ∇E, ∇S, operators applied as vector products) is the same
    function as the double-backward reference: outputs and every weight gradient to round-off."""
    exact = build_latent_model(name, 5, seed=4, gradient="exact", **kwargs).double()
    reference = build_latent_model(name, 5, seed=4, gradient="autograd", **kwargs).double()
    z = random_z(33, 5, seed=2)
    y_exact, y_ref = exact(z), reference(z)
    assert torch.allclose(y_exact, y_ref, rtol=0, atol=1e-13 * y_ref.abs().max().item())
    w = torch.randn(33, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    g_exact = torch.autograd.grad((w * y_exact).sum(), list(exact.parameters()))
    g_ref = torch.autograd.grad((w * y_ref).sum(), list(reference.parameters()))
    for a, b in zip(g_exact, g_ref):
        assert torch.allclose(a, b, rtol=1e-11, atol=1e-13 * (b.abs().max().item() + 1e-300))


def test_onsager_exact_energy_gradient_matches_finite_differences():
    model = OnsagerNet(4, (8, 8, 8), seed=1).double()
    z = random_z(7, 4, seed=5)
    assert torch.allclose(model.energy_gradient(z), fd_gradient(model.energy, z), atol=1e-8)


@pytest.mark.parametrize("name", ["relu", "tanh", "softplus", "requr", "silu", "gelu", "leaky_relu"])
def test_activation_slopes_match_autograd(name):
    from support.latent.backprop import activation_with_slope
    from support.nets import make_activation
    act = make_activation(name)
    a = torch.linspace(-3, 3, 601, dtype=torch.float64)[1::2]       # avoids the kinks at 0 and ½
    value, slope = activation_with_slope(act, a)
    assert torch.allclose(value, act(a), atol=1e-15)
    assert torch.allclose(slope, torch.autograd.functional.jacobian(act, a).diagonal(), atol=1e-12)


def test_unknown_gradient_mode_and_activation_raise():
    from support.latent.backprop import activation_with_slope
    with pytest.raises(ValueError, match="gradient"):
        OnsagerNet(3, (8, 8), gradient="numeric")
    with pytest.raises(ValueError, match="no hand-written slope"):
        activation_with_slope(torch.nn.Hardtanh(), torch.zeros(3))


# ------------------------------------------------------------------------------- OnsagerNet
def onsager(forcing: bool, activation: str = "requr") -> OnsagerNet:
    return OnsagerNet(6, hidden=(16, 16), activation=activation, forcing=forcing, seed=3).double()


@pytest.mark.parametrize("forcing", [True, False])
def test_onsager_matrices_structure(forcing):
    model = onsager(forcing)
    m, w = model.matrices(random_z(32, 6))
    assert torch.allclose(m, m.mT, rtol=0, atol=1e-13)
    assert torch.linalg.eigvalsh(m).min() >= -1e-10
    assert torch.allclose(w, -w.mT, rtol=0, atol=0)
    assert m.abs().max() > 1e-3 and w.abs().max() > 1e-3      # non-trivial at initialisation


@pytest.mark.parametrize("forcing", [True, False])
def test_onsager_energy_bounded_below_and_coercive(forcing):
    model = onsager(forcing)
    z = random_z(64, 6, scale=4.0)
    v = model.energy(z)
    assert (v >= model.beta * z.pow(2).sum(-1) - 1e-12).all()   # V ≥ β‖z‖² ≥ 0


@pytest.mark.parametrize("forcing,activation", [(True, "requr"), (False, "requr"), (False, "tanh")])
def test_onsager_forward_equals_its_equation(forcing, activation):
    """ż = −(M + W + αI)∇V + F with ∇V from finite differences of V (independent of autograd)."""
    model = onsager(forcing, activation)
    z = random_z(16, 6, seed=4)
    grad_v = fd_gradient(model.energy, z)
    m, w = model.matrices(z)
    expected = -matvec(m + w, grad_v) - model.alpha * grad_v + model.external_force(z)
    assert torch.allclose(model(z), expected, rtol=1e-6, atol=1e-8)
    if not forcing:
        assert torch.equal(model.external_force(z), torch.zeros_like(z))


@pytest.mark.parametrize("activation", ["requr", "tanh"])
def test_onsager_without_forcing_dissipates_energy(activation):
    model = onsager(False, activation)
    z = random_z(256, 6, seed=5, scale=3.0)
    grad_v = autograd_gradient(model.energy, z)
    dv_dt = (grad_v * model(z)).sum(-1)                     # chain rule along the flow
    m, _ = model.matrices(z)
    exact = -(grad_v * matvec(m, grad_v)).sum(-1) - model.alpha * grad_v.pow(2).sum(-1)
    assert (dv_dt <= 0).all()
    assert torch.allclose(dv_dt, exact, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------ GFINNs
def gfinn() -> GFINN:
    return GFINN(5, hidden=(16, 16), K=3, seed=7).double()


def test_gfinn_operator_structure_and_degeneracy():
    model = gfinn()
    z = random_z(64, 5, seed=8)
    l_op, m_op = model.operators(z)
    grad_e = autograd_gradient(model.energy, z)
    grad_s = autograd_gradient(model.entropy, z)
    assert torch.allclose(l_op, -l_op.mT, rtol=0, atol=1e-14)
    assert torch.allclose(m_op, m_op.mT, rtol=0, atol=1e-14)
    assert torch.linalg.eigvalsh(m_op).min() >= -1e-12
    scale_l = l_op.abs().amax((1, 2)) * grad_s.abs().amax(1)
    scale_m = m_op.abs().amax((1, 2)) * grad_e.abs().amax(1)
    assert (matvec(l_op, grad_s).abs().amax(1) <= 1e-12 * scale_l).all()   # L∇S = 0
    assert (matvec(m_op, grad_e).abs().amax(1) <= 1e-12 * scale_m).all()   # M∇E = 0
    assert scale_l.min() > 1e-8 and scale_m.min() > 1e-8                     # non-trivial


def test_gfinn_forward_equals_its_equation():
    model = gfinn()
    z = random_z(16, 5, seed=9)
    l_op, m_op = model.operators(z)
    expected = matvec(l_op, fd_gradient(model.energy, z)) + matvec(m_op, fd_gradient(model.entropy, z))
    assert torch.allclose(model(z), expected, rtol=1e-6, atol=1e-9)


def test_gfinn_conserves_energy_and_produces_entropy():
    model = gfinn()
    z = random_z(256, 5, seed=10, scale=2.0)
    zdot = model(z)
    grad_e = autograd_gradient(model.energy, z)
    grad_s = autograd_gradient(model.entropy, z)
    de_dt = (grad_e * zdot).sum(-1)
    ds_dt = (grad_s * zdot).sum(-1)
    scale = grad_e.norm(dim=-1) * zdot.norm(dim=-1)
    assert (de_dt.abs() <= 1e-12 * scale).all()               # dE/dt = 0
    assert (ds_dt >= -1e-14).all() and ds_dt.max() > 1e-6     # dS/dt = ∇Sᵀ M ∇S ≥ 0
    _, m_op = model.operators(z)
    assert torch.allclose(ds_dt, (grad_s * matvec(m_op, grad_s)).sum(-1), rtol=1e-9, atol=1e-14)


# ------------------------------------------------------------------------------- trainability
@pytest.fixture
def one_thread():
    """Tiny networks train fastest on one thread (and do not suffer from a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(LATENT_MODELS))
def test_fits_damped_rotation(name, one_thread):
    """dz/dt = (−I + Ω) z with Ω skew: every model class can represent it closely."""
    d = 4
    gen = torch.Generator().manual_seed(0)
    a = -torch.eye(d)
    a[0, 1], a[1, 0], a[2, 3], a[3, 2] = 2.0, -2.0, 1.0, -1.0
    z = torch.randn(512, d, generator=gen)
    target = z @ a.T
    model = build_latent_model(name, d, **SMALL[name], seed=0)

    def loss_fn(m, batch):
        return (m(batch[0]) - batch[1]).pow(2).mean()

    with torch.no_grad():
        initial = loss_fn(model, (z, target)).item()
    fit(model, loss_fn, (z, target), TrainConfig(lr=1e-2, steps=300, batch_size=128, progress=False))
    with torch.no_grad():
        final = loss_fn(model, (z, target)).item()
    assert final < 0.2 * initial
