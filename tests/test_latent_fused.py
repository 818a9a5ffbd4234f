"""The hand-written forward + backward pass of OnsagerNet and GFINNs (:mod:`support.latent.fused`, issue 29)
is the same function as the straightforward routes: outputs, the L_x,p loss, every parameter gradient and
the gradient with respect to z agree in float64 to 1e-12 relative with (a) the plain ``exact`` operations
differentiated by autograd (``_forward_exact_reference``) and (b) the double-backward ``autograd`` route,
on random inputs with the same weights; the parameters (names, shapes) are unchanged."""

from __future__ import annotations

import pytest
import torch

from support.latent import build_latent_model
from support.losses import loss_x_partial_normal, partial_normal_equations

CASES = [("onsagernet", dict(hidden=(16, 16, 16))),                       # the paper's ReQUr residual trunk
         ("onsagernet", dict(hidden=(12, 9), activation="tanh", residual=False, forcing=False, alpha=0.01)),
         ("onsagernet", dict(hidden=(8, 8), activation="softplus", beta=0.3)),
         ("onsagernet", dict(hidden=(8, 8, 8), activation="tanh")),
         ("onsagernet", dict(hidden=(8, 8), activation="gelu")),
         ("onsagernet", dict(hidden=(8, 8), activation="leaky_relu")),
         ("gfinn", dict(hidden=(16, 16), K=3)),                              # tanh, as the paper
         ("gfinn", dict(hidden=(10,), K=5, activation="silu")),
         ("gfinn", dict(hidden=(8, 8, 8), K=4, activation="requr")),
         ("gfinn", dict(hidden=(8, 8), K=6, activation="relu"))]
D, B, ROWS, RTOL = 6, 40, 9, 1e-12


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / (b.abs().max() + 1e-300)).item()


def loss_and_grads(forward, model, z, stats):
    z = z.clone().requires_grad_(True)
    y = forward(z)
    loss = loss_x_partial_normal(y, *stats)
    grads = torch.autograd.grad(loss, [*model.parameters(), z], allow_unused=True, materialize_grads=True)
    return y.detach(), loss.detach(), grads


@pytest.mark.parametrize("name, kwargs", CASES)
def test_fused_pass_equals_the_reference_routes(name, kwargs):
    gen = torch.Generator().manual_seed(3)
    z = 1.5 * torch.randn(B, D, generator=gen, dtype=torch.float64)
    psi = torch.randn(B, ROWS, D, generator=gen, dtype=torch.float64)
    stats = partial_normal_equations(torch.randn(B, ROWS, generator=gen, dtype=torch.float64), psi)
    fused = build_latent_model(name, D, seed=5, **kwargs).double()
    twin = build_latent_model(name, D, seed=0, gradient="autograd", **kwargs).double()
    twin.load_state_dict(fused.state_dict())               # same names and shapes: stores still load
    y, loss, grads = loss_and_grads(fused, fused, z, stats)
    for forward, model in ((fused._forward_exact_reference, fused), (twin, twin)):
        y_ref, loss_ref, grads_ref = loss_and_grads(forward, model, z, stats)
        assert rel(y, y_ref) <= RTOL and rel(loss, loss_ref) <= RTOL
        for g, g_ref in zip(grads, grads_ref):
            assert g.shape == g_ref.shape and rel(g, g_ref) <= RTOL


@pytest.mark.parametrize("name, kwargs", CASES[:1] + CASES[6:7])
def test_fused_pass_without_gradients_float32_and_gradcheck(name, kwargs):
    model = build_latent_model(name, 3, seed=2, **kwargs).double()
    z = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = model(z)
    assert not plain.requires_grad and rel(plain, model(z).detach()) <= 1e-15
    single = build_latent_model(name, 3, seed=2, **kwargs).float()
    assert rel(single(z.float()).double(), plain) < 1e-5
    assert torch.autograd.gradcheck(model, (z.clone().requires_grad_(True),), eps=1e-6, atol=1e-6)
    with torch.inference_mode():
        assert rel(model(z), plain) <= 1e-15
