"""Reporting helpers of the predator–prey experiment (the experiment itself runs in its chapter)."""

from __future__ import annotations

import math

import pytest

from support.experiments.predator_prey import fmt_budget, fmt_budget_ratio, protocol_table
from support.results import ExperimentResult


def _run(err_lz: float) -> ExperimentResult:
    """A saved run whose L_z curve halves its error from budget 100 to 200 (tolerance 0.01)."""
    methods = {"L_z": {"budgets": [100, 200], "mean": [err_lz, err_lz / 2], "std": [0.1, 0.1]}}
    return ExperimentResult("predator_prey", "paper", 0, {}, {"tolerance": 0.01, "methods": methods})


def test_protocol_table_has_one_column_pair_per_run():
    table = protocol_table({"uniform": _run(0.005), "ordered": _run(0.7)})
    assert len(table.headers) == 6 and "uniform: error" in table.headers[1] and "ordered: forces" in table.headers[4]
    assert "paper: error" in table.headers[5]
    row = table.rows[0]
    assert "5.00e-03" in row[1] and "7.00e-01" in row[3] and row[2] == "≤ 1.00e+02" and row[4] == "> 2.00e+02"
    assert "<table" in table._repr_html_()
    with pytest.raises(ValueError):
        protocol_table({})


def test_fmt_budget_reads_the_curve():
    curve = {"budgets": [100, 1000, 10_000]}
    assert fmt_budget({**curve, "mean": [1.0, 0.5, 0.2]}, 0.1) == "> 1.00e+04"       # never reached
    assert fmt_budget({**curve, "mean": [0.05, 0.01, 0.01]}, 0.1) == "≤ 1.00e+02"    # below from the start
    assert fmt_budget({**curve, "mean": [1.0, 0.01, 0.01]}, 0.1) == "3.16e+02"       # log–log crossing


def test_saved_runs_figure_one_panel_per_run():
    from support.experiments.predator_prey import saved_runs_figure
    run = _run(0.5)
    fig = saved_runs_figure({"a": run, "b": _run(0.2)})
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()        # shared scale for comparison
    with pytest.raises(ValueError):
        saved_runs_figure({})


def test_predator_prey_tiny_run_reads_every_claim():
    """A seconds-long run: every key the chapter's claims read exists (a renamed key fails here)."""
    from support.claims import evaluate
    from support.experiments import predator_prey
    from support.experiments.config import apply_overrides
    cfg = apply_overrides(predator_prey.Config.for_scale("quick"), {
        "n_train_traj": "6", "n_test_traj": "2", "ae_epochs": "1", "budgets": "[1000, 2000]", "ps": "[1.0, 0.5]",
        "seeds": "[1, 2]", "steps": "20", "curve_budget": "1000", "eval_every": "10", "lambda_sweep": "[0.0]",
        "ablation_budget": "1000", "workers": "1"})
    result = predator_prey.run(cfg, progress=False)
    verdicts = evaluate(result, predator_prey.CLAIMS)
    assert len(verdicts) == len(predator_prey.CLAIMS) and all(v.measured != "—" for v in verdicts)
    assert all("[" in v.measured for v in verdicts if v.claim.key in ("more_accurate",))   # an interval is shown
    ordered = {v.claim.key: v for v in evaluate(result, predator_prey.ORDERED_CLAIMS)}
    assert ordered["coverage"].measured != "—" and ordered["coverage_sign"].measured != "—"
    assert ordered["per_force"].measured == "—"       # compared with the saved uniform run of its scale: none at quick


def _seeded(per_method: dict[str, list[list[float]]], budgets=(100, 200), tol=0.01) -> ExperimentResult:
    """A run whose methods have the given per-seed errors at each budget (rows: budgets)."""
    methods = {}
    for label, rows in per_method.items():
        methods[label] = {"budgets": list(budgets), "mean": [sum(x) / len(x) for x in rows], "tol": tol,
                          "per_seed": {str(b): list(x) for b, x in zip(budgets, rows)}}
    return ExperimentResult("predator_prey", "paper", 0, {}, {"tolerance": tol, "methods": methods,
                                                               "smallest_p_method": "p"})


