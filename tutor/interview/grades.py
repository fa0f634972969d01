"""A grade and what it is made of: the verdict per key point with its source, the follow-up,
and the arithmetic that turns verdicts into a score, a follow-up target and feedback.

Pure records and functions, no models: the grader (`tutor.interview.grading`) makes them, the interview,
the learner's progress, the report and the app read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from tutor.interview.knowledge import Question
from tutor.interview.screening import Flag
from tutor.interview.verdicts import Verdict
from tutor.quoting import as_prose, clip
from tutor.records import Rounded

VERDICTS: tuple[Verdict, ...] = ("covered", "partial", "missed", "contradicted")
# A confidently wrong claim is worse than a gap.
CREDIT: dict[Verdict, float] = {"covered": 1.0, "partial": 0.5, "missed": 0.0, "contradicted": -0.5}
# An answer that tried to instruct the grader never earns a 10.
INJECTION_CAP = 9.0


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """The passage from the index that backs one key point."""

    chunk_id: str
    doc: str
    section: str
    text: str  # the passage's sentence(s) that best support the key point
    in_bank_section: bool  # the bank cites this section for the point


@dataclass(frozen=True, slots=True)
class PointGrade:
    """The verdict on one key point."""

    index: int  # position of the key point in the bank question (0-based)
    point: str
    verdict: Verdict
    learner_sentence: str | None  # what the learner said about it, if anything
    # How strongly the learner's closest unit states the point: the judge's probability
    # (method judge), else MiniLM's cosine.
    support: Rounded
    source: Source | None  # None only when the index has nothing for the point


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One question aimed at a key point the learner missed or got wrong."""

    question: str
    point: Annotated[int, Field(alias="key_point")]  # index of the targeted key point
    written_by: str  # the LLM's name, or "template"


@dataclass(slots=True)
class Grade:
    question_id: str
    score: float
    verdicts: list[PointGrade]
    feedback: str
    method: str  # "embedding" / "judge", or "embedding+judge: <LLM name>" / "llm: <LLM name>"
    flags: list[Flag] = field(default_factory=list)
    follow_up: FollowUp | None = None  # written by the interviewer (tutor.interview.interviewer)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def target(self) -> int | None:
        """The key point a follow-up should aim at (see `follow_up_target`)."""
        return follow_up_target([v.verdict for v in self.verdicts])


# --------------------------------------------------------------------------------------
# Score, follow-up target, feedback: pure functions of the verdicts
# --------------------------------------------------------------------------------------


def score(verdicts: Sequence[Verdict], *, cap: float = 10.0) -> float:
    """10 * max(0, sum of CREDIT) / number of points, capped, one decimal."""
    if not verdicts:
        return 0.0
    raw = 10.0 * max(0.0, sum(CREDIT[v] for v in verdicts)) / len(verdicts)
    return round(min(raw, cap), 1)


def follow_up_target(verdicts: Sequence[Verdict]) -> int | None:
    """The most important point the learner did not fully make (missed, got wrong, or only
    half made); None when every point was covered. Importance is bank order: a question
    lists its central point first, and a half-made central point is a better follow-up than
    a missed detail."""
    return next((i for i, v in enumerate(verdicts) if v != "covered"), None)


_FLAG_FEEDBACK: dict[str, str] = {
    "empty": "No answer given: say what you know, even if it is only part of the answer.",
    "gibberish": "I could not read that as an answer: explain in full sentences, not a list of "
                 "words.",
    "copied-question": "That repeats the question rather than answering it.",
    "repeat": "That is the same answer you gave last time: answer this question on its own.",
    "not-english": "I can only grade answers in English: please answer in English.",
    "skipped": "Skipped.",
}


def feedback(question: Question, verdicts: Sequence[PointGrade], flags: Sequence[str]) -> str:
    """One to three sentences: the overall picture, the worst error, what is still missing.

    Missing points are named by their section in the notes, not spelled out, so the
    follow-up question still tests them.
    """
    if "instructions-removed" in flags and "empty" in flags:
        return "Instructions to the grader were ignored, and nothing else was said: answer the " \
               "question itself."
    for flag in flags:
        if flag in _FLAG_FEEDBACK:
            return _FLAG_FEEDBACK[flag]
    n = len(verdicts)
    covered = sum(v.verdict == "covered" for v in verdicts)
    partial = sum(v.verdict == "partial" for v in verdicts)
    wrong = [v for v in verdicts if v.verdict == "contradicted"]
    if n == 1:  # a follow-up
        opening = {"covered": "Yes, that is the point.", "partial": "Partly there.",
                   "missed": "That point did not come through.",
                   "contradicted": "Not quite."}[verdicts[0].verdict]
    elif covered == n:
        opening = f"Complete: you covered all {n} key points."
    elif covered + partial == 0:
        opening = f"None of the {n} key points came through yet."
    else:
        half = f" and touched on {partial} more" if partial else ""
        opening = f"You covered {covered} of {n} key points{half}."
    sentences = [opening]
    if wrong:
        said = wrong[0].learner_sentence or ""
        source = wrong[0].source
        # The wrong claim, and the note that corrects it in its own words.
        # The sentence's own full stop ends the quote's sentence: no "….”." pair.
        correction = f": “{clip(as_prose(source.text), 200).rstrip('.')}”" if source else ""
        sentences.append(f"Careful: “{clip(said, 120)}” contradicts the notes{_where(wrong[0])}"
                         f"{correction}.")
    gaps = [v for v in verdicts if v.verdict == "missed"]
    topics = list(dict.fromkeys(question.key_points[v.index].source.section for v in gaps))
    if topics:
        sentences.append("Still missing: " + "; ".join(topics[:3]) + ".")
    if "instructions-removed" in flags:
        sentences = [*sentences[:2], "Instructions to the grader were ignored."]
    return " ".join(sentences[:3])


def _where(grade: PointGrade) -> str:
    if grade.source is None:
        return ""
    return f" ({grade.source.section.split(' > ')[-1]})"
