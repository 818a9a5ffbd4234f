"""Microscopic systems behind one protocol (see ``base.py``); ``get_system(name)`` builds one by name."""

from __future__ import annotations

import importlib

from ..validation import check_choice
from .base import DeterministicSystem, Trajectories  # noqa: F401

#: name -> (module, class); imported lazily so that ``import support`` stays light
SYSTEMS: dict[str, tuple[str, str]] = {
    "linear": ("support.systems.linear", "LinearBlockSystem"),
    "predator_prey": ("support.systems.predator_prey", "PredatorPreySystem"),
    "lennard_jones": ("support.systems.lennard_jones", "LennardJonesSystem"),
}


def register(name: str, module: str, cls: str) -> None:
    """Make your own system available to :func:`get_system` by name (``module.cls`` is imported
    lazily, on first use)."""
    SYSTEMS[name] = (module, cls)


def get_system(name: str, **kwargs) -> DeterministicSystem:
    """Instantiate the deterministic system ``name`` (clear error listing the valid names)."""
    check_choice("system", name, list(SYSTEMS))
    module, cls = SYSTEMS[name]
    return getattr(importlib.import_module(module), cls)(**kwargs)
