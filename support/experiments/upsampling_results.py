r"""The typed results of :mod:`support.experiments.upsampling`: what a run measures, as frozen records
(:class:`~support.stochastic.pipeline.JsonRecord`), and the bootstrap estimates derived from them.

``to_json`` writes the layout of ``metrics`` that the saved run has
(``results/paper/upsampling/results.json``), ``from_json`` reads it from a live run's metrics or a saved
run's JSON, so claims, figures and the chapter read by attribute
(``m.conditions["critical"].longest("frozen").w1["ρ_dw"]``). Everything keyed by an observable (m, |m|,
ρ_dw, e: :data:`~support.experiments.upsampling.OBSERVABLES`) is a read-only mapping keyed by its name.
:class:`DistanceEstimates`, :class:`WallRatios` and :class:`CostEstimate` are the intervals the claims and
the chapter compute from a run (:func:`~support.experiments.upsampling.distance_estimates`,
:func:`~support.experiments.upsampling.wall_ratio_estimates`,
:func:`~support.experiments.upsampling.cost_estimate`); they are not stored in the run but have the same
JSON round trip.

Where these modules live: every experiment that declares its own typed results keeps them in
``support/experiments/<experiment>_results.py``, beside ``<experiment>.py`` (the reasons are in
:mod:`support.experiments.ising_criticality_results`); the experiment module imports the names back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..results import ExperimentResult
from ..stochastic.pipeline import (JsonRecord, floats, json_number, mapping_of, readonly_array, record_field,
                                   sequence_of, typed_metrics)
from ..uncertainty import Estimate

_counts = partial(readonly_array, dtype=None)          # histogram counts and spins stay integers


def _optional(convert: Any) -> Any:
    """A field that runs saved before it was stored lack (``None``; left out of the JSON)."""
    return record_field(convert=convert, omit_none=True, default=None)


def _number() -> Any:
    """A number that is NaN where it is undefined (written as JSON ``null``, read back as NaN)."""
    return record_field(convert=json_number, convert_null=True)


def _never_if_null(x: Any) -> float:
    """Events or time until equilibrium: ``inf`` (never within the tolerance) is written as JSON ``null``."""
    return math.inf if x is None else float(x)


@dataclass(frozen=True, eq=False)
class Samples(JsonRecord):
    """Per-snapshot observables kept for the intervals: m, ρ_dw and e of every snapshot (|m| follows)."""

    m: np.ndarray = record_field(convert=readonly_array)
    rho_dw: np.ndarray = record_field("ρ_dw", convert=readonly_array)
    e: np.ndarray = record_field(convert=readonly_array)

    def observable(self, key: str) -> np.ndarray:
        """The per-snapshot values of observable ``key`` (``m``, ``|m|``, ``ρ_dw`` or ``e``)."""
        if key == "|m|":
            return np.abs(self.m)
        return {"m": self.m, "ρ_dw": self.rho_dw, "e": self.e}[key]


@dataclass(frozen=True, eq=False)
class LatticeSummary(JsonRecord):
    """A set of snapshots: mean and std of every observable, the correlation function G(r) along the
    axes, and the wall density inside / between the 2×2 blocks of the last replication and at window
    seams / in the bulk (NaN where the denominator is 0)."""

    mean: Mapping[str, float] = record_field(convert=mapping_of(json_number))
    std: Mapping[str, float] = record_field(convert=mapping_of(json_number))
    G: np.ndarray = record_field(convert=readonly_array)
    inside_over_between: float = _number()
    seam_over_bulk: float = _number()


@dataclass(frozen=True, eq=False)
class ReferenceSummary(LatticeSummary):
    """Direct equilibrium of the large lattice (:class:`LatticeSummary`), with the histogram of every
    observable (24 bins) over its ``ranges``, the ranges every histogram of its condition uses."""

    histograms: Mapping[str, np.ndarray] = record_field(convert=mapping_of(_counts))
    ranges: Mapping[str, tuple[float, ...]] = record_field(convert=mapping_of(floats))


@dataclass(frozen=True, eq=False, kw_only=True)
class RelaxedRun(LatticeSummary):
    """The upsampled snapshots of one relaxation time ``t_relax`` (0: replication only) and window rule
    (``boundary``: ``frozen`` or ``periodic``): a :class:`LatticeSummary` with W₁/σ of every observable to
    direct equilibrium, the relaxation's Glauber events per snapshot and the seconds it took; for the
    intervals, where the run kept them, the per-snapshot ``samples`` (frozen windows and the longest
    time), per small run the wall densities ``walls [n_runs, 4]`` (between and inside the blocks, at
    seams and in the bulk; relaxed periodic windows and the longest time) and, at the longest time,
    the ``histograms``."""

    w1: Mapping[str, float] = record_field(convert=mapping_of(json_number))
    t_relax: float = record_field(convert=float)
    boundary: str = record_field(convert=str)
    relax_events_per_snapshot: float = record_field(convert=float)
    seconds: float = record_field(convert=float)
    samples: Samples | None = _optional(Samples.coerce)
    walls: np.ndarray | None = _optional(readonly_array)
    histograms: Mapping[str, np.ndarray] | None = _optional(mapping_of(_counts))


@dataclass(frozen=True, eq=False)
class DirectSamples(JsonRecord):
    """The per-snapshot observables of the two independent direct samples (the second sets the noise floor)."""

    reference: Samples = record_field(convert=Samples.coerce)
    reference2: Samples = record_field(convert=Samples.coerce)


@dataclass(frozen=True)
class Units(JsonRecord):
    """Snapshots per independent unit: per small-system run, and per Wolff chain of a direct sample."""

    small_per_run: int = record_field(convert=int)
    reference_per_chain: int = record_field(convert=int)


@dataclass(frozen=True)
class ExactReplication(JsonRecord):
    """Largest deviations from replication's exact maps (factor f): |Δm|, |f ρ_dw,big − ρ_dw,small| and
    |G_big(fr) − G_small(r)|."""

    m: float = record_field(convert=float)
    rho: float = record_field(convert=float)
    G: float = record_field(convert=float)

    @property
    def largest(self) -> float:
        """The largest of the three deviations."""
        return max(self.m, self.rho, self.G)


@dataclass(frozen=True, eq=False, kw_only=True)
class DirectEquilibration(JsonRecord):
    """Direct L×L Glauber runs from random starts: at every record the time, the Glauber events per
    lattice and the ensemble means of |m| and ρ_dw; the events and time until both stay within the
    tolerance of direct equilibrium (``inf`` if they never do), the events of the whole run, and the
    per-lattice |m| and ρ_dw ``[n_lattices, n_records + 1]`` the cost's interval resamples (``None`` in
    runs saved before they were stored)."""

    time: np.ndarray = record_field(convert=readonly_array)
    events: np.ndarray = record_field(convert=readonly_array)
    abs_m: np.ndarray = record_field(convert=readonly_array)
    rho: np.ndarray = record_field(convert=readonly_array)
    events_to_equilibrium: float = record_field(convert=_never_if_null, convert_null=True)
    time_to_equilibrium: float = record_field(convert=_never_if_null, convert_null=True)
    events_run: float = record_field(convert=float)
    abs_m_each: np.ndarray | None = _optional(readonly_array)
    rho_each: np.ndarray | None = _optional(readonly_array)


@dataclass(frozen=True, eq=False, kw_only=True)
class Condition(JsonRecord):
    """Everything measured at one condition (T, h): the small system's snapshots, direct equilibrium
    (``reference``), the noise floor (W₁/σ between two direct samples, per observable), replication's
    exactness, the small system's Glauber events per snapshot, every relaxation run (``runs``, in the
    order run), the direct samples and their units (``None`` in runs saved before they were stored),
    Onsager's ρ_dw (h = 0 only), the histograms of replication alone, direct equilibration, the
    pictures of one configuration per stage (at most 64×64), the seconds it took, and events per
    snapshot of direct equilibration over upsampling (a lower bound where the direct runs never
    equilibrated)."""

    T: float = record_field(convert=float)
    h: float = record_field(convert=float)
    small: LatticeSummary = record_field(convert=LatticeSummary.coerce)
    reference: ReferenceSummary = record_field(convert=ReferenceSummary.coerce)
    floor: Mapping[str, float] = record_field(convert=mapping_of(json_number))
    exact_replication: ExactReplication = record_field(convert=ExactReplication.coerce)
    small_events_per_snapshot: float = record_field(convert=float)
    runs: tuple[RelaxedRun, ...] = record_field(convert=sequence_of(RelaxedRun.coerce))
    samples: DirectSamples | None = _optional(DirectSamples.coerce)
    units: Units | None = _optional(Units.coerce)
    onsager_rho: float | None = _optional(float)
    no_relax_histograms: Mapping[str, np.ndarray] = record_field(convert=mapping_of(_counts))
    direct: DirectEquilibration = record_field(convert=DirectEquilibration.coerce)
    pictures: Mapping[str, np.ndarray] = record_field(convert=mapping_of(_counts))
    seconds: float = record_field(convert=float)
    cost_ratio: float = _number()
    cost_ratio_is_lower_bound: bool = record_field(convert=bool)

    def longest(self, boundary: str) -> RelaxedRun:
        """The run with the longest relaxation time (> 0) of window rule ``boundary``."""
        rows = [r for r in self.runs if r.boundary == boundary and r.t_relax > 0]
        if not rows:
            raise ValueError(f"no relaxed run with {boundary!r} windows; have "
                             f"{sorted({(r.t_relax, r.boundary) for r in self.runs})}")
        return max(rows, key=lambda r: r.t_relax)

    def no_relax(self) -> RelaxedRun:
        """The run of replication alone (t_relax = 0)."""
        return next(r for r in self.runs if r.t_relax == 0)

    @property
    def events_per_snapshot(self) -> float:
        """Glauber events of one upsampled snapshot: its share of the small runs plus the longest
        frozen-halo relaxation."""
        return self.small_events_per_snapshot + self.longest("frozen").relax_events_per_snapshot


@dataclass(frozen=True, eq=False)
class UpsamplingResult(JsonRecord):
    """An upsampling run, typed: one :class:`Condition` per condition name (``above``, ``critical``), in
    the order run."""

    conditions: Mapping[str, Condition] = record_field(convert=mapping_of(Condition.coerce))


def typed(result: ExperimentResult | Mapping[str, Any] | UpsamplingResult) -> UpsamplingResult:
    """The typed result of a run (an :class:`ExperimentResult`, its ``metrics``, or already typed)."""
    return typed_metrics(result, UpsamplingResult)


# ------------------------------------------------------------------------------------ estimates
def _estimate() -> Any:
    return record_field(convert=Estimate.coerce)


@dataclass(frozen=True)
class ObservableDistance(JsonRecord):
    """One observable's W₁/σ to direct equilibrium, the noise floor, the excess ``W₁/σ − FLOOR_MULTIPLE ×
    floor`` and the shift of the mean in direct equilibrium's σ, from one joint bootstrap."""

    w1: Estimate = _estimate()
    floor: Estimate = _estimate()
    excess: Estimate = _estimate()
    mean_shift: Estimate = _estimate()


@dataclass(frozen=True, eq=False)
class DistanceEstimates(JsonRecord):
    """The distances of the run (``t_relax``, ``boundary``) of one condition, per observable
    (``est["ρ_dw"].w1``), in the order of :data:`~support.experiments.upsampling.OBSERVABLES`."""

    t_relax: float = record_field(convert=float)
    boundary: str = record_field(convert=str)
    observables: Mapping[str, ObservableDistance] = record_field(convert=mapping_of(ObservableDistance.coerce))

    def __getitem__(self, key: str) -> ObservableDistance:
        return self.observables[key]


@dataclass(frozen=True)
class WallRatios(JsonRecord):
    """Wall density at window seams / in the bulk and inside / between the replicated 2×2 blocks, with
    bootstrap intervals over the small runs."""

    seam_over_bulk: Estimate = _estimate()
    inside_over_between: Estimate = _estimate()


@dataclass(frozen=True)
class CostEstimate(JsonRecord):
    """Events per snapshot, direct equilibration / upsampling, with a bootstrap interval over the direct
    lattices, and whether the value itself is only a lower bound (the direct runs never equilibrated)."""

    ratio: Estimate = _estimate()
    lower_bound: bool = record_field(convert=bool)
