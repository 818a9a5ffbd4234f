"""Closure autoencoder of paper 2: patch-additive encoder + decoder, reconstruction loss only.

Not to be confused with paper 1's :class:`support.closure.ClosureAutoencoder`, whose job is a
closure with a well-conditioned Jacobian (L_cond) for the L_x,p loss: this one's job is a
*patch-additive* closure φ(x) = mean_J φ_loc(x_J), so that one evolved patch gives a training
target for the SDE; it needs no Jacobian and no conditioning.

The encoder is a :class:`~support.stochastic.encoder.PatchAdditiveEncoder` (its φ* part is fixed,
only φ̂_loc learns); the decoder maps the full latent back to the large-system state. Training
minimises a reconstruction loss through :func:`support.train.fit` (no regulariser, as in paper 2):

* ``"mse"``: mean (x̂ − x)², for fields;
* ``"bce_pm1"``: binary cross-entropy for ±1 spins; the decoder outputs the *logit* of
  P(s = +1) and the target is (x + 1)/2 (a stable form of the official sigmoid + BCE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..train import TrainConfig, TrainHistory, fit
from ..validation import check_choice, check_finite
from .encoder import PatchAdditiveEncoder

RECONSTRUCTION_LOSSES = ("mse", "bce_pm1")


class PatchClosureAutoencoder(nn.Module):
    """``x -> z = encoder(x) -> x̂ = decoder(z)``."""

    def __init__(self, encoder: PatchAdditiveEncoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def reconstruction_loss(kind: str = "mse", as_input: Callable[[torch.Tensor], torch.Tensor] | None = None
                        ) -> Callable[[nn.Module, Sequence[torch.Tensor]], torch.Tensor]:
    """A ``loss_fn(model, (x,))`` for :func:`support.train.fit` (``kind`` in ``RECONSTRUCTION_LOSSES``).
    ``as_input`` turns each stored batch into the model's input first (e.g. int8 spins ``[B, L, L]``
    into float ``[B, 1, L, L]``), so a large training set can stay in its compact form."""
    check_choice("reconstruction loss", kind, RECONSTRUCTION_LOSSES)
    prepare = as_input or (lambda x: x)

    def mse(model: nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        x = prepare(batch[0])
        return F.mse_loss(model(x), x)

    def bce_pm1(model: nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        x = prepare(batch[0])
        return F.binary_cross_entropy_with_logits(model(x), (x + 1) / 2)

    return mse if kind == "mse" else bce_pm1


def train_closure(ae: PatchClosureAutoencoder, x: torch.Tensor, cfg: TrainConfig, *,
                  loss: str = "mse", as_input: Callable[[torch.Tensor], torch.Tensor] | None = None
                  ) -> TrainHistory:
    """Fit φ̂_loc and the decoder on large snapshots by reconstruction: ``x [N, C, *S]``, or any
    stored form that ``as_input`` maps batch by batch to ``[B, C, *S]``."""
    if x.is_floating_point():
        check_finite("x", x)
    if not any(p.requires_grad for p in ae.parameters()):
        raise ValueError("the autoencoder has no trainable parameters")
    return fit(ae, reconstruction_loss(loss, as_input), (x,), cfg)


def spin_lattices(x: torch.Tensor) -> torch.Tensor:
    """Stored ±1 spins ``[B, L, L]`` (any dtype) → the float input ``[B, 1, L, L]`` of a lattice closure."""
    return x.float()[:, None]
