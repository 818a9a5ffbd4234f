"""Every figure is a function of the saved result.

Each experiment draws its figures from what its result stores — ``metrics`` and the configuration it
ran with — never from a live model, so a chapter draws the saved paper-scale run's figures with the
same function as its own quick run's, and the two cannot diverge::

    from support.figures import saved_figures
    figs = saved_figures(saved_result("predator_prey"))       # {"error_vs_budget": Figure, ...}

The contract of an experiment module (``support.experiments.<name>``): ``figures(metrics, cfg)``
returns ``{name: Figure}`` from ``metrics`` (JSON-shaped: what ``results.json`` holds) and the run's
``Config``; its ``run`` makes its own figures by calling it. Modules whose builder is still named
``_figures(cfg, metrics)`` are called the same way. A saved run written before a figure's data was
stored gets a placeholder figure (:func:`missing_figure`) that says so and names the command that
redraws it — nothing is filled in.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import matplotlib.pyplot as plt

from .results import ExperimentResult


#: the most points a stored figure curve keeps along its time axis (first and last kept)
MAX_POINTS = 200


def thin_index(n: int, max_points: int = MAX_POINTS) -> list[int]:
    """At most ``max_points`` evenly spaced indices into ``range(n)``, first and last included: the
    frames a stored figure curve keeps (the same ones for every curve of that axis)."""
    if n < 1:
        return []
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    if n <= max_points:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})


def thinned(values, index: list[int]) -> list:
    """``values[index]`` along the first axis, as nested lists (numpy, torch or lists)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    import numpy as np
    return np.asarray(values)[index].tolist()


def rerun_command(name: str, scale: str = "paper") -> str:
    """The command that writes the saved run of ``name`` at ``scale`` again."""
    return f"python -m support run {name} --scale {scale} --out results/{scale}/{name}"


def missing_text(name: str, what: str, scale: str = "paper") -> str:
    """The sentence a placeholder shows: which data the run did not store and how to get it."""
    return (f"This saved run of {name} predates stored {what}; rerun with "
            f"`{rerun_command(name, scale)}` to draw it.")


def missing_figure(name: str, what: str, title: str = "", scale: str = "paper", width: float = 6.0,
                   height: float = 1.4):
    """A figure that says it cannot be drawn: the saved run of ``name`` did not store ``what``.
    ``fig.missing`` holds the sentence (chapters and tests read it)."""
    fig = plt.figure(figsize=(width, height))
    text = missing_text(name, what, scale)
    fig.text(0.5, 0.5, (f"{title}\n" if title else "") + _wrap(text, 90), ha="center", va="center",
             fontsize=9, color="0.25", wrap=True)
    fig.missing = text
    plt.close(fig)
    return fig


def is_missing(fig) -> bool:
    """Whether ``fig`` is a placeholder from :func:`missing_figure`."""
    return bool(getattr(fig, "missing", None))


def _wrap(text: str, width: int) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False))


def config_of(result: ExperimentResult):
    """The ``Config`` a (saved) result ran with: its scale's preset with every field the result
    recorded set to the recorded value (fields added since keep their default; fields since removed
    are ignored)."""
    from .experiments import load
    from .experiments.config import apply_overrides
    module = load(result.name)
    cfg = module.Config.for_scale(result.scale)
    known = cfg.flat()
    recorded = {k: json.dumps(v) for k, v in result.config.items() if k in known and k != "scale"
                and v != known[k]}
    return apply_overrides(cfg, recorded)


def figures_function(name: str):
    """The module-level function that draws experiment ``name``'s figures from (metrics, cfg)."""
    from .experiments import load
    module = load(name)
    fn = getattr(module, "figures", None) or getattr(module, "_figures", None)
    if fn is None:
        raise AttributeError(f"{module.__name__} has no figures function")
    return fn


def draw(name: str, metrics: dict, cfg: Any) -> dict:
    """Experiment ``name``'s figures from ``metrics`` and its ``cfg`` (whichever argument order and
    arity its figure function has)."""
    fn = figures_function(name)
    params = list(inspect.signature(fn).parameters)
    if fn.__name__ == "_figures" and params and params[0] in ("cfg", "config"):
        return fn(cfg, metrics) if len(params) > 1 else fn(cfg)
    return fn(metrics, cfg) if len(params) > 1 else fn(metrics)


def saved_figures(result: ExperimentResult) -> dict:
    """Every figure of a (saved) result, drawn from its stored metrics and configuration alone;
    figures whose data it did not store are placeholders that say so (:func:`is_missing`).

    The figures are closed (as :class:`~support.results.ExperimentResult` closes a run's), so a
    notebook cell shows only the one it returns: a cell with a figure caption and name that also
    auto-showed the others would give the book duplicate figure labels (an error under ``-W``)."""
    figs = draw(result.name, result.metrics, config_of(result))
    for fig in figs.values():
        plt.close(fig)
    return figs


def show(fig):
    """What a chapter cell returns to show one figure of a saved run: the figure, or — for a
    placeholder — ``None`` after printing its sentence (a cell with a figure caption then shows the
    sentence and no empty captioned figure)."""
    if is_missing(fig):
        print(fig.missing)
        return None
    return fig


def roundtrip(metrics: dict) -> dict:
    """``metrics`` as a saved run holds them (JSON types and keys, 6 significant digits): what a
    run's own figures are drawn from, so that they are the saved run's figures exactly."""
    from .results import _jsonable
    return json.loads(json.dumps(_jsonable(metrics, 6)))
