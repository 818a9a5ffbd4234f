"""Claims as data, provenance of results, scale presets and the command line's input checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.claims import UNDECIDED, Claim, ClaimSet, assert_claims, claims_table, evaluate
from support.experiments import EXPERIMENTS, load, prepare
from support.experiments.config import OverrideError, apply_overrides
from support.provenance import SCHEMA_VERSION
from support.results import ExperimentResult, saved_result, staleness
from support.tables import Table

ROOT = Path(__file__).resolve().parents[1]
#: what a claim's measured text shows when it carries its uncertainty: an interval, a standard error or
#: noise, censored bounds, or the statement that the check is exact (round-off, a count)
INTERVAL_MARKS = ("[", "±", "s.e.", "noise", "round-off", "exact", "≤", ">")


def _result(scale="quick", value=1.0, overrides=None, metrics=None) -> ExperimentResult:
    return ExperimentResult("demo", scale, 0, {}, {"value": value, **(metrics or {})}, overrides=overrides or {})


def _claims() -> ClaimSet:
    claims = ClaimSet()

    @claims.add("positive", "value is positive", expect={"quick": True, "paper": True}, paper="> 0")
    def _(r):
        return r.metrics["value"] > 0, f"{r.metrics['value']:g}"

    @claims.add("big", "value exceeds 10", expect={"paper": False}, reason="the book's value is small")
    def _(r):
        return r.metrics["value"] > 10, f"{r.metrics['value']:g}"

    @claims.add("extra", "an optional column", expect={"paper": True})
    def _(r):
        return None if "extra" not in r.metrics else (True, "present")
    return claims


def test_claims_are_checked_at_the_scale_they_are_stated_for():
    claims = _claims()
    quick = evaluate(_result("quick"), claims)
    assert [v.expected for v in quick] == [True, None, None] and all(v.ok for v in quick)
    # at paper scale "big" is stated NOT to hold: it is checked as such
    with pytest.raises(AssertionError, match="extra"):           # missing data on a full run fails
        assert_claims(_result("paper"), claims)
    with pytest.raises(AssertionError, match="extra: not measured in this run — NOT A PASS"):
        assert_claims(_result("paper", overrides={"n": 1}), claims)   # ... and on a trimmed run too
    with pytest.raises(AssertionError, match="big: holds — UNEXPECTED"):  # reproducing the paper is noticed
        assert_claims(_result("paper", value=20.0, metrics={"extra": 1}), claims)
    with pytest.raises(AssertionError, match="positive: does not hold"):
        assert_claims(_result("quick", value=-1.0), claims)


def test_an_undecided_verdict_is_not_a_pass():
    """A claim stated to hold fails when the run's interval cannot decide it, trimmed run or not; it
    passes undecided only where the book declares it undecided at that scale, with the reason."""
    from support.uncertainty import Estimate, above

    def claims(expect):
        c = ClaimSet()

        @c.add("gain", "the gain exceeds 1", expect=expect, reason="too few seeds to decide")
        def _(r):
            e = Estimate.of_samples(r.metrics["gains"])
            return above(e, 1.0), e.describe()
        return list(c)

    straddles = ExperimentResult("demo", "paper", 0, {}, {"gains": [0.6, 1.5, 1.1]}, overrides={"n": 1})
    verdict, = evaluate(straddles, claims({"paper": True}))
    assert verdict.holds is None and not verdict.ok and "NOT A PASS" in verdict.status
    assert "[" in verdict.measured and "over 3 seeds" in verdict.measured      # the interval is shown
    with pytest.raises(AssertionError, match="gain: undecided by this run — NOT A PASS"):
        assert_claims(straddles, claims({"paper": True}))
    verdict, = assert_claims(straddles, claims({"paper": UNDECIDED}))      # declared undecided: passes
    assert verdict.status == "undecided by this run, as stated: too few seeds to decide"
    decided = ExperimentResult("demo", "paper", 0, {}, {"gains": [1.4, 1.5, 1.6]})
    with pytest.raises(AssertionError, match="gain: holds — UNEXPECTED .*stays undecided"):
        assert_claims(decided, claims({"paper": UNDECIDED}))                # a run that decides is noticed
    assert assert_claims(decided, claims({"paper": True}))[0].holds is True


def test_execution_only_settings_are_not_changes_from_the_preset():
    from support.experiments.predator_prey import Config
    cfg = apply_overrides(Config.for_scale("paper"), {"workers": "2"})
    assert cfg.workers == 2 and cfg.changes_from_preset() == {}
    saved = ExperimentResult.from_dict({"experiment": "demo", "scale": "paper", "seed": 0, "config": {},
                                             "metrics": {}, "overrides": {"workers": 2, "n": 3}})
    assert saved.overrides == {"n": 3}


def test_claim_declarations_are_validated():
    with pytest.raises(ValueError, match="unknown scales"):
        Claim("k", "t", lambda r: (True, ""), expect={"huge": True})
    with pytest.raises(ValueError, match="reason"):
        Claim("k", "t", lambda r: (True, ""), expect={"paper": False})
    with pytest.raises(ValueError, match="reason"):
        Claim("k", "t", lambda r: (True, ""), expect={"paper": UNDECIDED})
    with pytest.raises(ValueError, match="True, False or UNDECIDED"):
        Claim("k", "t", lambda r: (True, ""), expect={"paper": "maybe"})
    claims = ClaimSet()
    claims.add("a", "t", expect={})(lambda r: (True, ""))
    with pytest.raises(ValueError, match="duplicate"):
        claims.add("a", "t", expect={})(lambda r: (True, ""))
    with pytest.raises(KeyError, match="cannot read"):              # a renamed metric key fails fast
        evaluate(ExperimentResult("demo", "quick", 0, {}, {}), _claims())


def test_tables_render_as_html_markdown_and_text():
    t = Table(["claim", "holds?"], [["a < b", "**yes**"], ["`x|y`", "no"]], caption="Run: quick")
    html = t._repr_html_()
    assert "<table" in html and "<th>claim</th>" in html and "a &lt; b" in html
    assert "<strong>yes</strong>" in html and "<code>x|y</code>" in html and "Run: quick</p>" in html
    md = t._repr_markdown_()
    assert "| claim | holds? |" in md and "x\\|y" in md
    assert str(t).splitlines()[1].startswith("claim") and "**" not in str(t)
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        Table(["a", "b"], [["only one"]])
    assert "<table" in claims_table(_result(), _claims())._repr_html_()


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_has_valid_presets_claims_and_a_version(name, monkeypatch):
    module = load(name)
    module.Config.check_presets()
    assert isinstance(module.VERSION, int) and module.VERSION >= 1
    assert len(list(module.CLAIMS)) >= 2
    for scale in ("quick", "paper"):
        cfg = module.Config.for_scale(scale)
        assert cfg.scale == scale and cfg.changes_from_preset() == {}
    monkeypatch.setenv("MACRODYN_SCALE", "paper")
    assert module.Config.for_scale().scale == "paper"               # the environment variable is honoured
    assert prepare(name)[1].scale == "paper"
    monkeypatch.setenv("MACRODYN_SCALE", "huge")
    with pytest.raises(ValueError, match="unknown scale 'huge'; choose one of quick, paper"):
        module.Config.for_scale()


def test_overrides_are_typed_and_recorded_as_changes_from_the_preset():
    from support.experiments.lj_structures import Config
    cfg = apply_overrides(Config.for_scale("paper"), {"ensemble": "4", "structures": '["mlp"]', "p": "1"})
    assert cfg.changes_from_preset() == {"ensemble": 4, "structures": ["mlp"], "p": 1.0}
    assert cfg.config_hash() != Config.for_scale("paper").config_hash()
    for bad, msg in [({"ensemble": "abc"}, "expected int"), ({"ensemble": "2.5"}, "expected int"),
                     ({"structures": '"mlp"'}, "expected tuple"), ({"ae.steps": "true"}, "expected int"),
                     ({"nosuchfield": "1"}, "unknown config field"), ({"scale": '"paper"'}, "--scale")]:
        with pytest.raises(OverrideError, match=msg):
            apply_overrides(cfg, bad)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "support", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_the_real_command_exits_2_in_one_line_on_bad_input():
    """The interpreter's own exit status and stderr; the other cases run ``main`` in-process."""
    out = _cli("run", "theory", "--set", "n_draws=abc")
    assert out.returncode == 2 and "--set n_draws: expected int" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_command_line_rejects_bad_input_in_one_line_before_running(tmp_path, support_cli):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [(["run", "theory", "--set", "n_draws=abc"], {}, "--set n_draws: expected int"),
             (["run", "theory", "--set", "nosuchfield=1"], {}, "unknown config field 'nosuchfield'"),
             (["run", "theory", "--out", str(blocker / "sub")], {}, "--out"),
             (["run", "theory"], {"MACRODYN_SCALE": "huge"}, "unknown scale 'huge'"),
             (["run", "theory", "--workers", "2"], {}, "theory does not take --workers"),
             (["run", "predator_prey", "--workers", "2"], {}, "predator_prey sets its processes with --set workers=N"),
             (["run", "lj_structures", "--workers", "0"], {}, "--workers must be >= 1"),
             (["run", "lj_structures", "--models", str(blocker / "sub")], {}, "--models")]
    for args, env, msg in cases:
        out = support_cli(*args, env=env)
        assert out.returncode == 2 and msg in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    for args, msg in [(("run", "theory", "--scale", "huge"), "invalid choice: 'huge'"),
                      (("run", "theory", "--seed", "abc"), "invalid int value: 'abc'"), (("fly",), "invalid choice")]:
        out = support_cli(*args)
        assert out.returncode == 2 and msg in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_results_record_their_provenance(tmp_path):
    from support.experiments import theory
    cfg = apply_overrides(theory.Config.for_scale("quick"), {"n_draws": "100", "ae_snapshots": "600",
                                                             "ae_epochs": "1", "n_directions": "20"})
    r = theory.run(cfg, progress=False)
    assert all(v.holds is not None for v in evaluate(r, theory.CLAIMS))      # every claim reads it
    assert r.scale == "quick" and r.overrides == {"n_draws": 100, "ae_snapshots": 600, "ae_epochs": 1,
                                                  "n_directions": 20}
    assert r.threads == 1 and r.devices == {"all": "cpu"} and r.config_hash == cfg.config_hash()
    assert r.code_version.startswith(("git:", "support ")) and r.schema == SCHEMA_VERSION
    data = json.loads(r.save(tmp_path, figures=False).read_text())
    assert {"schema", "version", "code_version", "config_hash", "devices", "threads", "overrides"} <= set(data)
    assert not list(tmp_path.glob("*.png"))
    with pytest.raises(ValueError, match="disagrees"):
        theory.run(cfg, scale="paper")
    old = ExperimentResult.load(tmp_path)
    old.schema, old.version = 1, 0
    assert len(staleness(old, expected_version=1)) == 2


