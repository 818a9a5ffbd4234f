"""Every figure is a function of the saved result (support.figures).

A run draws its figures from its metrics as ``results.json`` holds them and its configuration, never
from a live model: a tiny run saved and read back draws the same figures, pixel for pixel, without
any model; every saved paper-scale run in ``results/paper`` draws every figure its metrics allow, and
a placeholder that names the rerun command — never an invented curve — for a figure whose data it
predates.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib
import pytest

from support.experiments import EXPERIMENTS
from support.figures import (config_of, is_missing, missing_figure, rerun_command, roundtrip, saved_figures,
                             show, thin_index, thinned)
from support.results import ExperimentResult, saved_result

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SAVED = sorted(p.parent.name for p in (ROOT / "results" / "paper").glob("*/results.json"))

#: experiment -> the figures its run draws (the same names for a saved run: drawn or a placeholder)
FIGURES = {
    "theory": {"bounds", "unbiased", "variance", "conditioning", "budget"},
    "predator_prey": {"error_vs_budget", "trajectory", "training_curves", "lambda_cond"},
    "predator_prey_ordered": {"error_vs_budget", "trajectory", "training_curves", "lambda_cond"},
    "lj_structures": {"structures", "rollouts"},
    "lj_encoders": {"transfer", "new_start_rollouts"},
    "lj_scaling": {"error_vs_budget", "scaling"},
    "sde_closure": {"increments", "lambda_sweep", "correlated"},
    "stochastic_predator_prey": {"mmd", "bands"},
    "curie_weiss": {"coefficients", "bands", "error_vs_patch"},
    "allen_cahn": {"system", "energy_rollout", "errors", "sharp_interface"},
    "ising": {"bands", "error_vs_patch"},
    "upsampling": {"snapshots", "histograms", "distances", "correlation", "cost"},
    "ising_criticality": {"scaling", "binder_collapse", "histograms"},
    "nbmota": {"microscopic", "sro_trajectories", "sde_vs_kmc", "fluctuations"},
}

#: the figures a saved paper-scale run cannot draw because it was written before their data was
#: stored (the saved runs take hours to redo); everything else must be drawn from the saved metrics
PREDATES = {
    "predator_prey_ordered": {"trajectory"},
    "lj_structures": {"rollouts"},                   # T(t) of the training runs and test rollouts
}

#: experiments whose figure function was split from the run here; their tiny runs are drawn back
SPLIT = ["theory", "predator_prey", "allen_cahn", "lj_structures", "lj_encoders", "sde_closure",
         "stochastic_predator_prey"]


def test_every_experiment_is_listed():
    assert set(FIGURES) == set(EXPERIMENTS)
    assert set(PREDATES) <= set(FIGURES) and all(PREDATES[k] <= FIGURES[k] for k in PREDATES)


def test_thin_index_keeps_the_ends_and_at_most_max_points():
    assert thin_index(5, 200) == [0, 1, 2, 3, 4]
    idx = thin_index(1001, 200)
    assert idx[0] == 0 and idx[-1] == 1000 and len(idx) == 200 and idx == sorted(set(idx))
    assert thin_index(0) == []
    assert thinned([[1, 2], [3, 4], [5, 6]], [0, 2]) == [[1, 2], [5, 6]]
    with pytest.raises(ValueError):
        thin_index(10, 1)


def test_a_placeholder_says_what_is_missing_and_how_to_draw_it(capsys):
    fig = missing_figure("demo", "curves")
    assert is_missing(fig) and "predates stored curves" in fig.missing
    assert rerun_command("demo") in fig.missing and "--scale paper" in fig.missing
    assert show(fig) is None and fig.missing in capsys.readouterr().out
    real = matplotlib.figure.Figure()
    assert not is_missing(real) and show(real) is real


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40, metadata={"Software": None})
    return buf.getvalue()


@pytest.mark.parametrize("name", SPLIT)
def test_a_tiny_run_read_back_draws_the_same_figures_without_a_model(name, tmp_path):
    """The run's own figures come from the function a saved run is drawn with, on the same numbers:
    the tiny run saved to results.json and loaded (no model, no live data) gives identical PNGs."""
    import torch

    from tests.test_snapshots import TINY
    torch.set_num_threads(1)
    module, cfg = TINY[name]()
    result = module.run(cfg, seed=0, progress=False)
    assert set(result.figures) == FIGURES[name]
    loaded = ExperimentResult.load(result.save(tmp_path / name, figures=False))
    assert loaded.metrics == roundtrip(result.metrics)
    assert config_of(loaded).flat() == cfg.flat()
    drawn = saved_figures(loaded)
    assert set(drawn) == FIGURES[name]
    assert not [k for k, f in drawn.items() if is_missing(f)], "a new run stores every figure's data"
    for key, fig in drawn.items():
        assert _png(fig) == _png(result.figures[key]), f"{name}: figure {key} differs once saved"


@pytest.mark.parametrize("name", ["nbmota", "curie_weiss"])
def test_a_scaled_down_run_of_a_builder_that_reads_the_config_is_redrawn(name, tmp_path):
    """A tiny run whose settings are consistent only together (nbmota: the horizons must be multiples
    of the record interval) is rebuilt from its record in one step, and draws every figure."""
    import torch

    from tests.test_snapshots import TINY
    torch.set_num_threads(1)
    module, cfg = TINY[name]()
    result = module.run(cfg, seed=0, progress=False)
    loaded = ExperimentResult.load(result.save(tmp_path / name, figures=False))
    assert config_of(loaded).flat() == cfg.flat()
    drawn = saved_figures(loaded)
    assert set(drawn) == set(result.figures) and not [k for k, f in drawn.items() if is_missing(f)]


@pytest.mark.parametrize("name", SAVED)
def test_a_saved_paper_run_draws_every_figure_its_metrics_allow(name):
    saved = saved_result(name, "paper")
    drawn = saved_figures(saved)
    assert set(drawn) == FIGURES[name]
    missing = {k for k, f in drawn.items() if is_missing(f)}
    assert missing == PREDATES.get(name, set())
    for key in missing:
        assert rerun_command(name) in drawn[key].missing
    for key in set(drawn) - missing:
        assert drawn[key].axes, f"{name}: figure {key} has no axes"


def test_figures_read_the_metrics_as_json_holds_them():
    """roundtrip: the metrics with JSON keys and types, 6 significant digits (what a save writes)."""
    m = {"a": {1400.0: [0.1234567891, float("nan")]}, "b": (1, 2)}
    assert roundtrip(m) == {"a": {"1400.0": [0.123457, None]}, "b": [1, 2]}
    assert json.loads(json.dumps(roundtrip(m))) == roundtrip(m)


def test_a_chapter_cell_shows_only_the_saved_figure_it_returns(tmp_path):
    """A captioned cell that calls saved_figures and returns one figure must not also auto-show the
    others: in the executed build every shown figure takes the cell's figure name, and duplicate
    names fail the -W build (nbval and the no-execution render cannot see this)."""
    import nbclient
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "%matplotlib inline\nfrom support.figures import saved_figures, show\n"
        "from support.results import saved_result\n"
        "figs = saved_figures(saved_result('curie_weiss'))\nshow(figs['coefficients'])")]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(__file__).resolve().parents[1])}}).execute()
    images = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
