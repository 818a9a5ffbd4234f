"""The closure comparison of lj_structures (issue 26's decisive run): its commands are valid runs of
the paper preset, saved variants are read safely, and the error comparisons are the stated estimators."""

from __future__ import annotations

import math
import shlex

import numpy as np
import pytest

from support import results as results_module
from support.experiments import lj_closures, prepare
from support.results import saved_result, variant_result
from support.uncertainty import unpaired_log_ratio


def test_every_closure_command_is_a_valid_paper_run_with_its_changes():
    for label, c in lj_closures.CLOSURES.items():
        words = shlex.split(lj_closures.command(label))
        assert words[:5] == ["python", "-m", "support", "run", "lj_structures"]
        sets = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--set")
        _, cfg = prepare("lj_structures", scale="paper", overrides=sets)
        assert cfg.precision == "float32" and cfg.ensemble == 3 and tuple(cfg.structures) == ("mlp", "onsagernet")
        for key, value in c.changes:
            obj = cfg
            for part in key.split("."):
                obj = getattr(obj, part)
            assert (list(obj) if isinstance(obj, tuple) else obj) == value, (label, key)
        assert words[-1] == f"results/variants/lj_structures-{label}"
    with pytest.raises(ValueError, match="unknown closure 'adam'"):
        lj_closures.command("adam")


def test_variant_results_are_read_by_name_and_label(tmp_path, monkeypatch):
    saved = saved_result("lj_structures")
    monkeypatch.setattr(results_module, "VARIANTS", tmp_path)
    assert variant_result("lj_structures", "adam_l2_f32") is None          # not saved yet: None
    saved.save(tmp_path / "lj_structures-copy")
    assert variant_result("lj_structures", "copy").metrics == saved.metrics
    saved.save(tmp_path / "lj_scaling-copy")                               # another experiment's file
    with pytest.raises(ValueError, match="holds a run of lj_structures, not lj_scaling"):
        variant_result("lj_scaling", "copy")
    with pytest.raises(ValueError, match="plain name"):
        variant_result("lj_structures", "../paper")


def test_error_changes_are_unpaired_and_precision_changes_paired_by_seed():
    saved = saved_result("lj_structures")
    lx = lj_closures.errors(saved, "mlp", "lx")
    assert lx.tolist() == saved.metrics["results"]["paper"]["mlp"]["lx"]["same start"]["per_model"]
    assert lj_closures.errors(saved, "onsagernet", "lx", "uniform") is None     # no such ensemble
    assert lj_closures.error_change(saved, saved, "onsagernet", "lx", "uniform") is None
    # a run against itself: no change, Welch's interval of two identical samples
    e = lj_closures.error_change(saved, saved, "mlp", "lx")
    assert e.value == 0 and e == unpaired_log_ratio(lx, lx)
    # paired by seed: the same models give a point at 0; the spread is the float64 run's seed spread
    p, spread = lj_closures.precision_change(saved, saved, "mlp", "lz")
    assert (p.value, p.lo, p.hi) == (0, 0, 0)
    assert spread == pytest.approx(np.log(lj_closures.errors(saved, "mlp", "lz")).std(ddof=1))
    assert lj_closures.same_closure(saved, saved)


def test_tables_have_a_row_per_run_and_ensemble():
    saved = saved_result("lj_structures")
    noise = lj_closures.noise_table({"saved": saved})
    assert len(noise.rows) == 1 and noise.rows[0][1] == f"{saved.metrics['closure_diagnostics']['noise_ratio_T']:.3f}"
    errs = lj_closures.errors_table({"saved": saved})
    assert [r[2:4] for r in errs.rows] == [["MLP", "paper"], ["OnsagerNet", "paper"], ["MLP", "uniform"]]
    r = errs.rows[0][-1]
    gm = math.exp(np.mean(np.log(lj_closures.errors(saved, "mlp", "lz") / lj_closures.errors(saved, "mlp", "lx"))))
    assert r.startswith(f"{gm:.2f} [")