SAVED = sorted(p.parent.name for p in (ROOT / "results" / "paper").glob("*/results.json"))


def test_saved_paper_results_exist_for_the_chapters_that_show_them():
    assert {"predator_prey", "predator_prey_ordered", "sde_closure",
            "stochastic_predator_prey", "allen_cahn", "nbmota", "upsampling"} <= set(SAVED)


ARCHIVED = sorted(p.parent.name for p in (ROOT / "results" / "archive").glob("*/results.json"))


@pytest.mark.parametrize("entry", ARCHIVED)
def test_archived_runs_are_older_versions_and_still_read_by_their_claims(entry):
    """An archived run (results/archive/NAME-LABEL/) is an earlier version of its experiment, kept as
    evidence after the preset changed: its version is older than the code's, and the paper-scale
    claims the code states at paper scale still come out as declared on it (chapters show it as what it
    is)."""
    from support.results import archived_result
    name, _, label = entry.rpartition("-")
    module = load(name)
    old = archived_result(name, label)
    assert old.scale == "paper" and old.version < module.VERSION
    # an older version may lack what today's claims read, or leave them undecided; every claim it
    # does decide must come out as the chapter states it at paper scale
    verdicts = evaluate(old, list(module.CLAIMS))
    wrong = [f"{v.claim.key}: {v.status}" for v in verdicts if v.holds is not None and not v.ok]
    assert not wrong, wrong
    assert any(v.expected is not None and v.holds is not None for v in verdicts), "no claim checked"


