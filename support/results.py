"""What an experiment returns: numbers, the comparison with the paper, figures; saved as JSON/PNG."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def _jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays (recursively) into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def fmt(x: Any, digits: int = 3) -> str:
    """Format a number for tables: scientific for small/large values, '—' for missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,}"
    x = float(x)
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


@dataclass
class ExperimentResult:
    """The outcome of ``support.experiments.<name>.run``.

    ``metrics`` holds every number the chapter reports (JSON-able); ``comparison`` holds the rows
    of the closing table: measured value next to the paper's value, with a note.
    """

    name: str
    scale: str
    seed: int
    config: dict
    metrics: dict
    comparison: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
    machine: str = field(default_factory=lambda: _current_machine())
    overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Close the figures so that notebook backends do not show them all at the end of the cell
        # that ran the experiment; a closed figure still renders when a chapter displays it.
        import matplotlib.pyplot as plt
        for fig in self.figures.values():
            plt.close(fig)

    def to_json(self) -> dict:
        return _jsonable({"experiment": self.name, "scale": self.scale, "seed": self.seed,
                          "wall_time_s": round(self.wall_time_s, 2), "machine": self.machine,
                          "overrides": self.overrides, "config": self.config,
                          "metrics": self.metrics, "comparison": self.comparison})

    def save(self, out_dir: str | Path, dpi: int = 120) -> Path:
        """Write ``out_dir/results.json`` and ``out_dir/<figure>.png``; returns the JSON path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "results.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        for name, fig in self.figures.items():
            fig.savefig(out / f"{name}.png", dpi=dpi, bbox_inches="tight")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ExperimentResult":
        """Read a ``results.json`` written by :meth:`save` (figures are not restored)."""
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        data = json.loads(path.read_text())
        missing = {"experiment", "scale", "seed", "config", "metrics"} - set(data)
        if missing:
            raise ValueError(f"{path} is not an experiment result: missing {sorted(missing)}")
        return cls(name=data["experiment"], scale=data["scale"], seed=data["seed"], config=data["config"],
                   metrics=data["metrics"], comparison=data.get("comparison", []),
                   wall_time_s=data.get("wall_time_s", 0.0), machine=data.get("machine", "unknown"),
                   overrides=data.get("overrides", {}))

    def table_markdown(self) -> str:
        """The comparison table (measured vs paper) as Markdown, naming the scale."""
        lines = [f"Measured at the **{self.scale}** scale{self._changes()} (seed {self.seed}, "
                 f"{self.wall_time_s:.0f} s on {self.machine}), next to the paper's numbers.", "",
                 "| quantity | measured (this book) | paper | note |", "|---|---|---|---|"]
        for row in self.comparison:
            lines.append(f"| {row['quantity']} | {fmt(row.get('measured'))} | "
                         f"{fmt(row.get('paper'))} | {row.get('note', '')} |")
        return "\n".join(lines)

    def table_text(self) -> str:
        """The comparison table as aligned plain text (for the command line)."""
        rows = [("quantity", "measured", "paper", "note")] + [
            (r["quantity"], fmt(r.get("measured")), fmt(r.get("paper")), r.get("note", ""))
            for r in self.comparison]
        widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
        out = [f"{self.name} — scale {self.scale}{self._changes()}, seed {self.seed}, "
               f"{self.wall_time_s:.1f} s on {self.machine}"]
        for r in rows:
            out.append("  ".join(str(c).ljust(w) for c, w in zip(r[:3], widths)) + "  " + str(r[3]))
        return "\n".join(out)


    def _changes(self) -> str:
        """`` with changes a=1, b=[..]`` when the run overrode its scale's config, else ``""``."""
        if not self.overrides:
            return ""
        return " with changes " + ", ".join(f"`{k}={v}`" for k, v in self.overrides.items())


def _current_machine() -> str:
    from .scale import machine
    return machine()


#: where paper-scale runs are kept in the repository (``results/<scale>/<experiment>/``)
SAVED_RESULTS = Path(__file__).resolve().parents[1] / "results"


def saved_result(name: str, scale: str = "paper") -> ExperimentResult | None:
    """The run of experiment ``name`` at ``scale`` saved in the repository (written by
    ``python -m support run NAME --scale SCALE --out results/SCALE/NAME``), or ``None``."""
    path = SAVED_RESULTS / scale / name / "results.json"
    return ExperimentResult.load(path) if path.is_file() else None


def saved_table_markdown(name: str, scale: str = "paper") -> str:
    """The closing table of the saved ``scale`` run of ``name`` (see :func:`saved_result`), or a
    sentence saying that none is saved and how to produce it."""
    saved = saved_result(name, scale)
    if saved is None:
        return (f"No {scale}-scale run of this chapter is saved in the repository yet. Produce it with "
                f"`python -m support run {name} --scale {scale} --out results/{scale}/{name}` "
                f"(the chapter then shows its table here).")
    return saved.table_markdown()
