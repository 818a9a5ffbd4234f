"""Project machinery that can be checked offline: env files, book config, CLI."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines, platform="linux"):
    """name -> pinned version of the `name==version` lines whose marker holds on `platform`."""
    from packaging.requirements import Requirement
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"sys_platform": platform}):
            continue
        m = re.fullmatch(r"==([^\s,]+)", str(req.specifier))
        if m:
            out[req.name.lower()] = m.group(1)
    return out


def test_environment_yml_pins_equal_requirements():
    text = (ROOT / "requirements.txt").read_text()
    req = _pins(text.splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert req["torch"] == "2.13.0+cpu"                    # CPU-only build: README install and Binder
    assert _pins(pip) == req
    cpu_index = "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert cpu_index in text.splitlines() and cpu_index in pip
    assert _pins(text.splitlines(), platform="darwin")["torch"] == "2.13.0"   # no +cpu wheels for macOS


def test_pyproject_torch_pin_accepts_the_cpu_build():
    import tomllib
    from packaging.requirements import Requirement
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(Requirement(d) for d in deps if Requirement(d).name == "torch")
    assert torch.specifier.contains("2.13.0+cpu") and torch.specifier.contains("2.13.0")


def test_postbuild_installs_support_and_jupytext_viewer():
    text = (ROOT / "postBuild").read_text()
    assert "pip install --no-deps -e ." in text and "Jupytext Notebook" in text
    assert (ROOT / "postBuild").stat().st_mode & 0o111


def test_toc_lists_existing_chapters_with_jupytext_headers():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in files:
        path = ROOT / f"{f}.md"
        assert path.exists(), f
    chapters = [ROOT / f"{f}.md" for f in files[1:] if f != "book/references"]   # back matter: no code
    assert all(p.read_text().startswith("---\njupytext:") for p in chapters)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "force"


def test_chapters_assert_claims_and_never_skip_cells():
    for path in (ROOT / "book").glob("*.md"):
        text = path.read_text()
        if not text.startswith("---\njupytext:"):
            continue
        # claims are checked in a hidden cell: the experiment's declared claims (check_results) or asserts
        assert "remove-cell" in text and ("check_results(" in text or "assert " in text), path.name
        assert "skip-execution" not in text and "nbval-skip" not in text, path.name
        assert "sys.path" not in text, path.name


def test_cli_lists_experiments_and_rejects_unknown():
    out = subprocess.run([sys.executable, "-m", "support", "list"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert "theory" in out
    bad = subprocess.run([sys.executable, "-m", "support", "run", "no_such_system"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "unknown experiment" in bad.stderr
    bad_set = subprocess.run([sys.executable, "-m", "support", "run", "theory", "--set", "n_draws"],
                             capture_output=True, text=True, cwd=ROOT)
    assert bad_set.returncode == 2 and "FIELD=VALUE" in bad_set.stderr


def test_unknown_scale_is_rejected(monkeypatch):
    from support import scale
    monkeypatch.setenv(scale.ENV_VAR, "huge")
    try:
        scale.current_scale()
    except ValueError as e:
        assert "quick" in str(e)
    else:
        raise AssertionError("unknown scale accepted")


def test_every_registered_system_builds_and_unknown_names_raise():
    import pytest
    from support.stochastic.protocol import is_patch_dynamics
    from support.systems import SYSTEMS, DeterministicSystem, StochasticSystem, capabilities, get_system
    needs = {"ising": {"T": 2.5}, "curie_weiss": {"T": 1.2}, "nbmota": {"T": 2000.0}}   # no default T
    for name in SYSTEMS:
        system, caps = get_system(name, **needs.get(name, {})), capabilities(name)
        if "forces" in caps:                                   # paper 1's protocol
            assert isinstance(system, DeterministicSystem) and system.state_dim > 0
        if "patch_evolution" in caps:                          # paper 2's protocol, torch or hooks
            assert isinstance(system, StochasticSystem) or is_patch_dynamics(system)
            assert (system.n_observables > 0 if isinstance(system, StochasticSystem)
                    else callable(getattr(system, "observables", None)))
        assert caps
    assert capabilities("predator_prey") == {"forces"}
    for name in ("spde_predator_prey", "ising", "curie_weiss", "nbmota"):
        assert capabilities(name) == {"patch_evolution"}
    with pytest.raises(ValueError, match="choose one of"):
        get_system("ising", T=2.5, boundary="open")
    with pytest.raises(ValueError):
        get_system("curie_weiss", T=-1.0)
    with pytest.raises(ValueError, match="choose one of"):
        get_system("nbmota", T=2000.0, upsampling="interpolate")
    with pytest.raises(ValueError, match="choose one of"):
        get_system("lenard_jones")


def test_a_user_system_registers_by_name():
    from support.systems import SYSTEMS, get_system, register
    register("my_linear", "support.systems.linear", "LinearBlockSystem")
    try:
        assert get_system("my_linear").state_dim > 0
    finally:
        SYSTEMS.pop("my_linear")


def test_results_round_trip_through_json_and_bad_files_raise(tmp_path):
    from support.results import ExperimentResult
    r = ExperimentResult("demo", "quick", 3, {"a": 1}, {"err": 0.5},
                         [{"quantity": "error", "measured": 0.5, "paper": 0.4, "note": "n"}], wall_time_s=2.0)
    r.save(tmp_path)
    back = ExperimentResult.load(tmp_path)
    assert (back.name, back.scale, back.seed, back.metrics, back.comparison) == \
        ("demo", "quick", 3, {"err": 0.5}, r.comparison)
    assert back.machine == r.machine and "quick scale" in str(back.table())
    assert "<table" in back.table()._repr_html_() and back.code_version == r.code_version
    with pytest.raises(FileNotFoundError):
        ExperimentResult.load(tmp_path / "nowhere")
    (tmp_path / "bad.json").write_text('{"experiment": "x"}')
    with pytest.raises(ValueError, match="missing"):
        ExperimentResult.load(tmp_path / "bad.json")


def test_config_overrides_apply_to_nested_fields_and_are_named_in_the_tables(tmp_path):
    from support.experiments import apply_overrides, run_experiment
    from support.experiments.lj_structures import Config
    cfg = apply_overrides(Config.for_scale("paper"),
                          {"structures": '["mlp"]', "ensemble": "4", "ae.steps": "50", "ae.encoder": "invariant"})
    assert cfg.structures == ("mlp",) and cfg.ensemble == 4 and cfg.ae.steps == 50 and cfg.ae.encoder == "invariant"
    assert cfg.n_atoms == 800                                        # the rest of the preset is untouched
    with pytest.raises(ValueError, match="unknown config field 'ensembel'"):
        apply_overrides(cfg, {"ensembel": "3"})
    with pytest.raises(ValueError, match="no sub-fields"):
        apply_overrides(cfg, {"ensemble.size": "3"})
    result = run_experiment("theory", scale="quick", out=tmp_path, progress=False, overrides={"n_draws": "200"})
    assert "with changes `n_draws=200`" in result.table()._repr_markdown_()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["overrides"] == {"n_draws": 200} and saved["scale"] == "quick"


def test_every_cited_key_is_in_the_bibliography():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book/references.bib").read_text(), re.M))
    assert {"chen2024macroscopic", "chen2025scalable", "code2024partial", "code2025scalable"} <= keys
    for path in (ROOT / "book").glob("*.md"):
        for group in re.findall(r"\{cite(?::[a-z]+)*\}`([^`]+)`", path.read_text()):
            cited = {k.strip() for k in group.split(",")}
            assert cited <= keys, (path.name, cited - keys)


def test_ci_installs_exactly_as_the_readme_says():
    """.ci/run must run the README's install (a green CI must not hide a different install step)."""
    first = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].splitlines()[0]
    install = re.search(r"pip install (.*?-e \.)", first).group(1)
    assert f"pip install -q {install}" in (ROOT / ".ci" / "run").read_text()
    assert "--retries 1" in install and "-r requirements.txt" in install
