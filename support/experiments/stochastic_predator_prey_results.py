r"""The typed results of :mod:`support.experiments.stochastic_predator_prey`: what a run measures, as
frozen records (:class:`~support.stochastic.pipeline.JsonRecord`).

``to_json`` writes the layout of ``metrics`` that the saved run has
(``results/paper/stochastic_predator_prey/results.json``), ``from_json`` reads it from a live or a saved
run, so claims, figures and the chapter read by attribute (``m.summary.mmd_time_avg["naive"].mean``).
The models' labels (:func:`lambda_label`, :data:`NAIVE`) live here because the records are keyed by them.

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
from ..stochastic.pipeline import (JsonRecord, floats, frozen_mapping, json_number, mapping_of, readonly_array,
                                   record_field, typed_metrics)


def lambda_label(lam: float) -> str:
    """The label of the SDE fitted on the partial target with covariance factor ``lam`` (``λ=4``)."""
    return f"λ={lam:g}"


#: the label of the SDE fitted on the naive target (λ = 1)
NAIVE = "naive"


@dataclass(frozen=True, eq=False, kw_only=True)
class Bands(JsonRecord):
    """Mean and std over the ensemble of (ū, v̄) at every record, ``[R + 1, 2]`` each, for the test
    condition ``band_condition``."""

    obs_mean: np.ndarray = record_field(convert=readonly_array)
    obs_std: np.ndarray = record_field(convert=readonly_array)


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelScore(JsonRecord):
    """One SDE of one seed scored against direct simulation of the large system: MMD² of the
    standardised latents at every record (``mmd_curve``, mean over the test conditions), per test
    condition (time-averaged, and over the transient / second-half windows of
    :func:`~support.experiments.stochastic_predator_prey.phase_ratios`; the windows are absent from
    runs saved before they were stored), its overall time average, the predicted/true std of (ū, v̄),
    the learned diffusion's size tr σσᵀ (standardised units; overall and per test condition) and, as
    in :class:`Bands`, mean and std of (ū, v̄) over its ensemble."""

    mmd_curve: tuple[float, ...] = record_field(convert=floats)
    mmd_per_condition: tuple[float, ...] = record_field(convert=floats)
    mmd_time_avg: float = record_field(convert=json_number)
    mmd_transient_per_condition: tuple[float, ...] | None = record_field(convert=floats, omit_none=True,
                                                                         default=None)
    mmd_late_per_condition: tuple[float, ...] | None = record_field(convert=floats, omit_none=True, default=None)
    std_ratio: tuple[float, ...] = record_field(convert=floats)
    diffusion_trace: float = record_field(convert=json_number)
    diffusion_trace_per_condition: tuple[float, ...] | None = record_field(convert=floats, omit_none=True,
                                                                           default=None)
    obs_mean: np.ndarray = record_field(convert=readonly_array)
    obs_std: np.ndarray = record_field(convert=readonly_array)


@dataclass(frozen=True, eq=False, kw_only=True)
class SeedResult(JsonRecord):
    """One training seed: every model's score (``models``, in the order of
    :func:`~support.experiments.stochastic_predator_prey.model_labels`), the
    true bands of the band condition and the closure's patch-additivity gap."""

    models: Mapping[str, ModelScore] = record_field(convert=mapping_of(ModelScore.coerce))
    truth: Bands = record_field(convert=Bands.coerce)
    additivity_gap: float = record_field(convert=json_number)


@dataclass(frozen=True, eq=False, kw_only=True)
class SweepRow(JsonRecord):
    """One model over the seeds: time-averaged MMD² (mean, std and per seed), the diffusion's size
    relative to the λ = K fit (mean over seeds) and the predicted/true std of (ū, v̄) (mean over seeds)."""

    mean: float = record_field(convert=json_number)
    std: float = record_field(convert=json_number)
    per_seed: tuple[float, ...] = record_field(convert=floats)
    diffusion_vs_K: float = record_field(convert=json_number)
    std_ratio: tuple[float, ...] = record_field(convert=floats)


@dataclass(frozen=True, eq=False, kw_only=True)
class Summary(JsonRecord):
    """The sweep over the seeds (``mmd_time_avg``: a :class:`SweepRow` per model) and the λ of the
    sweep with the lowest mean MMD²."""

    mmd_time_avg: Mapping[str, SweepRow] = record_field(convert=mapping_of(SweepRow.coerce))
    best_lambda: float = record_field(convert=float)


@dataclass(frozen=True, eq=False, kw_only=True)
class StudyResult(JsonRecord):
    """A run, typed: the summary over seeds, the simulation cost per stage (site updates, and the
    ``seconds`` each stage took), K, the λ of the sweep, the SDE step δt and every seed's result."""

    summary: Summary = record_field(convert=Summary.coerce)
    simulation_cost: Mapping[str, Any] = record_field(convert=frozen_mapping)
    K: int = record_field(convert=int)
    lambdas: tuple[float, ...] = record_field(convert=floats)
    dt: float = record_field(convert=float)
    per_seed: tuple[SeedResult, ...] = record_field(convert=lambda xs: tuple(map(SeedResult.coerce, xs)))

    @property
    def label_K(self) -> str:
        """The label of the λ = K model."""
        return lambda_label(float(self.K))


def typed(result: ExperimentResult | Mapping[str, Any] | StudyResult) -> StudyResult:
    """The typed result of a run (an :class:`ExperimentResult`, its ``metrics``, or already typed)."""
    return typed_metrics(result, StudyResult)
