"""Latent models g_θ: normalised latent state z ``[B, d]`` ↦ normalised velocity dz/dt ``[B, d]``.

Three structures from paper 1 behind one interface (``model(z)``):

* ``"mlp"`` — :class:`MLP`, unstructured;
* ``"onsagernet"`` — :class:`OnsagerNet`, dz/dt = −(M + W + αI)∇V + F (dissipative + forcing);
* ``"gfinn"`` (alias ``"gfinns"``) — :class:`GFINN`, GENERIC dz/dt = L∇E + M∇S.

Build one by name with :func:`build_latent_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..validation import check_choice
from .gfinn import GFINN, DegenerateOperator
from .mlp import MLP, ReQUr, check_dim
from .onsager import OnsagerNet, ResidualTrunk

LATENT_MODELS: dict[str, type[nn.Module]] = {"mlp": MLP, "onsagernet": OnsagerNet, "gfinn": GFINN}
ALIASES: dict[str, str] = {"gfinns": "gfinn"}


def build_latent_model(name: str, d: int, **kwargs) -> nn.Module:
    """The latent model called ``name`` (case-insensitive) for latent dimension ``d``.

    ``kwargs`` go to the model's constructor (e.g. ``hidden``, ``activation``, ``K``, ``seed``).
    """
    if not isinstance(name, str):
        raise TypeError(f"latent model name must be a str, got {type(name).__name__}")
    key = check_choice("latent model", name.strip().lower(), [*LATENT_MODELS, *ALIASES])
    d = check_dim("latent dimension d", d)
    return LATENT_MODELS[ALIASES.get(key, key)](d, **kwargs)


@dataclass(frozen=True)
class LatentFactory:
    """``seed -> model``: :func:`build_latent_model` with fixed ``name``, ``d`` and ``kwargs``.

    Unlike a lambda it can be pickled, so spawned worker processes can build the model
    (:func:`support.farm.run_latent_jobs`)."""

    name: str
    d: int
    kwargs: dict = field(default_factory=dict)

    def __call__(self, seed: int) -> nn.Module:
        return build_latent_model(self.name, self.d, seed=seed, **self.kwargs)


__all__ = ["LatentFactory", "ALIASES", "GFINN", "LATENT_MODELS", "MLP", "DegenerateOperator", "OnsagerNet", "ReQUr",
           "ResidualTrunk", "build_latent_model"]
