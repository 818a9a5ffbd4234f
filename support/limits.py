"""Value ranges of settings: :class:`Limit` and :func:`check_limits`.

A settings dataclass declares ``LIMITS: ClassVar = {"field": Limit(...)}``; :func:`check_limits`
raises a one-line ``ValueError`` naming the first field outside its range, so a bad value (a count of
zero, a negative time, an empty list) is refused before any work. Experiment configs
(:class:`support.experiments.config.ExperimentConfig`) check theirs on construction; library settings
such as :class:`support.stochastic.study.SDESettings` declare theirs here too, so the experiment
config that holds them checks them as ``outer.inner``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, is_dataclass
from typing import Any


@dataclass(frozen=True)
class Limit:
    """The values a numeric field (or every item of a tuple field) may take: ``lo``/``hi`` bounds,
    each inclusive unless ``lo_open``/``hi_open``; ``nonempty`` for a tuple that must have at least
    one item. ``None`` passes (a field typed ``X | None`` means "not used" by ``None``)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    nonempty: bool = False

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            return (f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "any value"

    def admits(self, x: Any) -> bool:
        if not isinstance(x, (int, float)) or isinstance(x, bool) or x != x:      # NaN fails
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def problem(self, name: str, value: Any) -> str | None:
        """``None`` if ``value`` is admitted, else one line saying what ``name`` needs."""
        if value is None:
            return None
        if isinstance(value, (tuple, list)):
            if self.nonempty and not value:
                return f"{name} must have at least one value, got none"
            bad = [v for v in value if not self.admits(v)]
            if bad:
                return f"every value of {name} must be {self.describe()}, got {_show(bad[0])}"
            return None
        if not self.admits(value):
            return f"{name} must be {self.describe()}, got {_show(value)}"
        return None


def _show(v: Any) -> str:
    return json.dumps(v) if isinstance(v, (int, float, str, list, tuple)) or v is None else repr(v)


#: common limits: a count of at least one, a non-negative number, a positive one, a fraction in (0, 1]
AT_LEAST_ONE = Limit(lo=1)
NON_NEGATIVE = Limit(lo=0)
POSITIVE = Limit(lo=0, lo_open=True)
FRACTION = Limit(lo=0, hi=1, lo_open=True)


def each(limit: Limit) -> Limit:
    """``limit`` for every item of a tuple field that needs at least one item."""
    return Limit(limit.lo, limit.hi, limit.lo_open, limit.hi_open, nonempty=True)


def check_limits(cfg: Any, prefix: str = "") -> None:
    """Raise a ``ValueError`` (one line, naming the field) for the first field of ``cfg`` outside
    its class's ``LIMITS`` (:attr:`ExperimentConfig.LIMITS`); nested configs (dataclasses with their
    own ``LIMITS``) are checked too, their fields named ``outer.inner``."""
    for name, limit in getattr(type(cfg), "LIMITS", {}).items():
        problem = limit.problem(prefix + name, getattr(cfg, name))
        if problem:
            raise ValueError(problem)
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if is_dataclass(value) and not isinstance(value, type) and getattr(type(value), "LIMITS", None):
            check_limits(value, f"{prefix}{f.name}.")
