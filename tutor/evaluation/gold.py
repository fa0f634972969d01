"""Gold evaluation cases and the deterministic retrieval metrics computed against them.

A hit is relevant when it comes from a reference passage: the same file, and the reference
section anywhere on the hit's heading path (a reference to a `##` concept is answered by
its `###` parts too).

Every case belongs to a split (eval/README.md): `dev` may be tuned on, `test` never is.
`assign_splits` is the seeded, stratified rule that split the cases written before it
(g-001 to g-163); cases written after the split carry `"split": "test"` by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from statistics import fmean
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tutor.errors import TutorError
from tutor.records import Hit

CaseKind = Literal["in_scope", "multi_section", "out_of_scope", "adversarial"]
Split = Literal["dev", "test"]

SPLIT_SEED = 22  # the seed `assign_splits` used for g-001 .. g-163 (issue 22)
LAST_PRE_SPLIT_ID = "g-163"  # the last case that existed when the split was made


class Passage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    doc: str  # file name, e.g. "rag.md"
    section: str  # heading text


class GoldCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    question: str = Field(min_length=5)
    reference_answer: str = ""
    reference_passages: tuple[Passage, ...] = ()
    topic: str
    level: Literal["fundamental", "applied", "hard"]
    kind: CaseKind
    from_bank: str | None = None  # the question-bank id this case restates, if any
    # dev may be tuned on (weights, thresholds, prompts, guard patterns); test never: no
    # setting is chosen by looking at test numbers, and test numbers are only reported.
    split: Split = "dev"


def load_gold(path: Path) -> list[GoldCase]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(GoldCase.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise TutorError(f"{path}:{number}: invalid gold case ({exc})") from exc
    return cases


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_splits(cases: Sequence[GoldCase], seed: int = SPLIT_SEED) -> dict[str, Split]:
    """A seeded dev/test assignment, stratified by kind and by topic.

    Kinds are taken largest first, and within a kind each topic's cases, ordered by a hash
    of the seed and the id, alternate between dev and test. A group of odd size gives its
    extra case to the split its topic has fewer of so far, else to the split its kind has
    fewer of, else to a seeded coin. So every (kind, topic) group is halved to within one
    case, and each topic and each kind is close to 50/50. No `random` module: the hash
    makes the result the same on every Python version."""
    splits: tuple[Split, Split] = ("dev", "test")
    out: dict[str, Split] = {}
    per_topic: dict[str, list[int]] = {}
    kinds = sorted({c.kind for c in cases}, key=lambda k: (-sum(c.kind == k for c in cases), k))
    for kind in kinds:
        per_kind = [0, 0]
        for topic in sorted({c.topic for c in cases if c.kind == kind}):
            group = sorted(
                (c for c in cases if c.kind == kind and c.topic == topic),
                key=lambda c: _rank(seed, c.id),
            )
            have = per_topic.setdefault(topic, [0, 0])
            if have[0] != have[1]:
                first = int(have[1] < have[0])
            elif per_kind[0] != per_kind[1]:
                first = int(per_kind[1] < per_kind[0])
            else:
                first = int(_rank(seed, f"{kind}/{topic}"), 16) % 2
            for i, case in enumerate(group):
                side = (first + i) % 2
                out[case.id] = splits[side]
                have[side] += 1
                per_kind[side] += 1
    return out


def is_relevant(hit: Hit, passages: Sequence[Passage]) -> bool:
    file = hit.chunk.doc.rsplit("/", 1)[-1]
    path = hit.chunk.section.split(" > ")
    return any(p.doc == file and p.section in path for p in passages)


@dataclass(frozen=True, slots=True)
class RetrievalScores:
    hit_at_1: float
    hit_at_5: float
    mrr_at_10: float
    precision_at_5: float
    recall_at_10: float


def score_case(hits: Sequence[Hit], passages: Sequence[Passage]) -> RetrievalScores:
    relevant = [is_relevant(h, passages) for h in hits[:10]]
    first = next((i for i, r in enumerate(relevant) if r), None)
    found = {p for p in passages for h in hits[:10] if is_relevant(h, [p])}
    return RetrievalScores(
        hit_at_1=float(any(relevant[:1])),
        hit_at_5=float(any(relevant[:5])),
        mrr_at_10=0.0 if first is None else 1.0 / (first + 1),
        precision_at_5=sum(relevant[:5]) / 5,
        recall_at_10=len(found) / len(passages) if passages else 0.0,
    )


def mean_scores(rows: Sequence[RetrievalScores]) -> RetrievalScores:
    return RetrievalScores(
        *(round(fmean(getattr(r, f.name) for r in rows), 4) for f in fields(RetrievalScores))
    )
