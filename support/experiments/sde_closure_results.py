r"""The typed results of :mod:`support.experiments.sde_closure`: what a run measures, as frozen records
(:class:`~support.stochastic.pipeline.JsonRecord`).

``to_json`` writes the layout of ``metrics`` that the saved run has
(``results/paper/sde_closure/results.json``), ``from_json`` reads it from a live run's metrics or a saved
run's JSON, so claims, tables, figures and the chapter read by attribute
(``m.lambda_sweep.at(8.0).ratio``, ``m.increments.rows["partial"].var``). Standard errors that runs saved
before they were stored lack (``se_var``, ``var_ratio_se``, ``sigma2_se``, ``best_lambda_se``) are ``None``
there, and the increments' histograms likewise.

Where these modules live: every experiment that declares its own typed results keeps them in
``support/experiments/<experiment>_results.py``, beside ``<experiment>.py`` (the reasons are in
:mod:`support.experiments.ising_criticality_results`); the experiment module imports the names back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..results import ExperimentResult
from ..stochastic.pipeline import JsonRecord, mapping_of, readonly_array, record_field, sequence_of, typed_metrics


def _float() -> Any:
    return record_field(convert=float)


def _int() -> Any:
    return record_field(convert=int)


def _optional() -> Any:
    """A float that runs saved before it was stored lack (``None``; left out of the JSON)."""
    return record_field(convert=float, omit_none=True, default=None)


def _records(cls: type) -> Any:
    """A field holding a list of ``cls`` records (a tuple)."""
    return record_field(convert=sequence_of(cls.coerce))


# ------------------------------------------------------------------------------ study 1: increments
@dataclass(frozen=True, kw_only=True)
class IncrementMoments(JsonRecord):
    """Mean and variance of one kind of increment (partial, naive, full) over δt, with their standard
    errors (``se_var``: ``None`` in runs saved before it was stored)."""

    mean: float = _float()
    var: float = _float()
    se_mean: float = _float()
    se_var: float | None = _optional()


@dataclass(frozen=True, eq=False)
class Histogram(JsonRecord):
    """A density histogram of one kind of increment: bin ``edges`` and ``density`` per bin."""

    edges: np.ndarray = record_field(convert=readonly_array)
    density: np.ndarray = record_field(convert=readonly_array)


@dataclass(frozen=True)
class IncrementCost(JsonRecord):
    """Site updates of the partial evolutions and of the full-system steps of study 1."""

    partial: int = _int()
    full: int = _int()


@dataclass(frozen=True, eq=False, kw_only=True)
class IncrementStudy(JsonRecord):
    """Study 1, increments from one fixed state: its observable z, the exact mean and variance of the
    full-system increment, the partial / full variance ratio (and its standard error), the moments of
    every kind of increment (``rows``: ``partial``, ``naive``, ``full``), the cost and the increments'
    ``histograms`` (``None`` in runs saved before they were stored)."""

    z: float = _float()
    exact_mean: float = _float()
    exact_full_var: float = _float()
    var_ratio_partial_full: float = _float()
    var_ratio_se: float | None = _optional()
    rows: Mapping[str, IncrementMoments] = record_field(convert=mapping_of(IncrementMoments.coerce))
    cost: IncrementCost = record_field(convert=IncrementCost.coerce)
    histograms: Mapping[str, Histogram] | None = record_field(convert=mapping_of(Histogram.coerce),
                                                              omit_none=True, default=None)


# ------------------------------------------------------------------------------ study 2: the λ sweep
@dataclass(frozen=True, kw_only=True)
class DiffusionFit(JsonRecord):
    """One constant-σ, linear-drift SDE fitted by L_p with covariance factor λ: σ² and the drift slope
    as trained, the least-squares optimum of the same likelihood with standard errors (``sigma2_se``:
    ``None`` in runs saved before it was stored), the final loss, and σ²_fit / σ²_large measured and in
    closed form (``predicted_ratio``)."""

    lam: float = record_field("lambda", convert=float)
    sigma2: float = _float()
    drift_slope: float = _float()
    sigma2_least_squares: float = _float()
    sigma2_se: float | None = _optional()
    drift_slope_least_squares: float = _float()
    drift_slope_se: float = _float()
    final_loss: float = _float()
    ratio: float = _float()
    predicted_ratio: float = _float()


@dataclass(frozen=True)
class LambdaSweep(JsonRecord):
    """Study 2: the exact σ² of the large system and of one patch, a fit per λ of the sweep on the
    partial target (``rows``, by λ) and one on the naive target (λ = 1), the exact drift slope −θ, and
    the site updates of the pairs against those of full-system pairs."""

    exact_sigma2: float = _float()
    patch_sigma2: float = _float()
    rows: tuple[DiffusionFit, ...] = _records(DiffusionFit)
    naive: DiffusionFit = record_field(convert=DiffusionFit.coerce)
    exact_drift_slope: float = _float()
    cost: int = _int()
    cost_full_system_equivalent: int = _int()

    def at(self, lam: float) -> DiffusionFit:
        """The fit on the partial target with covariance factor ``lam``."""
        for row in self.rows:
            if row.lam == lam:
                return row
        raise KeyError(f"no fit at λ = {lam:g}; the sweep has λ = {[r.lam for r in self.rows]}")


# ------------------------------------------------------------------------------ study 3: correlated patches
@dataclass(frozen=True, kw_only=True)
class CorrelatedFit(JsonRecord):
    """λ = K fitted on patches whose increments have correlation ρ_p: the site correlation that gives it
    (and ρ_p recomputed from it), σ²_fit / σ²_large at λ = K, the λ that would recover σ²_large (with its
    standard error; ``None`` in runs saved before it was stored) and K / (1 + (K − 1)ρ_p)."""

    patch_rho: float = _float()
    site_rho: float = _float()
    patch_rho_check: float = _float()
    ratio_at_K: float = _float()
    best_lambda: float = _float()
    best_lambda_se: float | None = _optional()
    exact_lambda: float = _float()


@dataclass(frozen=True)
class IsingLambda(JsonRecord):
    """The official hand-tuned λ near T_c for K patches, λ / K and the ρ_p for which K / (1 + (K − 1)ρ_p)
    equals it (arithmetic on the official code's numbers, not measured)."""

    K: int = _int()
    lam: float = record_field("lambda", convert=float)
    lambda_over_K: float = _float()
    implied_patch_rho: float = _float()


@dataclass(frozen=True)
class CorrelationStudy(JsonRecord):
    """Study 3: one :class:`CorrelatedFit` per ρ_p, the site updates, and the official Ising λ read
    through the same formula (``ising_critical``)."""

    rows: tuple[CorrelatedFit, ...] = _records(CorrelatedFit)
    cost: int = _int()
    ising_critical: tuple[IsingLambda, ...] = _records(IsingLambda)


@dataclass(frozen=True)
class SimulationCost(JsonRecord):
    """Site updates (``kind``) per stage of the run, and their total."""

    kind: str = record_field(convert=str)
    increments_partial: int = _int()
    increments_full: int = _int()
    lambda_sweep: int = _int()
    correlated: int = _int()
    total: int = _int()


@dataclass(frozen=True, eq=False)
class SDEClosureResult(JsonRecord):
    """An sde_closure run, typed: the three studies and the simulation cost."""

    increments: IncrementStudy = record_field(convert=IncrementStudy.coerce)
    lambda_sweep: LambdaSweep = record_field(convert=LambdaSweep.coerce)
    correlated: CorrelationStudy = record_field(convert=CorrelationStudy.coerce)
    simulation_cost: SimulationCost = record_field(convert=SimulationCost.coerce)


def typed(result: ExperimentResult | Mapping[str, Any] | SDEClosureResult) -> SDEClosureResult:
    """The typed result of a run (an :class:`ExperimentResult`, its ``metrics``, or already typed)."""
    return typed_metrics(result, SDEClosureResult)
