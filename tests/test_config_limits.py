"""Out-of-range settings fail before any work: one line on stderr, exit code 2 (issue 28).

A value of the right type but outside what an experiment can run with (``--set n_draws=-5``,
``ps=[]``) used to pass the up-front type check and crash minutes later with a traceback (exit 1).
Each ``Config`` now declares ``LIMITS`` (support.limits.Limit), checked whenever a config
is made or changed, and ``prepare`` also runs a module's own pre-run ``_check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.experiments import EXPERIMENTS, load, prepare
from support.experiments.config import AT_LEAST_ONE, FRACTION, Limit, apply_overrides, each

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "support", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)


def _one_line_exit_2(out, msg):
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert msg in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("setting, msg", [
    ("n_draws=-5", "n_draws must be >= 1, got -5"),
    ("n_draws=0", "n_draws must be >= 1, got 0"),
    ("ps=[]", "ps must have at least one value, got none"),
    ("ps=[2.0]", "every value of ps must be in (0, 1], got 2.0"),
])
def test_command_line_rejects_out_of_range_values_in_one_line(setting, msg, support_cli):
    _one_line_exit_2(support_cli("run", "theory", "--no-progress", "--set", setting), msg)


def test_the_real_command_rejects_an_out_of_range_value_before_work():
    """The interpreter's own exit status and stderr; the other cases run ``main`` in-process."""
    _one_line_exit_2(_cli("run", "ising", "--set", "closure.steps=0"), "closure.steps must be >= 1, got 0")


def test_command_line_range_checks_reach_other_experiments_and_nested_configs(support_cli):
    _cli = support_cli
    _one_line_exit_2(_cli("run", "predator_prey", "--set", "ps=[0.5, 0]"), "every value of ps must be in (0, 1]")
    _one_line_exit_2(_cli("run", "lj_structures", "--set", "ae.steps=0"), "ae.steps must be >= 1, got 0")
    _one_line_exit_2(_cli("run", "curie_weiss", "--set", "test_paths=1"), "test_paths must be >= 2, got 1")
    _one_line_exit_2(_cli("run", "stochastic_predator_prey", "--set", "lambda_factors=[0]"),
                     "every value of lambda_factors must be > 0")
    _one_line_exit_2(_cli("run", "allen_cahn", "--set", "p=0"), "p must be in (0, 1], got 0")
    _one_line_exit_2(_cli("run", "ising", "--set", "closure.steps=0"), "closure.steps must be >= 1, got 0")
    # experiments whose ranges were only their own pre-run checks, and the SDE settings every lattice study nests
    _one_line_exit_2(_cli("run", "ising_criticality", "--set", "n_snapshots=-5"), "n_snapshots must be >= 1, got -5")
    _one_line_exit_2(_cli("run", "nbmota", "--set", "pairs_per_T=0"), "pairs_per_T must be >= 1, got 0")
    _one_line_exit_2(_cli("run", "curie_weiss", "--set", "sde.steps=0"), "sde.steps must be >= 1, got 0")
    # a module's own pre-run check (upsampling: L a power-of-two multiple of L_small) runs before work too
    _one_line_exit_2(_cli("run", "upsampling", "--set", "L=50"), "must be L_small = 16 times a power of two")


def test_range_errors_come_from_the_config_itself():
    from support.experiments import theory
    cfg = theory.Config.for_scale("quick")
    for bad, msg in [({"n_draws": "-5"}, "n_draws must be >= 1"), ({"ps": "[]"}, "at least one value"),
                     ({"ps": "[0.5, 2.0]"}, "in \\(0, 1\\], got 2.0"), ({"kappas": "[0.5]"}, ">= 1")]:
        with pytest.raises(ValueError, match=msg):
            apply_overrides(cfg, bad)
    with pytest.raises(ValueError, match="n_draws must be >= 1"):
        theory.Config(n_draws=0)
    assert apply_overrides(cfg, {"n_draws": "1", "ps": "[1.0]"}).n_draws == 1      # the edges are allowed


def test_limit_semantics():
    assert AT_LEAST_ONE.problem("n", 1) is None and "got 0" in AT_LEAST_ONE.problem("n", 0)
    assert FRACTION.problem("p", 1.0) is None and FRACTION.problem("p", 0.0) is not None
    assert Limit(lo=0, hi=1, hi_open=True).problem("r", 1.0) is not None
    assert AT_LEAST_ONE.problem("n", None) is None                        # "X | None" fields: None passes
    assert AT_LEAST_ONE.problem("n", float("nan")) is not None
    assert AT_LEAST_ONE.problem("hidden", ()) is None                     # an empty tuple is fine unless each()
    assert each(AT_LEAST_ONE).problem("sizes", ()) == "sizes must have at least one value, got none"


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_preset_is_within_its_limits(name):
    module = load(name)
    module.Config.check_presets()                   # LIMITS name real fields
    for scale in ("quick", "paper"):
        prepare(name, scale=scale)                  # builds the preset: LIMITS and the module's _check
