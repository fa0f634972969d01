"""Verdicts from the judge's probabilities (grading method `judge`): what the judge says about
one key point against the learner's closest units, and the verdict `decide` draws from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tutor.judge import Judge

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


def point_evidence(judge: Judge, point: str, note: str | None, units: Sequence[str]
                   ) -> PointEvidence:
    """Ask the judge about `point` (and the note sentence behind it) against each unit."""
    if not units:
        return PointEvidence(0.0, 0.0, 0.0, None, None, None)
    evidence = [point, *([note] if note else [])]
    pairs = [(u, point) for u in units] + [(e, u) for e in evidence for u in units]
    judged = judge.judge(pairs)
    n = len(units)
    forward, backward = judged[:n], [judged[n + k * n: n + (k + 1) * n] for k in range(len(evidence))]
    states = [j.entails for j in forward]
    part = [max(b[i].entails for b in backward) for i in range(n)]
    contradicts = [max((forward[i].contradicts + b[i].contradicts) / 2 for b in backward)
                   for i in range(n)]

    def best(values: list[float]) -> tuple[float, int]:
        i = max(range(n), key=values.__getitem__)
        return values[i], i

    (s, si), (p, pi), (c, ci) = best(states), best(part), best(contradicts)
    return PointEvidence(s, p, c, si, pi, ci)
