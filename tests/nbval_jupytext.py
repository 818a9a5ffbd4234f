"""pytest plugin: run the book's Jupytext (MyST markdown) chapters through nbval.

nbval only collects ``.ipynb``; this hands every ``book/*.md`` that starts with a Jupytext header
to nbval, reading it with ``jupytext.read``. Outputs are never compared (a ``.md`` has none); a
chapter fails when a cell raises — including the hidden ``remove-cell`` asserts of its claims.
nbval is pinned exactly (requirements.txt) because this relies on ``nbval.plugin`` internals.
"""

from __future__ import annotations

import types
from pathlib import Path

import jupytext
import nbval.plugin

BOOK = Path(__file__).resolve().parents[1] / "book"


def is_chapter(path: Path) -> bool:
    return (path.suffix == ".md" and path.resolve().parent == BOOK
            and path.read_text(encoding="utf-8").startswith("---\njupytext:"))


class MystNotebook(nbval.plugin.IPyNbFile):
    """An nbval notebook item read from a Jupytext markdown file."""

    def collect(self):
        real = nbval.plugin.nbformat
        nbval.plugin.nbformat = types.SimpleNamespace(
            read=lambda fp, as_version=4: jupytext.read(fp), from_dict=real.from_dict)
        try:
            return list(super().collect())
        finally:
            nbval.plugin.nbformat = real


def pytest_collect_file(file_path: Path, parent):
    if is_chapter(file_path):
        return MystNotebook.from_parent(parent, path=file_path)
    return None
