"""Claims as data: what a chapter says, the test of it on a result, and where it is expected to hold.

Each experiment module declares ``CLAIMS``, a list of :class:`Claim`. A claim has a text, what the
paper says about the same thing, a ``measure`` function that reads a result and returns whether the
claim holds in it and the measured numbers in words, and ``expect``: for each scale at which the book
states the claim, whether it is expected to hold there. A claim of the paper that the book does not
reproduce is declared with ``expect={"paper": False}`` and a ``reason``: it is then *checked* not to
hold, so the table shows "does not hold" and a later run that reproduces the paper is noticed too.

:func:`evaluate` gives one :class:`Verdict` per claim; :func:`claims_table` renders them
(claim · paper · measured · holds?); :func:`assert_claims` raises when a verdict differs from its
expectation at the result's scale — what a chapter's hidden cell and the saved-results unit test call.

Verdicts are three-valued. A measure builds its verdict from estimates with their uncertainty
(:mod:`support.uncertainty`): holds when the interval supports the claim, does not hold when it
excludes it, undecided when it straddles the line. **Undecided is not a pass**: a claim stated at a
scale passes there only when it holds (or fails) as stated. A run that cannot decide a claim — the
interval straddles, or the run lacks its data — passes only where the claim is *declared* undecided at
that scale (``expect={"paper": UNDECIDED}``, with the reason), and the table says so. Whether a run
was trimmed plays no part; settings that only say how a run is executed (:data:`EXECUTION_ONLY`)
are not changes from its preset at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

from .results import ExperimentResult
from .scale import SCALES
from .tables import Table

#: an expectation: the run is not expected to decide the claim at this scale (a reason is required)
UNDECIDED = "undecided"
from .scale import EXECUTION_ONLY  # noqa: F401  (re-exported: documented above)

#: a measure returns (holds, measured text), (None, measured text) when the run's data cannot decide
#: the claim, or None when the run has no data for it
Measure = Callable[[ExperimentResult], Optional[tuple[Optional[bool], str]]]


@dataclass(frozen=True)
class Claim:
    """One statement of a chapter, testable on a result.

    ``expect`` maps a scale to whether the claim is expected to hold there (``True``/``False``) or to
    stay undecided there (:data:`UNDECIDED`); scales not listed are not checked (shown as such).
    ``reason`` explains an expectation of ``False`` (why the book does not reproduce the paper there)
    or of :data:`UNDECIDED` (why the run cannot decide it)."""

    key: str
    text: str
    measure: Measure
    expect: Mapping[str, bool | str]
    paper: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.expect) - set(SCALES)
        if unknown:
            raise ValueError(f"claim {self.key!r}: unknown scales {sorted(unknown)} in expect")
        bad = [v for v in self.expect.values() if v not in (True, False, UNDECIDED)]
        if bad:
            raise ValueError(f"claim {self.key!r}: an expectation is True, False or UNDECIDED, got {bad}")
        if any(v is False or v == UNDECIDED for v in self.expect.values()) and not self.reason:
            raise ValueError(f"claim {self.key!r} is expected not to hold (or to stay undecided) "
                             "somewhere: give the reason")


@dataclass(frozen=True)
class Verdict:
    """A claim evaluated on one result."""

    claim: Claim
    holds: bool | None          # None: undecided by this run (or not measured in it)
    measured: str
    expected: bool | str | None  # True / False / UNDECIDED; None: not stated at this scale

    @property
    def ok(self) -> bool:
        """Whether the result agrees with what the book states at this scale. An undecided verdict
        agrees only with a declared :data:`UNDECIDED`; a decided one only with True/False."""
        if self.expected is None:
            return True
        if self.holds is None:
            return self.expected == UNDECIDED
        return self.holds is self.expected

    @property
    def status(self) -> str:
        if self.holds is None:
            word = "not measured in this run" if self.measured == "—" else "undecided by this run"
            if self.expected == UNDECIDED:
                return f"{word}, as stated: {self.claim.reason}"
            if self.expected is None:
                return f"{word} (not stated at this scale)"
            return f"{word} — NOT A PASS (the book states it {'holds' if self.expected else 'fails'})"
        word = "holds" if self.holds else "does not hold"
        if self.expected is None:
            return f"{word} (not stated at this scale)"
        if self.holds is self.expected:
            return word if self.holds else f"{word}, as stated: {self.claim.reason}"
        stated = {True: "holds", False: "fails", UNDECIDED: "stays undecided"}[self.expected]
        return f"{word} — UNEXPECTED (the book states it {stated})"


def evaluate(result: ExperimentResult, claims: Sequence[Claim]) -> list[Verdict]:
    """Every claim measured on ``result`` and compared with its expectation at ``result.scale``."""
    verdicts = []
    for claim in claims:
        try:
            outcome = claim.measure(result)
        except (KeyError, IndexError, TypeError) as err:
            raise KeyError(f"claim {claim.key!r} cannot read the result of {result.name!r}: "
                           f"{type(err).__name__}: {err}") from err
        # (None, text): measured, but the data leave the claim undecided (e.g. censored budgets)
        holds, measured = ((None, "—") if outcome is None else
                           (None if outcome[0] is None else bool(outcome[0]), outcome[1]))
        verdicts.append(Verdict(claim, holds, measured, claim.expect.get(result.scale)))
    return verdicts


def claims_table(result: ExperimentResult, claims: Sequence[Claim]) -> Table:
    """claim · paper · measured · holds? for ``result`` (caption: the run that was measured)."""
    rows = [[v.claim.text, v.claim.paper or "—", v.measured, v.status] for v in evaluate(result, claims)]
    return Table(["claim", "paper", "measured", "holds?"], rows,
                 caption=f"Claims checked on the run: {result.provenance()}.")


def assert_claims(result: ExperimentResult, claims: Sequence[Claim]) -> list[Verdict]:
    """Raise ``AssertionError`` listing every claim whose outcome differs from what the book states
    at ``result.scale``; returns the verdicts otherwise."""
    verdicts = evaluate(result, claims)
    bad = [f"{v.claim.key}: {v.status} (measured {v.measured})" for v in verdicts if not v.ok]
    if bad:
        raise AssertionError(f"{result.name} at {result.scale} scale: " + "; ".join(bad))
    return verdicts


@dataclass
class ClaimSet:
    """Helper to declare claims compactly inside an experiment module::

        CLAIMS = ClaimSet()

        @CLAIMS.add("unbiased", "E_I[L_x,p] = L_x for every p", expect={"quick": True, "paper": True})
        def _(r):
            z = max(abs(row["z_score"]) for row in r.metrics["unbiased"]["per_p"])
            return z < 4, f"max |z| = {z:.2f}"
    """

    claims: list[Claim] = field(default_factory=list)

    def add(self, key: str, text: str, *, expect: Mapping[str, bool | str], paper: str = "",
            reason: str = "") -> Callable[[Measure], Measure]:
        def register(measure: Measure) -> Measure:
            if any(c.key == key for c in self.claims):
                raise ValueError(f"duplicate claim key {key!r}")
            self.claims.append(Claim(key, text, measure, dict(expect), paper, reason))
            return measure
        return register

    def __iter__(self):
        return iter(self.claims)

    def __len__(self) -> int:
        return len(self.claims)
