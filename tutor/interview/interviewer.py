"""The interviewer: the question bank by topic and level, follow-up questions and hints.

`Interviewer` holds what every session shares (the bank, the grader, the LLM, the tutor
that explains); `tutor.interview.session.Session` is one mock interview driven through it.
A follow-up aims at the most important point an answer missed or got wrong; a hint says
something about the point without giving it away. The session's report
(`tutor.interview.report`) scores each topic, weakest first, with the passages to read next.

The terminal loop lives in `tutor.cli.interview`; everything it needs is here and in the
session module, so it stays thin and the session itself is what the tests drive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz

from tutor.config import Settings
from tutor.errors import InputError, LLMError
from tutor.interview.grades import FollowUp, Grade
from tutor.interview.grading import GradeMethod, Grader
from tutor.interview.knowledge import Level, Question, load_questions, topic_titles
from tutor.llm import LLM, EmbeddedLLM, Message, get_llm, prompt_messages
from tutor.prompts import load_prompt

if TYPE_CHECKING:
    from tutor.answering.answer import Tutor
    from tutor.store.index import Index

log = logging.getLogger(__name__)

LevelChoice = Literal["fundamental", "applied", "hard", "mixed"]
LEVELS: tuple[LevelChoice, ...] = ("fundamental", "applied", "hard", "mixed")
Stage = Literal["answer", "follow-up"]
_LEVEL_ORDER: tuple[Level, ...] = ("fundamental", "applied", "hard")
_MAX_WORDS = 40  # a follow-up or hint longer than this is an explanation, not a question


@dataclass(frozen=True, slots=True)
class Hint:
    text: str
    point: int  # the key point it leads toward
    written_by: str  # the LLM's name, or "template"


def choose_bank(bank: Sequence[Question], topics: Sequence[str] = (),
                level: LevelChoice = "mixed") -> list[Question]:
    """The questions a session may ask; a topic or level the bank lacks is a clear error."""
    known = sorted({q.topic for q in bank})
    unknown = [t for t in topics if t not in known]
    if unknown:
        raise InputError(f"No questions on {', '.join(unknown)}: topics are {', '.join(known)}.")
    if level not in LEVELS:
        raise InputError(f"Unknown level '{level}': choose one of {', '.join(LEVELS)}.")
    chosen = [q for q in bank if (not topics or q.topic in topics)
              and (level == "mixed" or q.level == level)]
    if not chosen:
        raise InputError(f"The bank has no {level} questions on {', '.join(topics)}.")
    return chosen


def _leaks(text: str, point: str) -> bool:
    """True when `text` gives the point away: most of its content words, or the point itself."""
    words = {w[:5] for w in re.findall(r"[a-z0-9]+", point.lower()) if len(w) > 3}
    said = {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}
    if words and len(words & said) / len(words) >= 0.6:
        return True
    return fuzz.partial_ratio(point.lower(), text.lower()) >= 85


def _first_line(text: str) -> str:
    lines = [line.strip().strip('"') for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


class Interviewer:
    """Writes follow-ups and hints, explains, and grades (through its `Grader`)."""

    def __init__(self, settings: Settings, index: Index, *, llm: LLM | None = None,
                 method: GradeMethod | None = None) -> None:
        self.settings = settings
        self.index = index
        # Created now but started on first use: the embedded model loads only when needed.
        self.llm: LLM = llm or get_llm(settings)
        self.grader = Grader(settings, index, llm=self.llm, method=method)
        # "auto": a learner who chose grading with no LLM (`embedding`, under a second) must
        # not wait for the LLM to start just to phrase the follow-up.
        writer = settings.follow_up_writer
        self.writes_with_llm = writer == "llm" or (writer == "auto" and self.grader.method != "embedding")

    @cached_property
    def bank(self) -> list[Question]:
        return load_questions(self.settings.corpus_dir)

    @cached_property
    def titles(self) -> dict[str, str]:
        """Topic id -> the name a learner reads (the note's title)."""
        return topic_titles(self.settings.corpus_dir)

    @cached_property
    def tutor(self) -> Tutor:
        """The cited tutor, for "explain"."""
        from tutor.answering.answer import Tutor

        return Tutor(self.settings, index=self.index, llm=self.llm)

    def question(self, question_id: str) -> Question:
        for q in self.bank:
            if q.id == question_id:
                return q
        raise InputError(f"No question '{question_id}' in the bank: `tutor questions` lists them.")

    def warm_up(self) -> None:
        """Start the embedded LLM now (seconds), so the first follow-up does not wait for it."""
        if isinstance(self.llm, EmbeddedLLM):
            self.llm.start()

    def follow_up(self, question: Question, grade: Grade) -> FollowUp | None:
        """One question aimed at the grade's top miss; None when nothing was missed."""
        target = grade.target
        if target is None:
            return None
        point = question.key_points[target]
        if self.writes_with_llm:
            messages = prompt_messages(load_prompt("follow_up"))
            messages.append({"role": "user", "content": (
                f"Original question: {question.question}\nMissed key point: {point.point}")})
            text = self._write(messages)
            if text.endswith("?") and len(text.split()) <= _MAX_WORDS and not _leaks(text, point.point):
                return FollowUp(text, target, self.llm.name)
            log.info("follow-up from the LLM rejected (%r); using the template", text)
        return FollowUp(f"Let's go back to one part of this: {point.source.section}. What can "
                        "you tell me about it, for this question?", target, "template")

    def _write(self, messages: list[Message]) -> str:
        """One short line from the LLM; "" when it fails, so the template takes over (a
        follow-up or hint is not worth ending the interview for)."""
        try:
            return _first_line(self.llm.complete(messages, max_tokens=60, temperature=0.0))
        except LLMError as exc:
            log.warning("the LLM could not write a follow-up or hint (%s)", exc)
            return ""

    def hint(self, question: Question, point: int) -> Hint:
        """A nudge toward one key point, written from its source without giving it away."""
        key = question.key_points[point]
        source = self.grader.sources(question)[point]
        if self.writes_with_llm and source is not None:
            messages = prompt_messages(load_prompt("hint"))
            messages.append({"role": "user", "content": (
                f"Question: {question.question}\nKey point: {key.point}\nPassage: {source.text}")})
            text = self._write(messages)
            if text and len(text.split()) <= _MAX_WORDS and not _leaks(text, key.point):
                return Hint(text, point, self.llm.name)
            log.info("hint from the LLM rejected (%r); using the template", text)
        return Hint(f"Fill in the gaps: “{cloze(key.point, question.question)}” "
                    f"({key.source.section} in your notes).", point, "template")


_CLOZE_WORD = re.compile(r"[A-Za-z][A-Za-z-]{4,}")


def cloze(point: str, question: str) -> str:
    """The key point with its longer words reduced to their first letter ("c_______"), except
    those the question already uses: the shape of the answer and where it starts, not the
    answer itself."""
    asked = {w.lower() for w in _CLOZE_WORD.findall(question)}

    def blank(m: re.Match[str]) -> str:
        word = m.group(0)
        return word if word.lower() in asked else word[0] + "_" * (len(word) - 1)

    return _CLOZE_WORD.sub(blank, point)
