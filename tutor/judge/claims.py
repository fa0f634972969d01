"""Written claims as judge training data (`corpus/judge-claims/<topic>.jsonl`): for every key
point, six sentences written for the purpose (a paraphrase, a hurried learner's version, a
true part of it, a misconception, a wrong detail, a true fact beside it), read against the
point both ways, against the note text that states it, and as true claims about *other*
points of the question. What no rule can make: a claim reworded and still true, and one
reworded and wrong."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tutor.interview.knowledge import KeyPoint, Question
from tutor.judge.pairs import (
    CONTRADICTS,
    ENTAILS,
    NEITHER,
    OTHER_POINT_MAX_COSINE,
    SUPPORT_COSINE,
    Pair,
)

CLAIMS_DIR = "judge-claims"  # under the corpus: written claims, one JSONL file per topic
# How each kind of written claim relates to its key point: (claim as evidence for the point,
# point as evidence for the claim). A true part of a point is entailed by it but does not
# state it; a fact beside the point neither states nor contradicts it.
CLAIM_KINDS: dict[str, tuple[int, int]] = {
    "paraphrase": (ENTAILS, ENTAILS), "casual": (ENTAILS, ENTAILS), "part": (NEITHER, ENTAILS),
    "misconception": (CONTRADICTS, CONTRADICTS), "wrong-detail": (CONTRADICTS, CONTRADICTS),
    "on-topic": (NEITHER, NEITHER),
}
# Written claims true of their own point, which `other_claim_pairs` sets against the other
# points of the question (at most OTHER_CLAIMS_PER_POINT of them per point).
TRUE_CLAIM_KINDS = ("paraphrase", "casual", "part")
OTHER_CLAIMS_PER_POINT = 2


def load_claims(corpus_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Written claims by key point id ("<question id>#<point index>"), as (kind, claim)."""
    claims: dict[str, list[tuple[str, str]]] = {}
    for path in sorted((corpus_dir / CLAIMS_DIR).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row["kind"] not in CLAIM_KINDS:
                    raise ValueError(f"{path.name}: unknown claim kind {row['kind']!r}")
                claims.setdefault(row["point_id"], []).append((row["kind"], row["claim"]))
    return claims


def claim_pairs(point: KeyPoint, evidence: str | None, claims: Sequence[tuple[str, str]]
                ) -> Iterator[Pair]:
    """Pairs for one key point's written claims: each claim against the point, both ways
    (`CLAIM_KINDS`), and, where a note sentence states the point (`evidence`), against it: an
    answer sentence in other words than its source is what the answer check reads."""
    note = point.source.file
    for kind, claim in claims:
        as_evidence, as_claim = CLAIM_KINDS[kind]
        yield Pair(claim, point.point, as_evidence, f"claim-{kind}", note)
        yield Pair(point.point, claim, as_claim, f"claim-{kind}", note)
        if evidence and kind != "on-topic":  # a fact beside the point may be in the note's text
            yield Pair(evidence, claim, as_claim, f"claim-{kind}-note", note)


def other_claim_pairs(question: Question, point_cos: np.ndarray, support: Sequence[tuple[str, float]],
                      claims: dict[str, list[tuple[str, str]]], rng: random.Random) -> Iterator[Pair]:
    """`neither` pairs with a key point (or the note sentence that states it) as evidence and a
    true claim about a *different* point of the question as the claim. Without them the written
    claims teach "point -> on-topic claim" and "note -> claim" only as entails or contradicts,
    and a judge trained on them read a learner's sentence about another point as a true part of
    this one (its "part" probability 0.82-0.97 on missed points of the dev learners, session 16).
    Points closer than `OTHER_POINT_MAX_COSINE` may share facts and are skipped; a note sentence
    is paired only with claims about points from other sections, which it cannot state."""
    points = question.key_points
    for k, point in enumerate(points):
        others = [j for j in range(len(points))
                  if j != k and point_cos[k, j] < OTHER_POINT_MAX_COSINE]
        for j in rng.sample(others, min(OTHER_CLAIMS_PER_POINT, len(others))):
            true = [c for kind, c in claims.get(f"{question.id}#{j}", []) if kind in TRUE_CLAIM_KINDS]
            if not true:
                continue
            claim = rng.choice(true)
            yield Pair(point.point, claim, NEITHER, "claim-other-point", point.source.file)
            evidence, cos = support[k]
            if cos >= SUPPORT_COSINE and points[j].source != point.source:
                yield Pair(evidence, claim, NEITHER, "claim-other-point-note", point.source.file)
