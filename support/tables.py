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


#: a signed number or one with an exponent (``-3``, ``9.58e-03``, ``−1.2e+05``): where a browser may
#: break a line inside a number, after its ``-``
_NUMBER = re.compile(r"(?<![\w.])(?:[-−+]\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-−+]?\d+)?"
                     r"|\d+(?:,\d{3})*(?:\.\d+)?[eE][-−+]?\d+)(?![\w])")


def _inline_html(text: Any) -> str:
    """Escape ``text``, turn ``code`` and **bold** into HTML, and keep every number on one line
    (a narrow column would otherwise break ``9.58e-03`` after its ``-``)."""
    out = html.escape(str(text), quote=False)         # no numeric entities for _NUMBER to split
    out = _NUMBER.sub(r'<span class="num" style="white-space:nowrap">\g<0></span>', out)
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

    #: from this many columns on, a table is set compact (smaller type, tighter cells) so that it
    #: fits the page's column instead of scrolling out of it
    WIDE = 6

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{_inline_html(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                       for row in self.rows)
        # the caption sits above the scrolling box, so it wraps at the page width even when a very
        # wide table has to scroll (a <caption> is as wide as its table and scrolls out with it)
        caption = (f'<p class="book-table-caption" style="margin-bottom:0.3em">{_inline_html(self.caption)}</p>'
                   if self.caption else "")
        wide = len(self.headers) >= self.WIDE
        style = ' style="font-size:0.85em"' if wide else ""
        return (f'<div class="book-table{" wide" if wide else ""}">{caption}<div style="overflow-x:auto">'
                f'<table class="table"{style}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></div>')

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
