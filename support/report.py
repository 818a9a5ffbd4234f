"""The closing section every chapter shows, and the checks its hidden cell runs.

:func:`show_results` displays what the chapter's own run measured next to the paper, its claims
(claim · paper · measured · holds?), and the same two tables for the paper-scale run saved in the
repository. :func:`check_results` asserts every claim at the scale it is stated for, on both runs,
and that the saved run is current — so nbval fails when a claim breaks at either scale.
"""

from __future__ import annotations

from .claims import assert_claims, claims_table
from .results import ExperimentResult, saved_result, staleness
from .tables import Table


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue`` for the numbers a chapter's prose quotes, with numpy and torch scalars turned
    into Python ones first. A glued ``np.float64`` reaches the page as the text
    ``np.float64(-0.57)``, which ``{glue:text}`name:.2f``` cannot format: the executed build then
    warns (fatal under ``-W``) while nbval, which does not render, stays green."""
    import myst_nb

    myst_nb.glue(name, plain_scalar(value), display=display)


def plain_scalar(value):
    """``value`` as a Python scalar if it is a numpy scalar, a 0-d array or a 0-d tensor; else as is."""
    if hasattr(value, "ndim") and getattr(value, "ndim") == 0 and hasattr(value, "item"):
        return value.item()
    return value


def _module(name: str):
    from .experiments import load
    return load(name)


def saved_run_note(name: str, scale: str = "paper") -> str:
    """Markdown: where the saved run comes from, whether it is current, or how to produce it."""
    module = _module(name)
    saved = saved_result(name, scale)
    cmd = f"`python -m support run {name} --scale {scale} --out results/{scale}/{name}`"
    if saved is None:
        return f"No {scale}-scale run of `{name}` is saved in the repository yet; produce it with {cmd}."
    stale = staleness(saved, getattr(module, "VERSION", 1))
    text = f"The {scale}-scale run saved in `results/{scale}/{name}/` ({cmd}): {saved.provenance()}."
    if stale:
        text += " **Out of date:** " + "; ".join(stale) + f". Rerun {cmd} to refresh it."
    return text


def show_results(result: ExperimentResult, *, saved_scale: str = "paper", title: str | None = None) -> None:
    """Display the chapter's closing tables: this run (measured vs paper, claims) and, when this
    run is not itself at ``saved_scale``, the saved ``saved_scale`` run of the same experiment."""
    from IPython.display import Markdown, display
    module = _module(result.name)
    claims = list(getattr(module, "CLAIMS", []))
    display(Markdown(f"**{title or 'This run'}** ({result.scale} scale)."))
    display(result.table())
    if claims:
        display(claims_table(result, claims))
    if result.scale == saved_scale:
        return
    display(Markdown(f"**The saved {saved_scale}-scale run.** " + saved_run_note(result.name, saved_scale)))
    saved = saved_result(result.name, saved_scale)
    if saved is not None:
        display(saved.table())
        if claims:
            display(claims_table(saved, claims))


def check_results(result: ExperimentResult, *, saved_scale: str = "paper",
                  require_saved: bool = True) -> None:
    """Assert the chapter's claims on ``result`` and on the saved ``saved_scale`` run (which must
    exist when ``require_saved``, and be current)."""
    module = _module(result.name)
    claims = list(getattr(module, "CLAIMS", []))
    assert_claims(result, claims)
    saved = saved_result(result.name, saved_scale)
    if saved is None:
        assert not require_saved, f"no saved {saved_scale}-scale run of {result.name}"
        return
    stale = staleness(saved, getattr(module, "VERSION", 1))
    assert not stale, f"saved {saved_scale}-scale run of {result.name} is out of date: {stale}"
    assert_claims(saved, claims)


def config_table(cfg) -> Table:
    """The settings of a run: every field with its value, marking those that differ from the preset
    of the config's scale (what a chapter shows instead of a raw dataclass repr)."""
    from .tables import Table
    changed = cfg.changes_from_preset()
    items = [(k, v) for k, v in cfg.flat().items() if k != "scale"]
    caption = f"Settings of this run ({cfg.scale} scale preset{', with changes' if changed else ''})."
    if not changed:                       # no third column that would be empty on every row
        return Table(["setting", "value"], [[f"`{k}`", _short(v)] for k, v in items], caption=caption)
    rows = [[f"`{k}`", _short(v), "**changed** from the preset" if k in changed else ""] for k, v in items]
    return Table(["setting", "value", "preset?"], rows, caption=caption)


def _short(v, width: int = 60) -> str:
    text = _plain_value(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain_value(v) -> str:
    """A setting in words: sequences as ``a, b``, mappings as ``key: value; …`` (no Python reprs)."""
    if isinstance(v, (list, tuple)):
        return ", ".join(f"({_plain_value(x)})" if isinstance(x, (list, tuple, dict)) else str(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_plain_value(x)}" for k, x in v.items())
    return str(v)
