"""The reproduction scorecard: every declared claim of both papers, judged on the saved paper-scale runs.

Generated, never typed: :func:`scorecard_rows` evaluates each experiment's ``CLAIMS`` on the run saved
in ``results/paper/NAME/`` (or records that none is saved), and :func:`scorecard_counts` tallies the
verdicts — what the index and the closing notes quote. ``python -m support scorecard`` prints both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

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
