"""Registry of the book's experiments: one module per chapter, each exposing ``Config`` and ``run``.

Contract of an experiment module ``support.experiments.<module>``:

* ``Config``: a dataclass subclassing :class:`config.ExperimentConfig`, with its ``PRESETS`` table
  (``Config.for_scale(scale)``);
* ``run(cfg=None, *, scale=None, seed=0, progress=True) -> ExperimentResult`` (made with
  ``ExperimentResult.of``, which records the provenance);
* ``VERSION``: an int bumped whenever the experiment's numbers change meaning (saved runs of an
  older version are flagged as out of date);
* ``CLAIMS``: the chapter's claims (:mod:`support.claims`), with the scales they are stated for;
* figures drawn from the stored metrics and the recorded configuration alone, so a saved run draws
  the same figures as a live one (:func:`support.figures.saved_figures`; a figure whose data an
  older saved run did not store says so and names the command that redraws it).

Chapters and ``python -m support run NAME`` call the same ``run``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ..results import ExperimentResult
from ..scale import check_scale, current_scale
from ..validation import check_choice
from .config import ExperimentConfig, OverrideError, apply_overrides, resolve  # noqa: F401

#: experiment name -> (module, one-line description)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "theory": ("support.experiments.theory",
               "L_x vs L_z, unbiasedness and variance of L_x,p on an exactly closed linear system"),
    "predator_prey": ("support.experiments.predator_prey",
                      "paper 1, Fig. 2: test error vs force budget, L_z vs L_x vs L_x,p (predator–prey PDE)"),
    "predator_prey_ordered": ("support.experiments.predator_prey_ordered",
                              "the same, with paper 1's protocol: a budget buys whole training runs in order"),
    "lj_structures": ("support.experiments.lj_structures",
                      "paper 1, Fig. 3: Lennard-Jones temperature, MLP / OnsagerNet / GFINNs, L_z vs L_x,p"),
    "lj_encoders": ("support.experiments.lj_encoders",
                    "paper 1's LJ set-up: ordered-vector MLP encoder vs a permutation/periodic-invariant one"),
    "lj_scaling": ("support.experiments.lj_scaling",
                   "paper 1, Fig. 4: force computations to reach e_tol vs number of atoms (real partial forces)"),
    "sde_closure": ("support.experiments.sde_closure",
                    "paper 2: the SDE loss and why λ = K, on K exactly known Ornstein–Uhlenbeck patches"),
    "stochastic_predator_prey": ("support.experiments.stochastic_predator_prey",
                                 "paper 2: stochastic predator–prey from partial evolution, MMD vs λ"),
    "curie_weiss": ("support.experiments.curie_weiss",
                    "paper 2: Curie–Weiss SDE from patch evolution, λ = K vs naive, exact μ and σ²"),
    "allen_cahn": ("support.experiments.allen_cahn",
                   "paper 1: Allen–Cahn free energy, L_z vs L_x,p at an equal force budget (streamed)"),
    "ising": ("support.experiments.ising", "paper 2: 64×64 Ising SDE (m, ρ_dw, closure), λ = K vs naive"),
    "upsampling": ("support.experiments.upsampling",
                   "paper 2: hierarchical upsampling of Ising snapshots against direct equilibrium"),
    "ising_criticality": ("support.experiments.ising_criticality",
                          "paper 2: Ising finite-size scaling at T_c from an SDE learned on L = 16 data"),
    "nbmota": ("support.experiments.nbmota",
               "paper 2: NbMoTa vacancy KMC (NNK barriers), SRO SDE of 8192 sites from 124-hop patches"),
}


def register(name: str, module: str, description: str) -> None:
    """Add an experiment (used by modules that live outside this package, e.g. your own)."""
    EXPERIMENTS[name] = (module, description)


def load(name: str) -> ModuleType:
    """Import the module of experiment ``name`` (clear error for unknown names)."""
    check_choice("experiment", name, list(EXPERIMENTS))
    return importlib.import_module(EXPERIMENTS[name][0])


def prepare(name: str, *, scale: str | None = None,
            overrides: dict[str, str] | None = None) -> tuple[ModuleType, ExperimentConfig]:
    """The module and the (validated, overridden) config of one run — everything that can be wrong
    with the input fails here, before anything runs."""
    module = load(name)
    scale = check_scale(scale or current_scale())
    cfg = apply_overrides(module.Config.for_scale(scale), overrides or {})   # types, Config.LIMITS
    check = getattr(module, "_check", None)          # the checks a module's run() makes first
    if check is not None:
        check(cfg)
    return module, cfg


def run_experiment(name: str, *, scale: str | None = None, seed: int = 0,
                   out: str | Path | None = None, progress: bool = True,
                   overrides: dict[str, str] | None = None) -> ExperimentResult:
    """Run one experiment at ``scale`` (default: ``$MACRODYN_SCALE``) and optionally save it.

    ``overrides`` (see :func:`config.apply_overrides`) change the scale's config; the result
    records its differences from the preset and its tables name them, so a modified run is never
    mistaken for the preset.
    """
    module, cfg = prepare(name, scale=scale, overrides=overrides)
    result = module.run(cfg, seed=seed, progress=progress)
    if out is not None:
        result.save(out)
    return result
