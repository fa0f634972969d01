"""Gold evaluation cases and the deterministic retrieval metrics computed against them.

A hit is relevant when it comes from a reference passage: the same file, and the reference
section anywhere on the hit's heading path (a reference to a `##` concept is answered by
its `###` parts too).
"""

from __future__ import annotations

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
