"""Microscopic systems behind one registry; ``get_system(name)`` builds one by name.

Two capabilities, one per half of the book, each a base class:

* ``"forces"`` — :class:`~support.systems.base.DeterministicSystem` (``base.py``): observables and a
  partial force oracle f_I(x) at a cost ∝ |I| (paper 1);
* ``"patch_evolution"`` — :class:`~support.systems.stochastic_base.StochasticSystem`
  (``stochastic_base.py``): observables, one step of the whole system, and the evolution of one
  window with a frozen halo (paper 2).

:func:`capabilities` says which a registered system has. The lattice spin simulators
(:mod:`support.systems.spins`) are exact numba samplers on numpy arrays; ``"ising"`` and
``"curie_weiss"`` are registered through their :mod:`~support.systems.spins.patch_dynamics`
classes, whose hooks serve the same partial evolution and Algorithm 1 as the torch systems.
"""

from __future__ import annotations

import importlib

from ..validation import check_choice
from .base import DeterministicSystem, Trajectories  # noqa: F401
from .stochastic_base import StochasticSystem  # noqa: F401

#: name -> (module, class); imported lazily so that ``import support`` stays light
SYSTEMS: dict[str, tuple[str, str]] = {
    "linear": ("support.systems.linear", "LinearBlockSystem"),
    "predator_prey": ("support.systems.predator_prey", "PredatorPreySystem"),
    "allen_cahn": ("support.systems.allen_cahn", "AllenCahnSystem"),
    "lennard_jones": ("support.systems.lennard_jones", "LennardJonesSystem"),
    "spde_predator_prey": ("support.systems.spde_predator_prey", "PredatorPreySPDE"),
    "ou_lattice": ("support.systems.ou_lattice", "OULattice"),
    "ising": ("support.systems.spins.patch_dynamics", "IsingDynamics"),
    "curie_weiss": ("support.systems.spins.patch_dynamics", "CurieWeissDynamics"),
    "nbmota": ("support.systems.alloy.evolution", "AlloyDynamics"),
}

CAPABILITIES = ("forces", "patch_evolution")


def register(name: str, module: str, cls: str) -> None:
    """Make your own system available to :func:`get_system` by name (``module.cls`` is imported
    lazily, on first use)."""
    SYSTEMS[name] = (module, cls)


def system_class(name: str) -> type:
    """The class registered as ``name`` (clear error listing the valid names)."""
    check_choice("system", name, list(SYSTEMS))
    module, cls = SYSTEMS[name]
    return getattr(importlib.import_module(module), cls)


def capabilities(name: str) -> set[str]:
    """``{"forces"}`` for a deterministic system; ``{"patch_evolution"}`` for a stochastic one (a
    torch :class:`StochasticSystem`, or a simulator with the hooks of
    :class:`~support.stochastic.protocol.PatchDynamics`, like the spin lattices)."""
    from ..stochastic.protocol import is_patch_dynamics
    cls = system_class(name)
    caps = {"forces"} if issubclass(cls, DeterministicSystem) else set()
    if issubclass(cls, StochasticSystem) or is_patch_dynamics(cls):
        caps.add("patch_evolution")
    return caps


def get_system(name: str, **kwargs) -> DeterministicSystem | StochasticSystem:
    """Instantiate the system ``name`` (clear error listing the valid names)."""
    return system_class(name)(**kwargs)
