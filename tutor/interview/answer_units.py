"""The units of a learner's answer that are matched against key points: its sentences, the
clauses of long sentences, and pairs of neighbouring clauses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from tutor.interview.knowledge import Question
from tutor.interview.screening import normal
from tutor.sentences import split_sentences

_CLAUSE_BREAK = re.compile(
    r"[,;:]\s+|\s+[-–—]\s+|\s+(?:and|but|while|whereas|because|since|so|although|though)\s+",
    re.IGNORECASE,
)
_MIN_CLAUSE_WORDS = 4


@dataclass(frozen=True, slots=True)
class Unit:
    """A sentence, clause or pair of clauses of the answer, matched against the key points."""

    text: str
    sentence: int  # index of the sentence it comes from


def _clause_spans(sentence: str) -> list[tuple[int, int]]:
    """[start, end) of each clause; a fragment under four words joins the clause after it
    ("Both A | and B are random" stays one clause), the last one joins the clause before."""
    spans: list[tuple[int, int]] = []
    start = 0
    for brk in [*_CLAUSE_BREAK.finditer(sentence), None]:
        end = brk.start() if brk else len(sentence)
        if spans and spans[-1][1] < 0:  # the previous fragment was too short: extend it
            start = spans.pop()[0]
        words = len(sentence[start:end].split())
        spans.append((start, end if words >= _MIN_CLAUSE_WORDS or brk is None else -end))
        start = brk.end() if brk else start
    if len(spans) > 1 and len(sentence[spans[-1][0]:spans[-1][1]].split()) < _MIN_CLAUSE_WORDS:
        last = spans.pop()
        spans[-1] = (spans[-1][0], last[1])
    return [(s, abs(e)) for s, e in spans]


def answer_units(text: str, question: Question) -> tuple[list[str], list[Unit]]:
    """The answer's sentences, and the units matched against key points: each sentence, each
    clause of a sentence that packs several claims (a clause matches its own point better
    than the whole sentence does), and each stretch of two neighbouring clauses (a point is
    often made across two: "trained to predict the next token; it is self-supervised").
    Sentences that merely restate the question are left out: they would match its key
    points for free."""
    question_norm = normal(question.question)
    sentences = [s.text for s in split_sentences(text) if not s.is_code and s.text.strip()]
    sentences = [s for s in sentences if fuzz.token_set_ratio(normal(s), question_norm) < 90]
    units = [Unit(s, i) for i, s in enumerate(sentences)]
    for i, sentence in enumerate(sentences):
        spans = _clause_spans(sentence)
        if len(spans) > 1:
            units.extend(Unit(sentence[a:b], i) for a, b in spans)
            units.extend(Unit(sentence[a[0]:b[1]], i) for a, b in zip(spans, spans[1:], strict=False))
    return sentences, units