@pytest.mark.parametrize("name", SAVED)
def test_saved_paper_results_are_current_and_agree_with_their_paper_scale_claims(name):
    """Every saved paper-scale run, checked against the claims its chapter states at paper scale:
    claims the book does not reproduce are checked to fail, as stated."""
    module = load(name)
    saved = saved_result(name, "paper")
    assert saved.scale == "paper" and saved.name == name
    assert not staleness(saved, module.VERSION), staleness(saved, module.VERSION)
    verdicts = assert_claims(saved, list(module.CLAIMS))
    assert any(v.expected is not None and v.holds is not None for v in verdicts), "no claim checked"
    # a decided verdict shows the interval or the noise it was judged against (or says it is exact)
    bare = [f"{v.claim.key}: {v.measured}" for v in verdicts if v.holds is not None
            and not any(mark in v.measured for mark in INTERVAL_MARKS)]
    assert not bare, bare
    # compact: 6 digits, thinned curves, no PNGs; since verdicts carry intervals a saved run also keeps
    # the per-path / per-chain samples its bootstraps resample (curie_weiss: 1.4 MB, the largest)
    assert (ROOT / "results" / "paper" / name / "results.json").stat().st_size < 1_500_000


def test_glued_numbers_reach_the_page_as_python_scalars(monkeypatch):
    """Chapters glue through support.report.glue: a numpy or torch scalar would be rendered as the
    text ``np.float64(...)``, which ``{glue:text}`name:.2f``` cannot format (a build warning that nbval
    does not see); arrays and strings pass unchanged."""
    import myst_nb
    import numpy as np
    import torch
    from support.report import glue

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: seen.__setitem__(name, (value, display)))
    glue("a", np.float64(-0.57))
    glue("b", torch.tensor(3))
    glue("c", np.array(2.5))
    glue("d", "text")
    glue("e", [1, 2])
    assert seen["a"] == (-0.57, False) and type(seen["a"][0]) is float
    assert type(seen["b"][0]) is int and type(seen["c"][0]) is float
    assert seen["d"][0] == "text" and seen["e"][0] == [1, 2]
    assert format(seen["a"][0], ".2f") == "-0.57"


