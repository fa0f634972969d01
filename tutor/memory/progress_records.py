"""What the learner store (`tutor.memory.progress.ProgressStore`) hands back: learners, chat turns,
interviews and graded answers, as frozen records; and the learner id, the one key to them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tutor.errors import InputError
from tutor.interview.grades import Source
from tutor.interview.verdicts import Verdict

Role = Literal["user", "assistant"]
_LEARNER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def new_learner_id() -> str:
    """A fresh id for a browser to keep (128 random bits: the id is the learner's only key)."""
    return secrets.token_urlsafe(16)


def is_learner_id(text: str) -> bool:
    """Whether `text` can be a learner id (what a browser sends back is not trusted)."""
    return bool(_LEARNER_ID.fullmatch(text))  # match() would let a trailing newline in


def check_learner_id(learner: str) -> None:
    if not isinstance(learner, str) or not is_learner_id(learner):
        raise InputError(f"{learner!r} is not a learner id: use 1-64 letters, digits, '-' or '_'.")


@dataclass(frozen=True, slots=True)
class Learner:
    id: str
    name: str | None
    created_at: datetime
    last_active_at: datetime  # the latest turn, answer or review, else created_at


@dataclass(frozen=True, slots=True)
class ChatTurn:
    id: str
    conversation_id: str
    role: Role
    text: str
    citations: tuple[dict[str, Any], ...]  # each as `to_json(citation)` (`ask --json`'s shape)
    created_at: datetime
    unsupported: tuple[str, ...] = ()  # sentences the answer check flagged ⚠
    corrected: tuple[str, ...] = ()  # sentences it replaced by the notes' words


@dataclass(frozen=True, slots=True)
class InterviewRecord:
    id: str
    topics: tuple[str, ...]
    started_at: datetime
    finished_at: datetime | None
    state: dict[str, Any]  # whatever the app needs to resume it, as it saved it
    revision: int = 0  # how many times its state was saved


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    point_index: int
    point: str
    verdict: Verdict
    learner_sentence: str | None
    source: Source | None


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    id: str
    interview_id: str | None
    question_id: str
    follow_up: bool
    answer: str
    score: float
    method: str
    created_at: datetime
    verdicts: tuple[StoredVerdict, ...]
