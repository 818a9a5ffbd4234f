r"""The typed results of :mod:`support.experiments.ising_criticality`: what a run measures, as frozen
records (:class:`~support.stochastic.pipeline.JsonRecord`), and the bootstrap estimates derived from them.

``to_json`` writes the layout of ``metrics`` that the saved runs have
(``results/paper/ising_criticality/results.json``), ``from_json`` reads it from a live run's metrics or a
saved run's JSON, so claims, figures and the chapter read by attribute (``m.at(64, 2.27).direct.chi``).
:class:`ExponentEstimates` and :class:`RatioEstimates` are the intervals the chapter and the claims
compute from a run (:func:`~support.experiments.ising_criticality.exponent_estimates`,
:func:`~support.experiments.ising_criticality.ratio_estimates`); they are not stored in the run but
have the same JSON round trip.

Where these modules live: every experiment that declares its own typed results keeps them in
``support/experiments/<experiment>_results.py``, beside ``<experiment>.py`` — one flat package, as
``lj_common.py`` beside the LJ chapters, so a listing shows each experiment next to its results, and no
second ``results`` namespace beside :mod:`support.results` (the saved-run files) and ``results/`` (the
saved runs). The experiment module keeps its config, the study, figures and claims, and imports these
names back, so ``ising_criticality.CriticalityResult`` still works.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..results import ExperimentResult
from ..stochastic.pipeline import (JsonRecord, floats, frozen_mapping, json_number, mapping_of, readonly_array,
                                   record_field, typed_metrics)
from ..uncertainty import Estimate

#: the statistics of a :class:`Moments`: ⟨|M|⟩, χ, Binder's U
QUANTITIES = ("abs_m", "chi", "binder")


@dataclass(frozen=True, eq=False)
class Moments(JsonRecord):
    """The stationary ⟨|M|⟩ (``abs_m``), χ (``chi``) and Binder cumulant U (``binder``) of one source
    at one (L, T); the histogram of m (40 bins over [−1.1, 1.1]) and the per-unit moments
    ``units [n_units, 3]`` (:func:`~support.systems.spins.finite_size.unit_moments` of every rollout
    path or Wolff chain) that the bootstrap resamples (``None`` where a run did not store them)."""

    abs_m: float = record_field(convert=json_number)
    chi: float = record_field(convert=json_number)
    binder: float = record_field(convert=json_number)
    histogram: np.ndarray | None = record_field(convert=partial(readonly_array, dtype=None), omit_none=True,
                                                default=None)          # counts stay integers
    units: np.ndarray | None = record_field(convert=readonly_array, omit_none=True, default=None)

    @property
    def usable(self) -> bool:
        """Finite ⟨|M|⟩, χ and U with positive ⟨|M|⟩ and χ (what the log–log fits can use)."""
        return all(np.isfinite(getattr(self, q)) for q in QUANTITIES) and self.abs_m > 0 and self.chi > 0


@dataclass(frozen=True, eq=False)
class SDEModel(JsonRecord):
    """One SDE fitted at one (L, T): its covariance factor λ, the degree of its odd-polynomial drift
    (0: the default MLP), the fraction ``outside`` of recorded |m| > 1 and the ``moments`` of the
    second half of its paths (``None``: the rollout diverged). In JSON the moments' entries sit in
    the model's own object, beside ``finite``."""

    lam: float = record_field("lambda", convert=float)
    drift_degree: int = record_field(convert=int)
    outside: float = record_field(convert=float)
    moments: Moments | None = record_field(convert=Moments.coerce, default=None)

    @property
    def finite(self) -> bool:
        """Whether the rollout stayed finite and bounded (|m| ≤ 10)."""
        return self.moments is not None

    def statistic(self, q: str, default: Any = None) -> Any:
        """⟨|M|⟩, χ or U (``q`` = ``abs_m``, ``chi``, ``binder``), or ``default`` if the rollout diverged."""
        return default if self.moments is None else getattr(self.moments, q)

    def to_json(self) -> dict[str, Any]:
        """``{"lambda", "drift_degree", "finite", "outside"}`` and, unless the rollout diverged, the
        entries of :class:`Moments`."""
        own = super().to_json()
        stats = own.pop("moments") or {}
        return {**own, **stats, "finite": self.finite}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SDEModel":
        """Read :meth:`to_json`'s layout."""
        own = {k: d[k] for k in ("lambda", "drift_degree", "outside") if k in d}
        stats = {k: v for k, v in d.items() if k not in own and k != "finite"}
        finite = d.get("finite", True) and bool(stats)
        return super().from_json({**own, "moments": Moments.from_json(stats) if finite else None})