def _measure(claims, key):
    return next(c for c in claims if c.key == key).measure


def test_method_comparisons_are_three_valued_over_seeds():
    from support.experiments.predator_prey import CLAIMS
    more = _measure(CLAIMS, "more_accurate")
    consistent = _seeded({"L_z": [[0.02, 0.021, 0.019]] * 2, "p": [[0.010, 0.011, 0.0105]] * 2})
    straddles = _seeded({"L_z": [[0.02, 0.010, 0.019]] * 2, "p": [[0.010, 0.021, 0.0105]] * 2})
    reversed_ = _seeded({"L_z": [[0.010, 0.011, 0.0105]] * 2, "p": [[0.02, 0.021, 0.019]] * 2})
    assert more(consistent)[0] is True and "paired seeds" in more(consistent)[1]
    assert more(straddles)[0] is None                 # the order of the means alone is not evidence
    assert more(reversed_)[0] is False
    one = _seeded({"L_z": [[0.02], [0.01]], "p": [[0.01], [0.005]]})
    assert more(one) == (None, "one seed: no interval over seeds")


def test_budget_interval_widens_with_the_seed_spread():
    from functools import partial

    from support.metrics import curve_budget_interval
    budget_interval = partial(curve_budget_interval, pooled=False)       # what predator_prey's claims use
    tight = {"budgets": [100, 1000], "mean": [0.1, 0.001], "per_seed": {"100": [0.1, 0.1], "1000": [0.001, 0.001]}}
    lo, hi = budget_interval(tight, 0.01)
    assert lo == hi == pytest.approx(316.2, rel=1e-3)                 # no spread: the mean curve's crossing
    wide = {"budgets": [100, 1000], "mean": [0.1, 0.001], "per_seed": {"100": [0.2, 0.05], "1000": [0.002, 0.0005]}}
    lo, hi = budget_interval(wide, 0.01)
    assert lo == 0 and hi == math.inf                 # the seed band reaches tolerance before and after the sweep
    assert budget_interval({"budgets": [100, 1000], "mean": [0.1, 0.001]}, 0.01)[0] == pytest.approx(316.2, rel=1e-3)


def test_fewer_forces_is_undecided_when_both_budgets_are_censored():
    from support.experiments.predator_prey import CLAIMS
    fewer = _measure(CLAIMS, "fewer_forces")
    below = _seeded({"L_z": [[0.001, 0.0012, 0.0011]] * 2, "p": [[0.002, 0.0021, 0.0019]] * 2})
    assert fewer(below)[0] is None and "≤ 1.00e+02" in fewer(below)[1]
    crossing = _seeded({"L_z": [[0.1, 0.11, 0.105], [0.05, 0.052, 0.051]],
                        "p": [[0.001, 0.0011, 0.00105], [0.001, 0.0011, 0.00105]]})
    assert fewer(crossing)[0] is True                 # p below at the first budget, L_z never


def test_fmt_budget_ratio_is_a_bound_when_a_curve_starts_below_tolerance():
    budgets = [100, 1000, 10_000]
    crossing, below = [1.0, 0.01, 0.01], [0.05, 0.01, 0.01]
    metrics = {"tolerance": 0.1, "smallest_p_method": "L_x,p (p=0.2)",
               "methods": {"L_z": {"budgets": budgets, "mean": crossing},
                           "L_x,p (p=0.2)": {"budgets": budgets, "mean": below}}}
    assert fmt_budget_ratio(metrics) == "> 3.16"          # 316 / (at most 100)
    metrics["methods"]["L_x,p (p=0.2)"]["mean"] = crossing
    assert fmt_budget_ratio(metrics) == "1.00"
