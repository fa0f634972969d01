"""The readiness map: per syllabus topic, how much of it a learner has shown and how well.

- coverage: the topic's bank key points the learner was ever graded on, over all of them;
- mastery: the mean, over those points, of each point's most recent verdict (covered 1,
  partial 0.5, missed 0, contradicted 0) times 0.5^(its age / the half-life), so a point
  shown a while ago counts less than one shown today;
- readiness = coverage × mastery (recency enters through mastery's decay, not twice);
- recency: days since the learner last answered a question of the topic.

"Practise next" (`practise_next`) picks, in this order: among topics with review cards due,
the one with the lowest mastery (then the most cards due); else among topics answered but
below MASTERED, the lowest mastery; else the least-covered topic not fully covered; else
nothing. Due cards come first because they are the points the learner already got wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    PlainSerializer,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
)

from tutor.interview.knowledge import Question
from tutor.interview.verdicts import Verdict
from tutor.records import IsoTime, Rounded

MASTERY_CREDIT: dict[Verdict, float] = {"covered": 1.0, "partial": 0.5, "missed": 0.0,
                                        "contradicted": 0.0}
# Mastery from which a topic is not proposed for practice when nothing is due: about four
# in five of its answered points shown recently. A choice, not a measurement.
MASTERED = 0.8
_DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class TopicReadiness:
    topic: str  # the topic id (the note's file stem)
    title: str  # its human name (the note's title)
    points: int  # key points of the topic's bank questions
    answered: int  # of those, points the learner was ever graded on
    mastery: Rounded | None  # None until a point was answered
    last_answered_at: IsoTime | None
    recency_days: Annotated[float, PlainSerializer(lambda d: round(d, 1), return_type=float)] | None
    due_cards: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def coverage(self) -> Rounded:
        return self.answered / self.points if self.points else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def readiness(self) -> Rounded:
        return self.coverage * (self.mastery or 0.0)


@dataclass(frozen=True, slots=True)
class Readiness:
    topics: tuple[TopicReadiness, ...]  # in topic id order
    due: int  # every due card of the learner (also those of questions no longer in the bank)
    practise_next: str | None  # a topic id

    def topic(self, topic: str) -> TopicReadiness:
        return next(t for t in self.topics if t.topic == topic)

    @model_serializer(mode="wrap")
    def _public(self, fields: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`tutor progress --json`: the topic to practise next with its title."""
        nxt = self.topic(self.practise_next) if self.practise_next else None
        return {**fields(self), "practise_next": {"topic": nxt.topic, "title": nxt.title} if nxt else None}

    def table(self) -> str:
        """The map as a plain-text table for the terminal."""
        width = max([len(t.title) for t in self.topics] + [5])
        lines = [f"{'Topic':<{width}}  Coverage       Mastery  Readiness  Last answered  Due",
                 "-" * (width + 55)]
        for t in self.topics:
            covered = f"{t.answered}/{t.points} ({t.coverage:.0%})"
            mastery = "–" if t.mastery is None else f"{t.mastery:.2f}"
            lines.append(f"{t.title:<{width}}  {covered:<13}  {mastery:>7}  {t.readiness:>9.2f}  "
                         f"{ago(t.recency_days):<13}  {t.due_cards:>3}")
        lines.append("")
        lines.append(f"Cards due for review: {self.due}" + (" (run `tutor review`)" if self.due else ""))
        if self.practise_next:
            lines.append(f"Practise next: {self.topic(self.practise_next).title}")
        return "\n".join(lines)


def ago(days: float | None) -> str:
    """A topic's recency as a learner reads it: "never", "today", "3 day(s) ago"."""
    if days is None:
        return "never"
    return "today" if days < 1 else f"{int(days)} day(s) ago"


def readiness_map(bank: Sequence[Question], latest: Mapping[tuple[str, int], tuple[Verdict, datetime]],
                  last_answered: Mapping[str, datetime], due_by_question: Mapping[str, int],
                  *, now: datetime, half_life_days: float,
                  titles: Mapping[str, str] | None = None) -> Readiness:
    """The map from the learner's rows: `latest` is each (question id, point index)'s most
    recent verdict and when it was given, `last_answered` each question's last answer time,
    `due_by_question` the cards due now per question."""
    titles = titles or {}
    topics: list[TopicReadiness] = []
    for topic in sorted({q.topic for q in bank}):
        questions = [q for q in bank if q.topic == topic]
        points = [(q.id, i) for q in questions for i in range(len(q.key_points))]
        credits = [MASTERY_CREDIT[verdict] * 0.5 ** ((now - at).total_seconds() / _DAY_S
                                                     / half_life_days)
                   for verdict, at in (latest[p] for p in points if p in latest)]
        times = [last_answered[q.id] for q in questions if q.id in last_answered]
        last = max(times) if times else None
        topics.append(TopicReadiness(
            topic, titles.get(topic, topic), len(points), len(credits),
            sum(credits) / len(credits) if credits else None, last,
            (now - last).total_seconds() / _DAY_S if last else None,
            sum(due_by_question.get(q.id, 0) for q in questions)))
    return Readiness(tuple(topics), sum(due_by_question.values()), practise_next(topics))


def practise_next(topics: Sequence[TopicReadiness]) -> str | None:
    """The weakest topic worth practising now (the rule is in the module docstring)."""
    due = [t for t in topics if t.due_cards]
    if due:
        return min(due, key=lambda t: (t.mastery or 0.0, -t.due_cards, t.topic)).topic
    weak = [t for t in topics if t.mastery is not None and t.mastery < MASTERED]
    if weak:
        return min(weak, key=lambda t: (t.mastery or 0.0, t.topic)).topic
    open_ = [t for t in topics if t.coverage < 1]
    return min(open_, key=lambda t: (t.coverage, t.topic)).topic if open_ else None
