r"""Measured numbers with their uncertainty, and the three-valued comparisons a claim's verdict uses.

A claim is a statement about a quantity that a run *estimates*: a mean over seeds, a fit over
finitely many samples, a distance between two finite samples. Its verdict must therefore come from an
interval, not from a point value compared with a band tuned on one run. An :class:`Estimate` is a
value with a (roughly 95 %) interval ``[lo, hi]`` and a note saying where the interval came from:

* :meth:`Estimate.of_samples` — independent repeats (seeds, chains, test trajectories):
  :math:`\bar x \pm t_{0.975,\,n-1}\, s/\sqrt{n}`;
* :meth:`Estimate.from_mean_std` — the same from a saved mean, standard deviation and count;
* :meth:`Estimate.bootstrap` — any statistic of resampled units (paths, snapshots, chains):
  the 2.5 % and 97.5 % percentiles of the statistic over resamples;
* :meth:`Estimate.from_se` — a value and a standard error from elsewhere (a fit's), ±1.96 s.e.;
* :meth:`Estimate.bootstrap_groups` — independent groups of different sizes, each resampled on its own;
* :meth:`Estimate.from_replicates` — a value and bootstrap replicates computed elsewhere;
* :meth:`Estimate.worst_case` — the worst of independent units, up to a prediction bound for one more.

The comparisons return ``True`` (the interval supports the statement), ``False`` (the interval
excludes it) or ``None`` (the interval straddles the line: the run cannot decide):

* :func:`above` / :func:`below` — an estimate against a threshold;
* :func:`within` — ``|x − target| ≤ tol``, where ``tol`` is a physical scale written in the claim or
  a multiple of a *measured* noise (e.g. the distance between two independent direct samples);
* :func:`z_verdict` — a deviation from an exact value measured in its own standard errors;
* :func:`all_of` / :func:`any_of` — three-valued "and" / "or" of several such verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

#: two-sided 97.5 % quantiles of Student's t for n − 1 = 1 … 30 degrees of freedom (then → 1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)

Tri = Optional[bool]   # True: supported, False: excluded, None: undecided by this run


def t975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (normal beyond 30)."""
    if dof < 1:
        raise ValueError(f"Student's t needs at least one degree of freedom, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


@dataclass(frozen=True)
class Estimate:
    """A measured ``value`` with an interval ``[lo, hi]`` (about 95 %) and ``how`` it was obtained."""

    value: float
    lo: float
    hi: float
    how: str = ""

    def __post_init__(self) -> None:
        for name in ("value", "lo", "hi"):
            if math.isnan(float(getattr(self, name))):
                raise ValueError(f"Estimate.{name} is NaN ({self.how or 'no note'})")
        if not self.lo <= self.value <= self.hi:
            raise ValueError(f"Estimate needs lo <= value <= hi, got {self.lo} <= {self.value} <= {self.hi}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def of_samples(cls, samples: Iterable[float], what: str = "seeds") -> "Estimate":
        """Mean of independent ``samples`` ± t₀.₉₇₅ · s/√n (needs n ≥ 2 finite samples)."""
        x = np.asarray(list(samples), float)
        if x.ndim != 1 or len(x) < 2:
            raise ValueError(f"an interval over {what} needs at least two samples, got {len(x)}")
        if not np.isfinite(x).all():
            raise ValueError(f"non-finite samples over {what}: {x.tolist()}")
        half = t975(len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
        return cls(float(x.mean()), float(x.mean() - half), float(x.mean() + half),
                   f"mean ± t·s.e. over {len(x)} {what}")

    @classmethod
    def from_mean_std(cls, mean: float, std: float, n: int, what: str = "seeds") -> "Estimate":
        """The interval of :meth:`of_samples` from a saved mean, sample standard deviation and count."""
        if n < 2:
            raise ValueError(f"an interval over {what} needs n >= 2, got {n}")
        if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
            raise ValueError(f"mean {mean} and std {std} must be finite, std >= 0")
        half = t975(n - 1) * std / math.sqrt(n)
        return cls(float(mean), float(mean - half), float(mean + half), f"mean ± t·s.e. over {n} {what}")

    @classmethod
    def from_se(cls, value: float, se: float, how: str) -> "Estimate":
        """``value`` ± 1.96 ``se`` (a normal interval from a standard error computed elsewhere)."""
        if not (math.isfinite(value) and math.isfinite(se)) or se < 0:
            raise ValueError(f"value {value} and standard error {se} must be finite, se >= 0")
        return cls(float(value), float(value - 1.96 * se), float(value + 1.96 * se), how)

    @classmethod
    def bootstrap(cls, units: Sequence, statistic: Callable[[Sequence], float], *, n_boot: int = 400,
                  seed: int = 0, what: str = "units") -> "Estimate":
        """``statistic(units)`` with the 2.5–97.5 % percentile interval of ``statistic`` over
        ``n_boot`` resamples of ``units`` with replacement (``units``: an array indexed on axis 0,
        or a tuple of such arrays resampled together)."""
        arrays = units if isinstance(units, tuple) else (units,)
        n = len(arrays[0])
        if n < 2 or any(len(a) != n for a in arrays):
            raise ValueError(f"bootstrap over {what} needs >= 2 units of equal count in every array")
        call = (lambda idx: statistic(*(a[idx] for a in arrays))) if isinstance(units, tuple) \
            else (lambda idx: statistic(arrays[0][idx]))
        rng = np.random.default_rng(seed)
        boot = [call(rng.integers(0, n, n)) for _ in range(n_boot)]
        est = cls.from_replicates(float(call(np.arange(n))), boot, f"bootstrap 95 % over {n} {what}")
        if est is None:
            raise ValueError(f"the statistic is not finite on most resamples of the {what}")
        return est

    @classmethod
    def bootstrap_groups(cls, groups: Sequence[np.ndarray], statistic: Callable[..., float], *,
                         n_boot: int = 400, seed: int = 0, what: str = "units") -> "Estimate":
        """``statistic(*groups)`` with the percentile interval over resamples that draw every group
        with replacement *on its own* — independent samples of different sizes (e.g. small-cell and
        large-cell runs), where :meth:`bootstrap` would pair them."""
        if not groups or any(len(g) < 2 for g in groups):
            raise ValueError(f"bootstrap over {what} needs >= 2 units in every group")
        rng = np.random.default_rng(seed)
        boot = [statistic(*(g[rng.integers(0, len(g), len(g))] for g in groups)) for _ in range(n_boot)]
        est = cls.from_replicates(float(statistic(*groups)), boot,
                                  f"bootstrap 95 % over {' and '.join(str(len(g)) for g in groups)} {what}")
        if est is None:
            raise ValueError(f"the statistic is not finite on most resamples of the {what}")
        return est

    @classmethod
    def from_replicates(cls, value: float, replicates: Iterable[float], how: str) -> "Estimate | None":
        """``value`` with the 2.5–97.5 % percentiles of its bootstrap ``replicates`` (widened to contain
        ``value``); None when ``value`` or more than half of the replicates are not finite."""
        boot = np.asarray(list(replicates), float)
        n = len(boot)
        boot = boot[np.isfinite(boot)]
        if not math.isfinite(value) or n == 0 or len(boot) < (n + 1) // 2:
            return None
        lo, hi = np.percentile(boot, [2.5, 97.5])
        return cls(float(value), float(min(lo, value)), float(max(hi, value)), how)

    @classmethod
    def worst_case(cls, values: Iterable[float], what: str = "units") -> "Estimate":
        """The largest of per-unit values (independent units, e.g. test trajectories) as an estimate of
        the worst unit of their distribution: the observed worst is the lower end, the upper end the
        95 % prediction bound for one more unit, x̄ + t₀.₉₇₅ s √(1 + 1/n). So ``below(worst, tol)`` is
        True when a new unit is predicted below ``tol`` too, False when an observed one already is not."""
        x = np.asarray(list(values), float)
        if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
            raise ValueError(f"a worst case over {what} needs at least two finite values, got {x.tolist()}")
        bound = x.mean() + t975(len(x) - 1) * x.std(ddof=1) * math.sqrt(1 + 1 / len(x))
        return cls(float(x.max()), float(x.max()), float(max(bound, x.max())),
                   f"worst of {len(x)} {what}; upper end: 95 % prediction bound for one more")

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        """``{"value", "lo", "hi", "how"}`` (an infinite end is written as JSON's ``Infinity``)."""
        return {"value": float(self.value), "lo": float(self.lo), "hi": float(self.hi), "how": self.how}

    @classmethod
    def from_json(cls, d: dict) -> "Estimate":
        """Read :meth:`to_json`'s object."""
        return cls(float(d["value"]), float(d["lo"]), float(d["hi"]), str(d.get("how", "")))

    @classmethod
    def coerce(cls, v: "Estimate | dict") -> "Estimate":
        """``v`` if it is an :class:`Estimate`, else :meth:`from_json` of it (a typed record's converter)."""
        return v if isinstance(v, cls) else cls.from_json(v)

    # ------------------------------------------------------------------ arithmetic on intervals
    def map(self, f: Callable[[float], float], how: str | None = None) -> "Estimate":
        """``f`` applied to value and ends (``f`` monotone; a decreasing ``f`` swaps the ends)."""
        a, b = sorted((f(self.lo), f(self.hi)))
        return Estimate(f(self.value), a, b, how or self.how)

    def minus(self, other: "Estimate", how: str | None = None) -> "Estimate":
        """``self − other`` for independent estimates: half-widths add in quadrature."""
        v = self.value - other.value
        lo = math.hypot(self.value - self.lo, other.hi - other.value)
        hi = math.hypot(self.hi - self.value, other.value - other.lo)
        return Estimate(v, v - lo, v + hi, how or f"{self.how}; {other.how}")

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def __str__(self) -> str:
        return f"{_g(self.value)} [{_g(self.lo)}, {_g(self.hi)}]"

    def describe(self) -> str:
        """``value [lo, hi] (how)`` — what a claims table shows."""
        return f"{self} ({self.how})" if self.how else str(self)


def _g(x: float) -> str:
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞"
    ax = abs(x)
    if ax != 0 and (ax < 1e-2 or ax >= 1e4):
        return f"{x:.2e}"
    return f"{x:.3g}"


# ---------------------------------------------------------------------- three-valued comparisons
def above(e: Estimate, threshold: float) -> Tri:
    """``e > threshold``: True when the whole interval is above, False when it is at or below, else None."""
    if e.lo > threshold:
        return True
    if e.hi <= threshold:
        return False
    return None


def below(e: Estimate, threshold: float) -> Tri:
    """``e < threshold``: True when the whole interval is below, False when it is at or above, else None."""
    if e.hi < threshold:
        return True
    if e.lo >= threshold:
        return False
    return None


def within(e: Estimate, target: float, tol: float) -> Tri:
    """``|e − target| ≤ tol``: True when the interval lies inside ``[target − tol, target + tol]``,
    False when it lies wholly outside, None when it straddles an edge. ``tol`` must be a physical
    scale stated in the claim or a multiple of a measured noise (never a band tuned on one run)."""
    if not tol >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tol}")
    if target - tol <= e.lo and e.hi <= target + tol:
        return True
    if e.hi < target - tol or e.lo > target + tol:
        return False
    return None


#: a deviation z (in standard errors) from an exact value: agreement at |z| ≤ AGREE_Z, disagreement at
#: |z| ≥ DISAGREE_Z; in between (3–5 s.e.) a single run cannot tell
AGREE_Z, DISAGREE_Z = 3.0, 5.0


def z_verdict(z: float) -> Tri:
    """Three-valued agreement of a noise-scaled deviation ``z`` with zero: True for |z| ≤ 3, False
    for |z| ≥ 5, None in between."""
    if not math.isfinite(z):
        raise ValueError(f"z must be finite, got {z}")
    if abs(z) <= AGREE_Z:
        return True
    return False if abs(z) >= DISAGREE_Z else None


def z_rule() -> str:
    """The rule of :func:`z_verdict` in words, for a claim's measured text."""
    return f"agrees at |z| ≤ {AGREE_Z:g}, fails at |z| ≥ {DISAGREE_Z:g}"


def all_of(verdicts: Iterable[Tri]) -> Tri:
    """Three-valued "and": False if any is False, else None if any is None, else True."""
    vs = list(verdicts)
    if any(v is False for v in vs):
        return False
    return None if any(v is None for v in vs) else True


def any_of(verdicts: Iterable[Tri]) -> Tri:
    """Three-valued "or": True if any is True, else None if any is None, else False."""
    vs = list(verdicts)
    if any(v is True for v in vs):
        return True
    return None if any(v is None for v in vs) else False


def paired_log_ratio(a: Sequence[float], b: Sequence[float], what: str = "seeds") -> Estimate:
    """Mean over paired units of log(a_i / b_i) with its t-interval: the way to compare two methods
    run on the same seeds (the ordering of two means is not evidence on its own)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples need equal 1-d shapes, got {a.shape} and {b.shape}")
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("log-ratios need positive values")
    return Estimate.of_samples(np.log(a / b), what=f"paired {what}")