def test_scorecard_counts_every_declared_claim_once():
    from support.scorecard import OUTCOMES, scorecard_counts, scorecard_rows, scorecard_table
    rows = scorecard_rows()
    assert len(rows) == sum(len(list(load(n).CLAIMS)) for n in EXPERIMENTS)
    assert len({(r.experiment, r.key) for r in rows}) == len(rows)
    counts = scorecard_counts(rows)
    assert set(counts) == set(OUTCOMES) and sum(counts.values()) == len(rows)
    assert all(r.outcome == "no saved run" for r in rows if r.measured == "—" and r.status == "no saved run")
    assert f"{counts['holds']} holds" in scorecard_table(rows).caption


def test_saved_results_are_written_compactly_and_read_back_unchanged(tmp_path):
    from support.results import dumps_compact
    data = {"a": [1.5, 2, None], "b": {"c": [[1, 2], [3, 4]], "d": [{"e": 1}], "f": []}, "g": "x"}
    text = dumps_compact(data)
    assert json.loads(text) == data
    assert '"a": [1.5, 2, null]' in text and "  [1, 2]," in text        # numbers stay on one line
    r = ExperimentResult("demo", "quick", 0, {}, {"curve": list(range(100))})
    path = r.save(tmp_path / "demo", figures=False)
    assert len(path.read_text().splitlines()) < 30 and ExperimentResult.load(path).metrics == r.metrics


def test_a_saved_run_names_the_fields_its_preset_changed_since():
    """The lj_structures paper preset trains in float32 since the float32/float64 comparison; its saved
    run trained in float64 before that, recorded no change, and its provenance must still say so."""
    from support.experiments.lj_structures import Config
    assert Config.for_scale("paper").precision == "float32" and Config.for_scale("quick").precision == "float64"
    saved = saved_result("lj_structures")
    assert saved.config["precision"] == "float64" and "precision" not in saved.overrides
    assert saved.preset_drift() == {"precision": "float64"}
    assert '`precision="float64"`' in saved.provenance()
    current = ExperimentResult(name="lj_structures", scale="paper", seed=0, metrics={},
                               config={**saved.config, "precision": "float32"}, overrides=saved.overrides)
    assert current.preset_drift() == {} and "precision" not in current.changes()
    # a change recorded when the run was made that the preset has since adopted is no change today
    adopted = ExperimentResult(name="lj_structures", scale="paper", seed=0, metrics={},
                               config={**saved.config, "precision": "float32"},
                               overrides={**saved.overrides, "precision": "float32"})
    assert "precision" not in adopted.changes() and "ensemble=5" in adopted.changes()
    assert ExperimentResult(name="no_such_experiment", scale="paper", seed=0, metrics={},
                            config={"x": 1}).preset_drift() == {}
