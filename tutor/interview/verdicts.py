"""Verdicts from the judge's probabilities (grading method `judge`): what the judge says about
one key point against the learner's closest units, and the verdict `decide` draws from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tutor.judge.model import Judge, Judgment

Verdict = Literal["covered", "partial", "missed", "contradicted"]


@dataclass(frozen=True, slots=True)
class PointEvidence:
    """What the judge says about one key point against the learner's closest units.

    `states`: the learner's unit entails the point (they said it). `part`: the point, or the
    note sentence behind it, entails the learner's unit (they said a true part of it).
    `contradicts`: the learner's unit and the point (or its note) cannot both be true, with
    both directions of the pair agreeing (their mean), since one direction alone also fires
    on true statements that merely word a detail differently.
    """

    states: float
    part: float
    contradicts: float
    states_unit: int | None  # index into the candidate units of the best for each
    part_unit: int | None
    contradicts_unit: int | None


@dataclass(frozen=True, slots=True)
class VerdictThresholds:
    covered: float
    partial: float
    contradicted: float


def decide(evidence: PointEvidence, at: VerdictThresholds) -> tuple[Verdict, int | None]:
    """The verdict and the unit that earned it. Calling a true statement wrong is the worst
    error a grader makes, so `contradicted` needs the judge's high confidence, and a point the
    learner stated wins over a contradiction found elsewhere in the answer."""
    if evidence.states >= at.covered:
        return "covered", evidence.states_unit
    if evidence.contradicts >= at.contradicted:
        return "contradicted", evidence.contradicts_unit
    if max(evidence.part, evidence.states) >= at.partial:
        unit = evidence.part_unit if evidence.part >= evidence.states else evidence.states_unit
        return "partial", unit
    return "missed", None


@dataclass(frozen=True, slots=True)
class PointQuestion:
    """One key point to ask the judge about: the point, the note sentence behind it (if
    found), and the learner's candidate units."""

    point: str
    note: str | None
    units: Sequence[str]
    # The unit a true part of the point is read from: the learner's passage about the point
    # (the window of their two closest sentences, else their closest unit), not whichever
    # unit scores best. The point (or its note) "entails" many a true sentence of the answer
    # about something else; read from every unit, a true part was found for missed and
    # contradicted points alike (docs/judge.md, session 17).
    part_unit: int = 0

    def pairs(self) -> list[tuple[str, str]]:
        """Each unit against the point (did they state it?), then the point and its note
        against each unit (is what they said a true part of it?)."""
        evidence = [self.point, *([self.note] if self.note else [])]
        return [(u, self.point) for u in self.units] + [(e, u) for e in evidence for u in self.units]


def point_evidence(judge: Judge, asked: Sequence[PointQuestion]) -> list[PointEvidence]:
    """What the judge says about each point against its units. All pairs go to the judge in
    one call: on a CPU, one batch of an answer's ~80 pairs took 0.68 of the time of one
    call per point (12 labelled answers)."""
    pairs = [q.pairs() for q in asked]
    judged = judge.judge([p for ps in pairs for p in ps])
    out, at = [], 0
    for q, ps in zip(asked, pairs, strict=True):
        out.append(_evidence(judged[at:at + len(ps)], len(q.units), q.part_unit))
        at += len(ps)
    return out


def _evidence(judged: Sequence[Judgment], n: int, part_unit: int) -> PointEvidence:
    if not n:
        return PointEvidence(0.0, 0.0, 0.0, None, None, None)
    forward = judged[:n]
    backward = [judged[k:k + n] for k in range(n, len(judged), n)]
    states = [j.entails for j in forward]
    part = [max(b[i].entails for b in backward) for i in range(n)]
    contradicts = [max((forward[i].contradicts + b[i].contradicts) / 2 for b in backward)
                   for i in range(n)]

    def best(values: list[float]) -> tuple[float, int]:
        i = max(range(n), key=values.__getitem__)
        return values[i], i

    (s, si), (c, ci) = best(states), best(contradicts)
    return PointEvidence(s, part[part_unit], c, si, part_unit, ci)
