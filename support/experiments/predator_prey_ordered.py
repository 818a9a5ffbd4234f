"""Paper 1, Fig. 2, under the paper's own protocol for choosing configurations.

The same experiment as :mod:`support.experiments.predator_prey`, except that a force budget buys the
*first* snapshots of the trajectory-major training set — whole runs in order, as the official code
did — instead of snapshots drawn uniformly from every run. L_z, which buys 1/p times fewer
configurations than L_x,p, then also sees 1/p times fewer initial conditions (at 6·10⁴ forces: 2
runs against 10 for p = 1/5). Comparing the two experiments separates that coverage effect from the
information per force.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results import ExperimentResult
from . import predator_prey
from .predator_prey import figures  # noqa: F401  (the figures of a run, drawn from its metrics)
from .config import resolve

VERSION = predator_prey.VERSION
CLAIMS = predator_prey.ORDERED_CLAIMS


@dataclass
class Config(predator_prey.Config):
    selection: str = "ordered"


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True) -> ExperimentResult:
    return predator_prey.run(resolve(Config, cfg, scale), seed=seed, progress=progress)