@dataclass(frozen=True)
class IncrementCorrelation(JsonRecord):
    """ρ_p, the correlation of two neighbouring patches' m-increments over δt, its standard error and
    the number of patch pairs it was measured on
    (:func:`~support.systems.spins.ising_patches.adjacent_increment_correlation`)."""

    rho: float = record_field(convert=float)
    se: float = record_field(convert=float)
    n: int = record_field(convert=int)


@dataclass(frozen=True, eq=False)
class CriticalPoint(JsonRecord):
    """Everything measured at one size L and temperature T: K patches, ρ_p (``None`` at K = 1) and
    the measured λ, the number of training pairs, every fitted SDE (``models``: ``measured``, and at
    the temperature nearest T_c ``K`` and ``degree_<d>``), direct simulation (``direct``), the
    simulation cost of the pairs per stage (:func:`support.budget.stage_costs`; ``None`` in runs
    saved before it was counted) and the seconds the point took."""

    L: int = record_field(convert=int)
    T: float = record_field(convert=float)
    K: int = record_field(convert=int)
    rho_p: IncrementCorrelation | None = record_field(convert=IncrementCorrelation.coerce)
    lam: float = record_field("lambda", convert=float)
    n_pairs: int = record_field(convert=int)
    models: Mapping[str, SDEModel] = record_field(convert=mapping_of(SDEModel.coerce))
    direct: Moments | None = record_field(convert=Moments.coerce)
    simulation_cost: Mapping[str, int] | None = record_field(convert=frozen_mapping, omit_none=True, default=None)
    seconds: float = record_field(convert=json_number, default=math.nan)


#: the exponents of a :class:`ScalingFit`
EXPONENTS = ("beta_over_nu", "gamma_over_nu", "one_over_nu")


@dataclass(frozen=True, eq=False)
class ScalingFit(JsonRecord):
    """The finite-size-scaling fits of one source of statistics: |dU/dT| per L (``dU_dT``), β/ν and
    γ/ν (log–log fits over L at the temperature nearest T_c) and 1/ν (the log–log fit of |dU/dT|);
    ``None`` where a point was unusable."""

    dU_dT: Mapping[int, float] = record_field(convert=mapping_of(float, int))
    beta_over_nu: float | None = record_field(convert=float, omit_none=True, default=None)
    gamma_over_nu: float | None = record_field(convert=float, omit_none=True, default=None)
    one_over_nu: float | None = record_field(convert=float, omit_none=True, default=None)

    def get(self, key: str, default: float | None = None) -> float | None:
        """The exponent ``key`` (one of :data:`EXPONENTS`), ``default`` where it was not fitted."""
        if key not in EXPONENTS:
            raise KeyError(f"unknown exponent {key!r}; have {EXPONENTS}")
        v = getattr(self, key)
        return default if v is None else v


@dataclass(frozen=True, eq=False)
class BinderCurves(JsonRecord):
    """Direct simulation's Binder cumulant U(T) on the fine temperature grid ``T`` per size L, the
    crossing temperature of each pair of neighbouring sizes (``"16-32"``; NaN where the curves do not
    cross in the grid) and the per-chain moments of every (L, T) (``units[L][i]``)."""

    T: tuple[float, ...] = record_field(convert=floats)
    U: Mapping[int, tuple[float, ...]] = record_field(convert=mapping_of(floats, int))
    crossings: Mapping[str, float] = record_field(convert=mapping_of(json_number))
    units: Mapping[int, tuple[np.ndarray, ...]] | None = record_field(
        convert=mapping_of(lambda row: tuple(map(readonly_array, row)), int), omit_none=True, default=None)


