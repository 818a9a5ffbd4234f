"""Tables that render as tables everywhere: HTML in the built book and in Jupyter, text in a terminal.

A chapter that ends a cell with a :class:`Table` gets a real ``<table>`` in the HTML book (myst-nb
prefers ``text/html`` outputs), a rendered table in Jupyter/Binder, and aligned plain text from
``print`` or the command line. Cells may use a little Markdown: ``code`` and **bold**.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _inline_html(text: Any) -> str:
    """Escape ``text`` and turn ``code`` and **bold** into HTML."""
    out = html.escape(str(text))
    out = _CODE.sub(r"<code>\1</code>", out)
    return _BOLD.sub(r"<strong>\1</strong>", out)


def _plain(text: Any) -> str:
    return _BOLD.sub(r"\1", _CODE.sub(r"\1", str(text)))


@dataclass
class Table:
    """A titled table: ``headers``, ``rows`` (one sequence of cells per row) and a ``caption``
    (a sentence above the table saying what produced it)."""

    headers: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    caption: str = ""

    def __post_init__(self) -> None:
        width = len(self.headers)
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"table row {i} has {len(row)} cells, the header has {width}")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{_inline_html(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                       for row in self.rows)
        caption = f"<caption>{_inline_html(self.caption)}</caption>" if self.caption else ""
        return (f'<div class="book-table" style="overflow-x:auto"><table class="table">{caption}'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")

    def _repr_markdown_(self) -> str:
        def cell(c: Any) -> str:
            return str(c).replace("|", "\\|").replace("\n", " ")
        lines = [self.caption, ""] if self.caption else []
        lines.append("| " + " | ".join(map(cell, self.headers)) + " |")
        lines.append("|" + "---|" * len(self.headers))
        lines += ["| " + " | ".join(map(cell, row)) + " |" for row in self.rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        cells = [[_plain(h) for h in self.headers]] + [[_plain(c) for c in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.headers))]
        lines = [_plain(self.caption)] if self.caption else []
        for j, r in enumerate(cells):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:  # a table printed in a console is read, not parsed
        return str(self)
