"""Registry of the book's experiments: one module per chapter, each exposing ``Config`` and ``run``.

Contract of an experiment module ``support.experiments.<module>``:

* ``Config``: a dataclass with a classmethod ``for_scale(scale: str) -> Config``;
* ``run(cfg=None, *, scale=None, seed=0, progress=True) -> ExperimentResult``.

Chapters and ``python -m support run NAME`` call the same ``run``.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from ..results import ExperimentResult
from ..scale import check_scale, current_scale
from ..validation import check_choice

#: experiment name -> (module, one-line description)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "theory": ("support.experiments.theory",
               "L_x vs L_z, unbiasedness and variance of L_x,p on an exactly closed linear system"),
    "predator_prey": ("support.experiments.predator_prey",
                      "paper 1 §3.1: test error vs force budget, L_z vs L_x vs L_x,p (predator–prey PDE)"),
    "predator_prey_ordered": ("support.experiments.predator_prey_ordered",
                              "the same, with paper 1's protocol: a budget buys whole training runs in order"),
    "lj_structures": ("support.experiments.lj_structures",
                      "paper 1 §3.3: Lennard-Jones temperature, MLP / OnsagerNet / GFINNs, L_z vs L_x,p"),
    "lj_encoders": ("support.experiments.lj_encoders",
                    "paper 1 §3.3: ordered-vector MLP encoder vs a permutation/periodic-invariant one"),
    "lj_scaling": ("support.experiments.lj_scaling",
                   "paper 1 §3.4: force computations to reach e_tol vs number of atoms (real partial forces)"),
    "sde_closure": ("support.experiments.sde_closure",
                    "paper 2 §1: the SDE loss and why λ = K, on K exactly known Ornstein–Uhlenbeck patches"),
    "stochastic_predator_prey": ("support.experiments.stochastic_predator_prey",
                                 "paper 2 §2.1: stochastic predator–prey from partial evolution, MMD vs λ"),
}


def register(name: str, module: str, description: str) -> None:
    """Add an experiment (used by modules that live outside this package, e.g. your own)."""
    EXPERIMENTS[name] = (module, description)


def load(name: str) -> ModuleType:
    """Import the module of experiment ``name`` (clear error for unknown names)."""
    check_choice("experiment", name, list(EXPERIMENTS))
    return importlib.import_module(EXPERIMENTS[name][0])


C = TypeVar("C")


def apply_overrides(cfg: C, overrides: dict[str, str]) -> C:
    """A copy of the config dataclass ``cfg`` with ``{"field": "JSON value"}`` overrides applied.

    Dotted names reach nested configs (``"ae.steps"``); a JSON list becomes a tuple where the field
    holds a tuple; a value that is not JSON is taken as a string. Unknown fields raise a
    ``ValueError`` naming the choices.
    """
    for key, raw in overrides.items():
        cfg = _override(cfg, key.split("."), _parse(raw), key)
    return cfg


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _override(cfg: Any, path: list[str], value: Any, key: str) -> Any:
    names = [f.name for f in fields(cfg)] if is_dataclass(cfg) else []
    if path[0] not in names:
        raise ValueError(f"unknown config field {key!r}; choose from {', '.join(names)}")
    current = getattr(cfg, path[0])
    if len(path) > 1:
        if not is_dataclass(current):
            raise ValueError(f"config field {path[0]!r} has no sub-fields (in {key!r})")
        return replace(cfg, **{path[0]: _override(current, path[1:], value, key)})
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    return replace(cfg, **{path[0]: value})


def run_experiment(name: str, *, scale: str | None = None, seed: int = 0,
                   out: str | Path | None = None, progress: bool = True,
                   overrides: dict[str, str] | None = None) -> ExperimentResult:
    """Run one experiment at ``scale`` (default: ``$MACRODYN_SCALE``) and optionally save it.

    ``overrides`` (see :func:`apply_overrides`) change the scale's config; they are recorded in the
    result and named in its tables, so a modified run is never mistaken for the preset.
    """
    module = load(name)
    scale = check_scale(scale or current_scale())
    t0 = time.perf_counter()
    cfg = apply_overrides(module.Config.for_scale(scale), overrides or {})
    result = module.run(cfg, scale=scale, seed=seed, progress=progress)
    result.overrides = dict(overrides or {})
    result.wall_time_s = result.wall_time_s or (time.perf_counter() - t0)
    if out is not None:
        result.save(out)
    return result
