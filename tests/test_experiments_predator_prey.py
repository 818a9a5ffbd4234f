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
        "seeds": "[1]", "steps": "20", "curve_budget": "1000", "eval_every": "10", "lambda_sweep": "[0.0]",
        "ablation_budget": "1000", "workers": "1"})
    result = predator_prey.run(cfg, progress=False)
    verdicts = evaluate(result, predator_prey.CLAIMS)
    assert len(verdicts) == len(predator_prey.CLAIMS) and all(v.holds is not None for v in verdicts)
    assert evaluate(result, predator_prey.ORDERED_CLAIMS)                # reads the saved uniform run too


def test_fmt_budget_ratio_is_a_bound_when_a_curve_starts_below_tolerance():
    budgets = [100, 1000, 10_000]
    crossing, below = [1.0, 0.01, 0.01], [0.05, 0.01, 0.01]
    metrics = {"tolerance": 0.1, "smallest_p_method": "L_x,p (p=0.2)",
               "methods": {"L_z": {"budgets": budgets, "mean": crossing},
                           "L_x,p (p=0.2)": {"budgets": budgets, "mean": below}}}
    assert fmt_budget_ratio(metrics) == "> 3.16"          # 316 / (at most 100)
    metrics["methods"]["L_x,p (p=0.2)"]["mean"] = crossing
    assert fmt_budget_ratio(metrics) == "1.00"
