"""What an experiment returns — numbers, the comparison with the paper, figures — and its provenance.

A result records what produced it: the scale and the differences from that scale's preset, the
device each part ran on, the torch thread count, the code version (git commit or package version),
the schema version of this file layout, the experiment's own version and a hash of the whole
configuration. Saved runs (``results/<scale>/<name>/results.json``) are compact: floats keep
6 significant digits, per-step curves are thinned by the experiments before they are stored.
"""

from __future__ import annotations

import json
import re
import math
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .provenance import SCHEMA_VERSION, code_version, describe_machine
from .scale import EXECUTION_ONLY
from .tables import Table

if TYPE_CHECKING:
    from .experiments.config import ExperimentConfig


def _jsonable(obj: Any, digits: int | None = None) -> Any:
    """Convert numpy/torch scalars and arrays (recursively) into plain JSON types; floats rounded
    to ``digits`` significant digits when given; non-finite floats become ``None``."""
    if isinstance(obj, Mapping):                   # dicts and read-only mappings of typed results
        return {str(k): _jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, digits) for v in obj]
    if hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), digits)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        if not math.isfinite(v):
            return None
        return float(f"{v:.{digits - 1}e}") if digits else v
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def dumps_compact(obj: Any, indent: int = 1, _level: int = 0) -> str:
    """JSON with one key per line (readable diffs) but every list of numbers on one line: a saved
    run's curves and per-unit samples take a line each instead of a line per number (the same data
    as ``json.dumps(obj, indent=1)``, less than half the bytes)."""
    pad, inner = " " * (indent * _level), " " * (indent * (_level + 1))
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(str(k))}: {dumps_compact(v, indent, _level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        if all(isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v) for v in obj):
            return "[\n" + ",\n".join(inner + json.dumps(v) for v in obj) + "\n" + pad + "]"
        return "[\n" + ",\n".join(inner + dumps_compact(v, indent, _level + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def fmt(x: Any, digits: int = 3) -> str:
    """Format a number for tables: scientific for small/large values, '—' for missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


@dataclass
class ExperimentResult:
    """The outcome of ``support.experiments.<name>.run``.

    ``metrics`` holds every number the chapter reports (JSON-able); ``comparison`` holds the rows
    of the closing table: measured value next to the paper's value (``paper``) or, where the book
    compares with its own theory, the predicted value (``predicted``), with a note.
    """

    name: str
    scale: str
    seed: int
    config: dict
    metrics: dict
    comparison: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
    machine: str = ""
    overrides: dict = field(default_factory=dict)
    devices: dict = field(default_factory=lambda: {"all": "cpu"})
    threads: int = field(default_factory=torch.get_num_threads)
    code_version: str = field(default_factory=code_version)
    config_hash: str = ""
    version: int = 1
    schema: int = SCHEMA_VERSION
    #: values derived from ``metrics`` by :meth:`cached` (never saved, never compared)
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per result and ``key``: a derived value that claims and chapter cells
        read many times (e.g. a bootstrap over stored paths). Keyed on this result object, so it
        cannot outlive it or serve another run; not part of the saved JSON."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def __post_init__(self) -> None:
        self.machine = self.machine or describe_machine(self.devices)
        # Close the figures so that notebook backends do not show them all at the end of the cell
        # that ran the experiment; a closed figure still renders when a chapter displays it.
        import matplotlib.pyplot as plt
        for fig in self.figures.values():
            plt.close(fig)

    @classmethod
    def of(cls, cfg: "ExperimentConfig", *, name: str, version: int, seed: int, metrics: dict,
           comparison: list[dict], figures: dict, started: float,
           devices: dict[str, str] | None = None, threads: int | None = None) -> "ExperimentResult":
        """The result of running ``cfg``: provenance (changes from the preset, config hash, code
        version, threads, devices) is filled in here, the same for chapters and the command line.
        ``started`` is the ``time.perf_counter()`` value taken when the run began; ``devices`` says
        where each part ran (default: all on the CPU); ``threads`` the torch threads it used
        (default: the current setting)."""
        return cls(name=name, scale=cfg.scale, seed=seed, config=cfg.flat(), metrics=metrics,
                   comparison=comparison, figures=figures, wall_time_s=time.perf_counter() - started,
                   overrides=cfg.changes_from_preset(), devices=dict(devices or {"all": "cpu"}),
                   config_hash=cfg.config_hash(), version=version,
                   threads=threads or torch.get_num_threads())

    # ------------------------------------------------------------------ persistence
    def to_json(self, digits: int | None = 6) -> dict:
        return _jsonable({"experiment": self.name, "schema": self.schema, "version": self.version,
                          "scale": self.scale, "seed": self.seed, "overrides": self.overrides,
                          "code_version": self.code_version, "config_hash": self.config_hash,
                          "wall_time_s": round(self.wall_time_s, 2), "machine": self.machine,
                          "devices": self.devices, "threads": self.threads, "config": self.config,
                          "metrics": self.metrics, "comparison": self.comparison}, digits)

    def save(self, out_dir: str | Path, dpi: int = 120, figures: bool = True) -> Path:
        """Write ``out_dir/results.json`` (compact) and, if ``figures``, ``out_dir/<figure>.png``;
        returns the JSON path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "results.json"
        path.write_text(dumps_compact(self.to_json()) + "\n")
        if figures:
            for name, fig in self.figures.items():
                fig.savefig(out / f"{name}.png", dpi=dpi, bbox_inches="tight")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ExperimentResult":
        """Read a ``results.json`` written by :meth:`save` (figures are not restored). Files of an
        older schema load with what they have; :func:`staleness` says what is out of date."""
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        return cls.from_dict(json.loads(path.read_text()), where=str(path))

    @classmethod
    def from_dict(cls, data: dict, where: str = "the data") -> "ExperimentResult":
        """A result from the JSON dictionary :meth:`save` writes. Execution-only settings recorded by
        older runs (``workers``, ``threads``: :data:`~support.scale.EXECUTION_ONLY`) are dropped from
        the overrides: they do not change what a run computes."""
        missing = {"experiment", "scale", "seed", "config", "metrics"} - set(data)
        if missing:
            raise ValueError(f"{where} is not an experiment result: missing {sorted(missing)}")
        return cls(name=data["experiment"], scale=data["scale"], seed=data["seed"], config=data["config"],
                   metrics=data["metrics"], comparison=data.get("comparison", []),
                   wall_time_s=data.get("wall_time_s", 0.0), machine=data.get("machine", "unknown"),
                   overrides={k: v for k, v in data.get("overrides", {}).items() if k not in EXECUTION_ONLY},
                   devices=data.get("devices", {"all": "unknown"}),
                   threads=data.get("threads", 0), code_version=data.get("code_version", "unknown"),
                   config_hash=data.get("config_hash", ""), version=data.get("version", 0),
                   schema=data.get("schema", 1))

    # ------------------------------------------------------------------ tables
    def provenance(self) -> str:
        """One sentence: scale (and changes), seed, wall time, machine, threads, code version."""
        # runs saved before the threads had their own field wrote them into the machine as well
        machine = re.sub(r",\s*torch threads = \d+\s*$", "", self.machine)
        threads = ("" if not self.threads
                   else f", {self.threads} torch thread{'s' if self.threads != 1 else ''}")
        return (f"{self.scale} scale{self.changes()} · seed {self.seed} · {self.wall_time_s:.0f} s on "
                f"{machine}{threads} · code {self.code_version}")

    def table(self) -> Table:
        """The comparison table (measured vs the paper, or vs the book's own prediction)."""
        has_paper = any("paper" in r for r in self.comparison)
        has_pred = any("predicted" in r for r in self.comparison)
        headers = ["quantity", "measured"] + (["paper"] if has_paper else []) + \
                  (["predicted (theory)"] if has_pred else []) + ["note"]
        rows = []
        for r in self.comparison:
            rows.append([r["quantity"], fmt(r.get("measured"))]
                        + ([fmt(r.get("paper"))] if has_paper else [])
                        + ([fmt(r.get("predicted"))] if has_pred else []) + [r.get("note", "")])
        return Table(headers, rows, caption=f"Measured: {self.provenance()}.")

    def table_text(self) -> str:
        """The comparison table as aligned plain text (for the command line)."""
        return f"{self.name} — {self.table()}"

    def changes(self) -> str:
        """`` with changes a=1, b=[..]`` when the run differs from its scale's preset today, else ``""``:
        the changes recorded when it ran that are still changes, then every other field in which it
        differs from today's preset (:meth:`preset_drift`: a preset changed since the run, e.g. a new
        default precision)."""
        preset = self._current_preset()
        recorded = {k: v for k, v in self.overrides.items()
                    if preset is None or k not in preset or preset[k] != _jsonable(v, 6)}
        changed = {**recorded, **self.preset_drift()}
        if not changed:
            return ""
        return " with changes " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in changed.items())

    def preset_drift(self) -> dict[str, Any]:
        """``{"field": value this run had}`` for every field, not among its recorded changes, in which
        it differs from its experiment's current preset of its scale (both as a saved run stores them,
        floats to 6 digits; fields added to the config since the run are not compared; ``{}`` for a
        result that names no experiment, e.g. a test's)."""
        from .scale import EXECUTION_ONLY
        preset = self._current_preset()
        if preset is None:
            return {}
        return {k: v for k, v in self.config.items()
                if k in preset and k != "scale" and k not in self.overrides and k not in EXECUTION_ONLY
                and preset[k] != _jsonable(v, 6)}

    def _current_preset(self) -> dict[str, Any] | None:
        """Today's preset of this run's experiment and scale, flat and rounded as a saved run stores
        it; ``None`` when the result names no experiment or scale."""
        from .experiments import EXPERIMENTS, load
        from .scale import SCALES
        if self.name not in EXPERIMENTS or self.scale not in SCALES:
            return None
        # built once per result: every provenance line (tables, captions) asks for it twice
        return self.cached(("current preset",),
                           lambda: _jsonable(load(self.name).Config.for_scale(self.scale).flat(), 6))


#: where saved runs are kept in the repository (``results/<scale>/<experiment>/``)
SAVED_RESULTS = Path(__file__).resolve().parents[1] / "results"


def saved_path(name: str, scale: str = "paper") -> Path:
    """``results/<scale>/<name>/results.json`` in the repository."""
    return SAVED_RESULTS / scale / name / "results.json"


def saved_result(name: str, scale: str = "paper") -> ExperimentResult | None:
    """The run of experiment ``name`` at ``scale`` saved in the repository (written by
    ``python -m support run NAME --scale SCALE --out results/SCALE/NAME``), or ``None``."""
    path = saved_path(name, scale)
    return ExperimentResult.load(path) if path.is_file() else None


#: earlier paper-scale runs kept as evidence after their experiment's preset changed
ARCHIVE = SAVED_RESULTS / "archive"


def archived_result(name: str, label: str) -> ExperimentResult:
    """An earlier saved run of experiment ``name`` kept in ``results/archive/<name>-<label>/`` after
    the experiment's paper preset changed (its version is older than the code's; its configuration
    is what it ran with). Chapters show such a run as what it is: evidence about the old settings."""
    path = ARCHIVE / f"{name}-{label}" / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"no archived run at {path}")
    result = ExperimentResult.load(path)
    if result.name != name:
        raise ValueError(f"{path} holds a run of {result.name}, not {name}")
    return result


#: paper-scale runs of an experiment's current code with recorded changes to its preset (an ablation
#: a chapter discusses beside its saved run): ``results/variants/<name>-<label>/results.json``
VARIANTS = SAVED_RESULTS / "variants"


def variant_result(name: str, label: str) -> ExperimentResult | None:
    """The saved variant ``label`` of experiment ``name`` (written by ``python -m support run NAME
    --scale paper --set ... --out results/variants/NAME-LABEL``), or ``None`` when it is not saved yet.
    Its :meth:`ExperimentResult.provenance` names the changes; a file holding another experiment's run
    is an error."""
    if not label or "/" in label:
        raise ValueError(f"a variant label is a plain name, got {label!r}")
    path = VARIANTS / f"{name}-{label}" / "results.json"
    if not path.is_file():
        return None
    result = ExperimentResult.load(path)
    if result.name != name:
        raise ValueError(f"{path} holds a run of {result.name}, not {name}")
    return result


def diagnostic(name: str) -> dict:
    """The JSON a diagnostic script wrote to ``results/diagnostics/<name>.json`` (same layout as a
    benchmark's: machine, date, code version, options, results); ``name`` is the script's name or
    starts with it (one script may write several files, e.g. ``lj_label_noise_raw_cg``)."""
    path = SAVED_RESULTS / "diagnostics" / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no diagnostic results at {path}; write them with `python scripts/{name}.py`")
    data = json.loads(path.read_text())
    script = data.get("benchmark")
    if not script or not name.startswith(script) or "results" not in data:
        raise ValueError(f"{path} is not the output of a script in scripts/ named like {name}")
    return data


def staleness(result: ExperimentResult, expected_version: int) -> list[str]:
    """Why a saved ``result`` is out of date: an older file schema, or an older experiment version
    than the code that reads it expects (empty list: current)."""
    reasons = []
    if result.schema < SCHEMA_VERSION:
        reasons.append(f"file schema {result.schema} < {SCHEMA_VERSION}")
    if result.version < expected_version:
        reasons.append(f"experiment version {result.version} < {expected_version} (the code changed "
                       f"what this experiment computes since the run)")
    return reasons


# ------------------------------------------------------------------------------ benchmarks
#: where the benchmarks in ``benchmarks/`` write their machine-readable results (tracked in git)
BENCHMARK_RESULTS = SAVED_RESULTS / "benchmarks"


def benchmark_path(name: str) -> Path:
    """``results/benchmarks/<name>.json`` in the repository."""
    return BENCHMARK_RESULTS / f"{name}.json"


def save_benchmark(name: str, results: dict, *, options: dict, wall_time_s: float,
                   device: str = "cpu", threads: int | None = None, out: str | Path | None = None) -> Path:
    """Write a benchmark's results with what produced them: the machine, the torch thread count,
    the date, the code version, the options it ran with and the machine's load average when it
    finished (other work on a shared machine inflates times). Returns the path written."""
    import datetime
    import os
    import platform
    path = Path(out) if out else benchmark_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"benchmark": name, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "code_version": code_version(), "machine": describe_machine({"all": device}),
            "processor": platform.processor() or platform.machine(), "device": device,
            "threads": threads or torch.get_num_threads(), "torch": torch.__version__,
            "options": options, "wall_time_s": round(wall_time_s, 1),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "results": results}
    path.write_text(json.dumps(_jsonable(blob, 6), indent=1) + "\n")
    return path


def benchmark(name: str) -> dict:
    """The results a benchmark wrote to ``results/benchmarks/<name>.json`` (what chapters quote);
    a clear error naming the command that writes it when the file is missing."""
    path = benchmark_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark results at {path}; write them with "
                                f"`python benchmarks/{name}.py` from the repository root")
    data = json.loads(path.read_text())
    if data.get("benchmark") != name or "results" not in data:
        raise ValueError(f"{path} is not the output of benchmarks/{name}.py")
    return data
