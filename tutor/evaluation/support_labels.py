"""The answer-support labels (`eval/answer_support.yaml`) and how well a checker agrees.

Each item is an answer sentence a tutor might write, a section of the notes it would cite,
and a label written by hand, blind to the judge: `supported` (a sentence of the section
entails it; `evidence` is that sentence), `contradicted` (the section says otherwise) or
`unsupported` (on topic, but the section does not say it). `scripts/eval_judge.py` reports
agreement per split; the judge's thresholds are chosen on `dev` only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from tutor.answering.support import (
    Evidence,
    SupportChecker,
    SupportLabel,
    SupportThresholds,
    claim_text,
    supporting_span,
)
from tutor.config import REPO_DIR
from tutor.errors import TutorError
from tutor.interview.knowledge import section_text

LABELS_FILE = REPO_DIR / "eval" / "answer_support.yaml"


@dataclass(frozen=True, slots=True)
class SupportItem:
    id: str
    split: Literal["dev", "test"]
    doc: str
    section: str
    sentence: str
    label: SupportLabel
    evidence: str | None


def load_items(path: Path = LABELS_FILE) -> list[SupportItem]:
    try:
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
        return [SupportItem(r["id"], r["split"], r["doc"], r["section"], r["sentence"], r["label"],
                            r.get("evidence")) for r in rows]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise TutorError(f"{path}: not an answer-support label file ({exc})") from exc


def _flat(text: str) -> str:
    return " ".join(text.replace("**", "").replace("`", "").split()).lower()


def span_matches(item: SupportItem, evidence: Evidence, at: SupportThresholds) -> bool:
    """The span the answer check would highlight is the labelled evidence sentence (or a pair
    containing it)."""
    cited = supporting_span(evidence, at)
    if item.evidence is None or cited is None:
        return False
    span, wanted = _flat(cited.text), _flat(item.evidence)
    return wanted in span or span in wanted


def judge_items(checker: SupportChecker, corpus_dir: Path, items: Sequence[SupportItem]
                ) -> list[Evidence]:
    """The checker's evidence for every item, against its labelled section (the items of
    one section in one call, so its sentences are embedded once)."""
    by_section: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        by_section[(item.doc, item.section)].append(n)
    out: list[Evidence | None] = [None] * len(items)
    for (doc, section), members in by_section.items():
        passage = section_text(corpus_dir, doc, section)
        if not passage:
            raise TutorError(f"{items[members[0]].id}: no section {section!r} in {doc}")
        found = checker.evidence([claim_text(items[n].sentence) for n in members], [passage])
        for n, evidence in zip(members, found, strict=True):
            out[n] = evidence
    return [e for e in out if e is not None]