@dataclass(frozen=True, eq=False)
class CriticalityResult(JsonRecord):
    """A criticality run, typed: every (L, T) point, the scaling fits per source of statistics
    (``direct``, ``sde``, ``sde_lambda_K``, ``sde_degree_<d>``: :func:`~support.experiments.ising_criticality.source_of`), the direct Binder
    curves, the temperature nearest T_c and the flips of the small-system runs per temperature
    (``None`` in runs saved before they were counted)."""

    points: tuple[CriticalPoint, ...] = record_field(convert=lambda ps: tuple(map(CriticalPoint.coerce, ps)))
    fits: Mapping[str, ScalingFit] = record_field(convert=mapping_of(ScalingFit.coerce))
    binder: BinderCurves | None = record_field(convert=BinderCurves.coerce)
    T_near: float = record_field(convert=float)
    small_system_flips: Mapping[float, int] | None = record_field(convert=mapping_of(int, float), omit_none=True,
                                                                  default=None)

    @property
    def sizes(self) -> list[int]:
        """The sizes L of the points, ascending."""
        return sorted({p.L for p in self.points})

    def at(self, L: int, T: float) -> CriticalPoint:
        """The point of size ``L`` at temperature ``T``."""
        return next(p for p in self.points if p.L == L and abs(p.T - T) < 1e-9)

    def row(self, L: int) -> list[CriticalPoint]:
        """The points of size ``L``, by temperature."""
        return sorted((p for p in self.points if p.L == L), key=lambda p: p.T)


def typed(result: ExperimentResult | Mapping[str, Any] | CriticalityResult) -> CriticalityResult:
    """The typed result of a run (an :class:`ExperimentResult`, its ``metrics``, or already typed)."""
    return typed_metrics(result, CriticalityResult)


# ------------------------------------------------------------------------------------ estimates
def _estimate() -> Any:
    """A field holding an :class:`~support.uncertainty.Estimate` (``None``: not estimated; left out of the JSON)."""
    return record_field(convert=Estimate.coerce, omit_none=True, default=None)


@dataclass(frozen=True)
class ExponentEstimates(JsonRecord):
    """β/ν, γ/ν and 1/ν of one source of statistics (``direct``, ``sde``, ``sde_lambda_K``,
    ``sde_degree_<d>``), each with its bootstrap interval; ``None`` where it could not be fitted (a
    point missing or unusable, or most resamples not finite)."""

    source: str = record_field(convert=str)
    beta_over_nu: Estimate | None = _estimate()
    gamma_over_nu: Estimate | None = _estimate()
    one_over_nu: Estimate | None = _estimate()

    def get(self, key: str) -> Estimate | None:
        """The estimate of exponent ``key`` (one of :data:`EXPONENTS`), ``None`` where not fitted."""
        if key not in EXPONENTS:
            raise KeyError(f"unknown exponent {key!r}; have {EXPONENTS}")
        return getattr(self, key)

    def fitted(self) -> dict[str, Estimate]:
        """``{exponent: estimate}`` of the exponents that were fitted, in the order of :data:`EXPONENTS`."""
        return {k: e for k in EXPONENTS if (e := getattr(self, k)) is not None}


@dataclass(frozen=True)
class SizeRatios(JsonRecord):
    """SDE / direct of ⟨|M|⟩ and of χ at one size, with bootstrap intervals (``None``: not estimated)."""

    abs_m: Estimate | None = _estimate()
    chi: Estimate | None = _estimate()


@dataclass(frozen=True, eq=False)
class RatioEstimates(JsonRecord):
    """The ratios SDE / direct of ⟨|M|⟩ and χ of one SDE source at temperature ``T``, per size L
    (``per_size``, ascending; sizes where the SDE or direct simulation has no usable point are absent)."""

    source: str = record_field(convert=str)
    T: float = record_field(convert=float)
    per_size: Mapping[int, SizeRatios] = record_field(convert=mapping_of(SizeRatios.coerce, int))
