"""The reproduction scorecard: every declared claim of both papers, judged on the saved paper-scale runs.

Generated, never typed: :func:`scorecard_rows` evaluates each experiment's ``CLAIMS`` on the run saved
in ``results/paper/NAME/`` (or records that none is saved), and :func:`scorecard_counts` tallies the
verdicts — what the index and the closing notes quote (:func:`scorecard_summary`, per paper).
``python -m support scorecard`` prints both; the book's scorecard page shows them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .claims import evaluate
from .results import saved_result
from .tables import Table

#: the verdict classes the scorecard counts, in the order it shows them
OUTCOMES = ("holds", "does not hold", "undecided", "no saved run")


@dataclass(frozen=True)
class ScoreRow:
    """One claim on the saved paper-scale run of its experiment."""

    experiment: str
    key: str
    text: str
    paper: str
    outcome: str        # one of OUTCOMES
    status: str         # the verdict in words, as the chapter's claims table shows it
    measured: str       # the measured value with its interval ("—" without a saved run)
    ok: bool            # agrees with what the book states at paper scale


def scorecard_rows() -> list[ScoreRow]:
    """Every experiment's claims on its saved paper-scale run (experiments in registry order)."""
    from .experiments import EXPERIMENTS, load
    rows = []
    for name in EXPERIMENTS:
        module = load(name)
        saved = saved_result(name, "paper")
        if saved is None:
            rows += [ScoreRow(name, c.key, c.text, c.paper, "no saved run", "no saved run", "—", True)
                     for c in module.CLAIMS]
            continue
        for v in evaluate(saved, list(module.CLAIMS)):
            outcome = "undecided" if v.holds is None else ("holds" if v.holds else "does not hold")
            rows.append(ScoreRow(name, v.claim.key, v.claim.text, v.claim.paper, outcome, v.status,
                                 v.measured, v.ok))
    return rows


def scorecard_counts(rows: list[ScoreRow]) -> dict[str, int]:
    """How many claims hold, fail, stay undecided or have no saved run (every outcome present)."""
    counts = Counter(r.outcome for r in rows)
    return {k: counts.get(k, 0) for k in OUTCOMES}


def scorecard_table(rows: list[ScoreRow]) -> Table:
    """experiment · claim · paper · measured at paper scale · verdict."""
    counts = scorecard_counts(rows)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    return Table(["chapter", "claim", "paper", "measured (paper scale)", "verdict"],
                 [[r.experiment, r.text, r.paper or "—", r.measured, r.status] for r in rows],
                 caption=f"Every declared claim on the saved paper-scale runs: {summary}.")


#: the chapter (``book/NAME.md``) that shows each experiment, where the names differ
CHAPTER = {"predator_prey_ordered": "predator_prey"}
#: the experiments of paper 1 (NeurIPS 2024); every other registered experiment belongs to paper 2
PAPER_1 = frozenset({"theory", "predator_prey", "predator_prey_ordered", "lj_structures", "lj_encoders",
                     "lj_scaling", "allen_cahn"})


def chapter_of(experiment: str) -> str:
    """The chapter file stem that shows ``experiment``."""
    return CHAPTER.get(experiment, experiment)


def paper_of(experiment: str) -> int:
    """1 for paper 1's experiments, 2 for paper 2's."""
    return 1 if experiment in PAPER_1 else 2


def scorecard_summary(rows: list[ScoreRow]) -> dict[str, object]:
    """The numbers the index's first sentences quote, per paper and in all: counts by outcome and,
    for the claims that do not hold, the chapters they come from (``{chapter: n}``, largest first)."""
    out: dict[str, object] = {"all": scorecard_counts(rows)}
    for paper in (1, 2):
        mine = [r for r in rows if paper_of(r.experiment) == paper]
        fails = Counter(chapter_of(r.experiment) for r in mine if r.outcome == "does not hold")
        out[f"paper{paper}"] = scorecard_counts(mine)
        out[f"paper{paper}_fails"] = dict(fails.most_common())
    return out


def book_order() -> list[str]:
    """Chapter file stems in the order of the book's table of contents (``_toc.yml``)."""
    toc = Path(__file__).resolve().parents[1] / "_toc.yml"
    return re.findall(r"file:\s*book/(\w+)", toc.read_text()) if toc.exists() else []


def scorecard_by_chapter(rows: list[ScoreRow]) -> Table:
    """chapter · paper · holds · does not hold · undecided (one row per chapter, in book order)."""
    position = {name: i for i, name in enumerate(book_order())}
    order: dict[str, Counter] = {}
    for r in sorted(rows, key=lambda r: (position.get(chapter_of(r.experiment), len(position)),
                                         paper_of(r.experiment))):
        order.setdefault(chapter_of(r.experiment), Counter())[r.outcome] += 1
    body = [[name, paper_of(name), c["holds"], c["does not hold"], c["undecided"], c["no saved run"]]
            for name, c in order.items()]
    return Table(["chapter", "paper", "holds", "does not hold", "undecided", "no saved run"], body,
                 caption="Claims on the saved paper-scale runs, by chapter.")
