"""Every chapter's exercises name real config fields with values of the right type: the override
dicts printed in the Exercises sections are applied to the quick preset (nothing runs)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from support.experiments import load
from support.experiments.config import apply_overrides

BOOK = Path(__file__).resolve().parents[1] / "book"
CALL = re.compile(r"result = (\w+)\.run\(apply_overrides\([^,]+, (\{.*\})\)\)")
ALIAS = {"spp": "stochastic_predator_prey"}


def _exercises() -> list[tuple[str, str, dict]]:
    out = []
    for page in sorted(BOOK.glob("*.md")):
        text = page.read_text()
        if "## Exercises" not in text:
            continue
        section = text.split("## Exercises", 1)[1].split("\n## ", 1)[0]
        for module, overrides in CALL.findall(section):
            out.append((page.stem, ALIAS.get(module, module), ast.literal_eval(overrides)))
    return out


def test_every_experiment_chapter_has_two_or_three_exercises():
    per_chapter: dict[str, int] = {}
    for chapter, _, _ in _exercises():
        per_chapter[chapter] = per_chapter.get(chapter, 0) + 1
    chapters = {p.stem for p in BOOK.glob("*.md") if "## What this chapter measured" in p.read_text()}
    assert set(per_chapter) == chapters
    assert all(2 <= n <= 3 for n in per_chapter.values()), per_chapter


@pytest.mark.parametrize("chapter,module,overrides", _exercises(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_an_exercise_names_real_fields(chapter, module, overrides):
    cfg = load(module).Config.for_scale("quick")
    changed = apply_overrides(cfg, overrides)
    assert changed != cfg


def test_lj_encoders_refuses_an_unknown_loss():
    from support.experiments.config import OverrideError
    cfg = load("lj_encoders").Config.for_scale("quick")
    with pytest.raises((ValueError, OverrideError), match="loss"):
        apply_overrides(cfg, {"loss": "lx"})
