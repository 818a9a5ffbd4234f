"""Feed-forward building blocks shared by every latent model, and the plain MLP latent model.

All latent models g_θ act on *normalised* latent states z ∈ R^d (a batch ``[B, d]``) and return the
normalised velocity dz/dt ∈ R^d (as in paper 1's official code). This module holds what they share:

* the activations (including ReQUr) and the Linear–act–…–Linear builder, re-exported from
  :mod:`support.nets`;
* seeded weight initialisers (every model is initialised from its own ``torch.Generator``);
* input checks (:func:`check_latent_input`, :func:`check_dim`, :func:`check_hidden`);
* :func:`input_gradient`, the autograd gradient of a per-sample scalar (∇V, ∇E, ∇S) that works in
  training, under ``torch.no_grad`` (rollouts) and for gradients with respect to z.

:class:`MLP` is the unstructured baseline of paper 1 (its Lennard-Jones experiments):
Linear(d, 256)–ReLU–Linear(256, 256)–ReLU–Linear(256, d), Xavier-uniform weights.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..nets import ACTIVATIONS, ReQUr, make_activation, mlp  # noqa: F401  (re-exported)


def check_dim(name: str, value: int) -> int:
    """``value`` must be a positive integer (latent dimension d, number of ξ matrices K, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    """Hidden widths: a non-empty sequence of positive ints."""
    if isinstance(hidden, numbers.Integral):
        raise TypeError(f"hidden must be a sequence of widths such as (256, 256), got {hidden!r}")
    widths = tuple(check_dim("hidden width", w) for w in hidden)
    if not widths:
        raise ValueError("hidden must contain at least one width")
    return widths


def check_latent_input(z: torch.Tensor, d: int) -> torch.Tensor:
    """A batch of latent states: a floating tensor of shape ``[B, d]`` with B ≥ 1."""
    if not torch.is_tensor(z):
        raise TypeError(f"z must be a torch.Tensor of shape [B, {d}], got {type(z).__name__}")
    if z.dim() != 2 or z.shape[1] != d:
        raise ValueError(f"z must have shape [B, {d}] (a batch of {d}-dimensional latent states), "
                         f"got {list(z.shape)}")
    if z.shape[0] == 0:
        raise ValueError("z is an empty batch (B = 0)")
    if not torch.is_floating_point(z):
        raise TypeError(f"z must be a floating-point tensor, got dtype {z.dtype}")
    return z


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """All ``nn.Linear`` submodules of ``module`` in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def init_xavier(module: nn.Module, gen: torch.Generator, bias: str = "default",
                gain: float = 1.0) -> None:
    """Xavier-uniform weights for every Linear in ``module``.

    ``bias="default"`` draws biases as PyTorch does, U(−1/√fan_in, 1/√fan_in); ``"zero"`` zeroes them.
    """
    for lin in linear_layers(module):
        nn.init.xavier_uniform_(lin.weight, gain=gain, generator=gen)
        if lin.bias is None:
            continue
        if bias == "zero":
            lin.bias.zero_()
        elif bias == "default":
            bound = 1.0 / math.sqrt(lin.in_features)
            nn.init.uniform_(lin.bias, -bound, bound, generator=gen)
        else:
            raise ValueError(f"unknown bias init {bias!r}; choose 'default' or 'zero'")


def input_gradient_with_aux(fn: Callable[[torch.Tensor], tuple[torch.Tensor, Any]], z: torch.Tensor
                            ) -> tuple[torch.Tensor, Any]:
    """Return ``(∇_z Σ_b value_b, aux)`` for ``fn(z_) -> (value [B], aux)``, with ``z_`` ≡ z.

    The gradient is built with ``create_graph=True`` whenever the caller has gradients enabled
    (training, or derivatives with respect to z) and without a graph under ``torch.no_grad``
    (rollouts). ``fn`` receives ``z`` itself if it already requires grad, else a detached copy that
    does; ``aux`` (e.g. hidden features) is computed on that graph, so it can be reused by the
    caller. Samples are independent, so the gradient of the batch sum is the per-sample gradient.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError("this latent model differentiates a potential with autograd; call it "
                           "under torch.no_grad() instead of torch.inference_mode()")
    build_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        z_ = z if z.requires_grad else z.detach().requires_grad_(True)
        value, aux = fn(z_)
        (grad,) = torch.autograd.grad(value.sum(), z_, create_graph=build_graph)
    return grad, aux


def input_gradient(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """∇_z of a per-sample scalar ``fn(z) -> [B]`` (see :func:`input_gradient_with_aux`)."""
    grad, _ = input_gradient_with_aux(lambda z_: (fn(z_), None), z)
    return grad


class MLP(nn.Module):
    """Unstructured latent vector field g_θ(z) = W_n σ(… σ(W_1 z + b_1) …) + b_n (paper 1's MLP).

    ``MLP(32, (256, 256))`` is the official Lennard-Jones baseline (82,464 parameters). Weights are
    Xavier-uniform, biases PyTorch's default U(±1/√fan_in), drawn from a generator seeded by ``seed``.
    """

    def __init__(self, d: int, hidden: Sequence[int] = (256, 256), activation: str = "relu",
                 seed: int = 0) -> None:
        super().__init__()
        self.d = check_dim("latent dimension d", d)
        self.hidden = check_hidden(hidden)
        self.net = mlp((self.d, *self.hidden, self.d), activation, xavier=False)
        init_xavier(self.net, torch.Generator().manual_seed(seed), bias="default")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """dz/dt = g_θ(z) for a batch ``z`` of shape ``[B, d]``."""
        return self.net(check_latent_input(z, self.d))
