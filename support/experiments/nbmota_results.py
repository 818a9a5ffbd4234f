r"""The typed results of :mod:`support.experiments.nbmota`: what a run measures, as frozen records
(:class:`~support.stochastic.pipeline.JsonRecord`) in the layout of ``metrics`` that the saved run has
(``results/paper/nbmota/results.json``).

``from_json`` reads a live run's metrics or a saved run's JSON, ``to_json`` writes them back unchanged,
and everything keyed by temperature is a :class:`~support.stochastic.pipeline.NumberKeyed` mapping
(``m.small_late[2000]`` whether the run spelled the key ``2000.0`` or ``"2000.0"``), so claims, figures
and the chapter read by attribute.

Where these modules live: every experiment that declares its own typed results keeps them in
``support/experiments/<experiment>_results.py``, beside ``<experiment>.py`` (the reasons are in
:mod:`support.experiments.ising_criticality_results`); the experiment module imports the names back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..results import ExperimentResult
from ..stochastic.pipeline import (JsonRecord, floats, frozen_mapping, json_number, mapping_of, number_keyed,
                                   readonly_array, record_field, typed_metrics)


def _array() -> Any:
    """A field holding an array (read-only; lists in JSON)."""
    return record_field(convert=readonly_array)


def _arrays() -> Any:
    """A field of arrays per temperature."""
    return record_field(convert=number_keyed(readonly_array))


@dataclass(frozen=True, eq=False)
class Barriers(JsonRecord):
    """Barriers (eV) of the network's reference crops: the 2000 random equimolar crops (``random``),
    their mean and std, the pure-element crops and the largest error against the README's values."""

    random: np.ndarray = _array()
    mean: float = record_field(convert=float)
    std: float = record_field(convert=float)
    pure: Mapping[str, float] = record_field(convert=mapping_of(float))
    reference_error: float = record_field(convert=float)


@dataclass(frozen=True, eq=False)
class IncrementVariance(JsonRecord):
    """E|KΔδ|² / E δt of the partial-evolution pairs at one temperature after each of ``hops`` hops
    (``per_time``), and the per-batch sums ``batches [n_batches, len(hops), 2]`` (Σ|KΔδ|², Σ δt) that
    the bootstrap resamples."""

    hops: tuple[int, ...] = record_field(convert=lambda h: tuple(int(x) for x in h))
    per_time: tuple[float, ...] = record_field(convert=floats)
    batches: np.ndarray = _array()


@dataclass(frozen=True)
class Timing(JsonRecord):
    """Seconds the small runs and the pairs of one temperature took."""

    small_s: float = record_field(convert=float)
    pairs_s: float = record_field(convert=float)


@dataclass(frozen=True, eq=False)
class LateStd(JsonRecord):
    """Std of δ over runs or paths at the test temperature, averaged over the late half of the test
    window, per component: the 1024-site KMC, the 8192-site KMC and the SDE of the 8192-site cell."""

    kmc_1024: np.ndarray = _array()
    kmc_8192: np.ndarray = _array()
    sde_8192: np.ndarray = _array()


@dataclass(frozen=True, eq=False, kw_only=True)
class NbMoTaResult(JsonRecord):
    """A NbMoTa run, typed. Per training temperature T: the small cells' hop time ``tau`` and horizon
    (s), ``timings``, the simulation cost (KMC hops per stage; ``None`` in runs saved before it was
    counted), δ's mean and std over the 1024-site runs at every record, its late mean (over the runs,
    and per run: ``small_late_seeds``), the mean hops per run and the pairs' ``increment_variance``.
    The training pairs: their number, mean δt (in units s) and the std of their increments K Δδ. At
    the test temperature: the records ``s`` (and in hops per vacancy), mean and std of δ of the direct
    8192-site KMC (``truth_*``), of the SDE (``pred_*``) and of the 1024-site KMC (``small_T_*``), the
    late spreads and their ratios, the official mean-trajectory error, the late means and their gap;
    and per unit, for the claims' intervals, every direct run's δ path, the 1024-site paths, the late
    window's first record and the SDE paths' count, mean and mean square per direct run they start
    from. The SDE's stationary δ per temperature of its grid (mean and per path)."""

    barriers: Barriers = record_field(convert=Barriers.coerce)
    tau: Mapping[float, float] = record_field(convert=number_keyed(float))
    horizon_s: Mapping[float, float] = record_field(convert=number_keyed(float))
    timings: Mapping[float, Timing] = record_field(convert=number_keyed(Timing.coerce))
    fit_s: float = record_field(convert=float)
    truth_s: float = record_field(convert=float)
    simulation_cost: Mapping[float, Mapping[str, int]] | None = record_field(
        convert=number_keyed(frozen_mapping), omit_none=True, default=None)
    small_mean: Mapping[float, np.ndarray] = _arrays()
    small_std: Mapping[float, np.ndarray] = _arrays()
    small_late: Mapping[float, np.ndarray] = _arrays()
    small_hops_mean: Mapping[float, float] = record_field(convert=number_keyed(float))
    n_pairs: int = record_field(convert=int)
    pair_dt_mean: float = record_field(convert=float)
    increment_variance: Mapping[float, IncrementVariance] = record_field(
        convert=number_keyed(IncrementVariance.coerce))
    pair_increment_std: np.ndarray = _array()
    s: np.ndarray = _array()
    hops_per_vacancy: np.ndarray = _array()
    truth_mean: np.ndarray = _array()
    truth_std: np.ndarray = _array()
    pred_mean: np.ndarray = _array()
    pred_std: np.ndarray = _array()
    small_T_std: np.ndarray = _array()
    small_T_mean: np.ndarray = _array()
    late_std: LateStd = record_field(convert=LateStd.coerce)
    std_ratio_sde: float = record_field(convert=json_number)
    std_ratio_sde_per: np.ndarray = _array()
    sqrtK_kmc: float = record_field(convert=json_number)
    sqrtK_sde: float = record_field(convert=json_number)
    mean_error: float = record_field(convert=json_number)
    final_mean_gap: np.ndarray = _array()
    truth_late: np.ndarray = _array()
    pred_late: np.ndarray = _array()
    stationary: Mapping[float, np.ndarray] = _arrays()
    truth_hops_per_vacancy: float = record_field(convert=float)
    small_late_seeds: Mapping[float, np.ndarray] = _arrays()
    truth_paths: np.ndarray = _array()
    small_T_paths: np.ndarray = _array()
    late_from: int = record_field(convert=int)
    pred_group_n: np.ndarray = record_field(convert=partial(readonly_array, dtype=None))    # counts: ints
    pred_group_mean: np.ndarray = _array()
    pred_group_sq: np.ndarray = _array()
    stationary_per_path: Mapping[float, np.ndarray] = _arrays()


def typed(result: ExperimentResult | Mapping[str, Any] | NbMoTaResult) -> NbMoTaResult:
    """The typed result of a run (an :class:`ExperimentResult`, its ``metrics``, or already typed)."""
    return typed_metrics(result, NbMoTaResult)
