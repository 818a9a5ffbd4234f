"""Force-budget accounting: every call of a force oracle or local evolver is counted.

"Force computations to reach e_tol" is measured, not computed from a formula: the pipeline routes
every oracle call through a :class:`ForceBudget`, which charges one unit per evaluated *force
unit* (a coordinate for PDE systems, an atom for molecular dynamics, a site update for lattice
systems) per configuration, and also records wall time spent inside the oracle.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from collections.abc import Iterator


@dataclass
class ForceBudget:
    """Counter of force/simulation cost, split by a free-form ``kind`` label.

    Attributes:
        counts: units charged per kind (e.g. ``"force"``, ``"site_updates"``).
        calls: number of oracle calls per kind.
        seconds: wall time spent inside the oracle per kind.
        limit: optional cap on ``counts["force"]``; exceeding it raises ``BudgetExceeded``.
    """

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    limit: int | None = None

    def charge(self, units: int, kind: str = "force", seconds: float = 0.0) -> None:
        if units < 0:
            raise ValueError(f"cannot charge a negative number of units ({units})")
        self.counts[kind] += int(units)
        self.calls[kind] += 1
        self.seconds[kind] += float(seconds)
        if kind == "force" and self.limit is not None and self.counts[kind] > self.limit:
            raise BudgetExceeded(f"force budget {self.limit} exceeded: {self.counts[kind]} units used")

    @contextmanager
    def timed(self, units: int, kind: str = "force") -> Iterator[None]:
        """Context manager: run the oracle inside, charge ``units`` and the elapsed time."""
        t0 = time.perf_counter()
        yield
        self.charge(units, kind, time.perf_counter() - t0)

    @property
    def total(self) -> int:
        """Force units charged so far (kind ``"force"``)."""
        return int(self.counts.get("force", 0))

    @property
    def units(self) -> int:
        """Units charged so far, every kind summed (a simulation's flips, hops or site updates)."""
        return int(sum(self.counts.values()))

    def as_dict(self) -> dict:
        return {"counts": dict(self.counts), "calls": dict(self.calls),
                "seconds": {k: round(v, 6) for k, v in self.seconds.items()}}


class BudgetExceeded(RuntimeError):
    """Raised when a budget with a ``limit`` is overspent."""


#: the stages of paper 2's training data, in the order the pipeline runs them
DATA_STAGES = ("small_system", "relax", "partial_evolution")


def stage_budgets(stages: tuple[str, ...] = DATA_STAGES) -> dict[str, ForceBudget]:
    """One fresh :class:`ForceBudget` per stage of a data pipeline."""
    return {name: ForceBudget() for name in stages}


def rate_per_system_time(units: int, n_systems: int, duration: float) -> float:
    """Units per system and unit of simulated time, e.g. the flips one direct run of the large
    lattice spends per unit time: what evolving it for δt costs, ``rate · δt``."""
    if n_systems < 1 or not duration > 0:
        raise ValueError(f"need n_systems >= 1 and duration > 0, got {n_systems}, {duration}")
    return units / (n_systems * duration)


def stage_costs(budgets: dict[str, ForceBudget]) -> dict[str, int]:
    """Units charged per stage (all kinds summed) and ``"total"``: the simulation cost of a chapter's
    training data, reported the way paper 1's chapters report force computations."""
    out = {name: b.units for name, b in budgets.items()}
    out["total"] = sum(out.values())
    return out
