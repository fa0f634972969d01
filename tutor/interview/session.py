"""A mock interview session: the turns asked so far, which question comes next, the
learner's answers graded, and the session's report.

A `Session` asks bank questions by topic and level, never the same one twice, and leans
toward the learner's weak topics as it goes on. Each answer is graded key point by key point
(`tutor.interview.grading`); when something was missed or wrong, one follow-up question (from the
`Interviewer`, `tutor.interview.interviewer`) aims at the most important such point and is graded the
same way. The learner can ask for a hint, skip, or have the tutor explain (its cited answer).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from tutor.errors import InputError, TutorError
from tutor.interview.grades import Grade, Source
from tutor.interview.interviewer import Hint, Interviewer, LevelChoice, Stage, choose_bank
from tutor.interview.knowledge import Level, Question
from tutor.interview.report import Report, TopicScore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Turn:
    """One bank question of a session, with everything that happened on it."""

    question: Question
    answer: str | None = None
    grade: Grade | None = None
    follow_up_answer: str | None = None
    follow_up_grade: Grade | None = None
    hints: list[Hint] = field(default_factory=list)
    explained: bool = False

    @property
    def score(self) -> float:
        return self.grade.score if self.grade else 0.0

    def to_read(self) -> list[Source]:
        """Sources of the points still not covered, the follow-up's result included."""
        if self.grade is None:
            return []
        fixed = set()
        if self.follow_up_grade is not None:
            fixed = {v.index for v in self.follow_up_grade.verdicts if v.verdict == "covered"}
        return [v.source for v in self.grade.verdicts
                if v.verdict != "covered" and v.index not in fixed and v.source is not None]


class Session:
    """One mock interview. Call `next_question()`, then `submit()` answers (or `hint()`,
    `skip()`, `explained()`) until `current` is None, and again; `report()` at the end."""

    def __init__(self, interviewer: Interviewer, *, topics: Sequence[str] = (),
                 level: LevelChoice = "mixed", n: int | None = None, seed: int | None = None,
                 prefetch: bool = True) -> None:
        """`prefetch`: retrieve each question's sources (and start the LLM) in the background
        while the learner reads and types, so grading does not wait for them."""
        self.interviewer = interviewer
        self.pool = choose_bank(interviewer.bank, topics, level)
        self.topics = tuple(topics)  # as chosen (none = all): what a resumed session needs
        self.level = level
        wanted = interviewer.settings.interview_questions if n is None else n
        if wanted < 1:
            raise InputError("An interview needs at least one question: use --n 1 or more.")
        self.n = min(wanted, len(self.pool))
        self._background = prefetch
        self.turns: list[Turn] = []
        self.stage: Stage = "answer"
        self._random = random.Random(seed)
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interview")
        self._sources: Future[list[Source | None]] | None = None
        # The learner's latest non-empty answer: the next one repeating it earns nothing.
        self.last_answer: str | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def current(self) -> Turn | None:
        """The turn waiting for an answer, or None between questions."""
        if self.turns and not self._finished(self.turns[-1]):
            return self.turns[-1]
        return None

    @property
    def asked(self) -> str:
        """What the learner is answering right now: the question or its follow-up."""
        turn = self._require_turn()
        if self.stage == "follow-up" and turn.grade and turn.grade.follow_up:
            return turn.grade.follow_up.question
        return turn.question.question

    def _finished(self, turn: Turn) -> bool:
        if turn.grade is None:
            return False
        return turn.grade.follow_up is None or turn.follow_up_grade is not None

    def _require_turn(self) -> Turn:
        turn = self.current
        if turn is None:
            raise InputError("No question is waiting for an answer: call next_question() first.")
        return turn

    # -- choosing questions -----------------------------------------------------------------

    def next_question(self) -> Question | None:
        """The next question, or None when the session has asked `n` (or the pool ran out).

        Topics are drawn by weight: all unasked topics share a weight of 1, and an asked
        topic weighs (1 - mean score / 10)^2 × (questions asked so far) / 2, so a topic the
        learner is weak in comes back more and more likely as the session goes on, and one
        they know well hardly ever does. Within the topic, the level follows the learner:
        fundamental after a weak answer there, harder after a strong one.
        """
        if self.current is not None:
            return self.current.question
        if len(self.turns) >= self.n:
            return None
        asked_ids = {t.question.id for t in self.turns}
        left = [q for q in self.pool if q.id not in asked_ids]
        if not left:
            return None
        topic = self._pick_topic(sorted({q.topic for q in left}))
        question = self._pick_in_topic([q for q in left if q.topic == topic])
        self.turns.append(Turn(question))
        self.stage = "answer"
        if self._background:
            self._sources = self._prefetch.submit(self._prepare, question)
        return question

    def topic_scores(self) -> dict[str, list[float]]:
        scores: dict[str, list[float]] = {}
        for turn in self.turns:
            if turn.grade is not None:
                scores.setdefault(turn.question.topic, []).append(turn.score)
        return scores

    def _pick_topic(self, topics: Sequence[str]) -> str:
        scores = self.topic_scores()
        unasked = [t for t in topics if t not in scores]
        weights = {t: 1.0 / len(unasked) for t in unasked}
        for t in topics:
            if t in scores:
                weakness = 1.0 - sum(scores[t]) / len(scores[t]) / 10.0
                weights[t] = weakness**2 * len(self.turns) / 2.0
        names = list(weights)
        if sum(weights.values()) <= 0:
            return self._random.choice(names)
        return self._random.choices(names, weights=[weights[t] for t in names])[0]

    def _pick_in_topic(self, candidates: Sequence[Question]) -> Question:
        scores = self.topic_scores().get(candidates[0].topic)
        mean = sum(scores) / len(scores) if scores else None
        if mean is None:
            wanted: tuple[Level, ...] = ("fundamental", "applied", "hard")
        elif mean < 4:
            wanted = ("fundamental", "applied", "hard")
        elif mean < 7:
            wanted = ("applied", "fundamental", "hard")
        else:
            wanted = ("hard", "applied", "fundamental")
        for level in wanted:
            at_level = [q for q in candidates if q.level == level]
            if at_level:
                return self._random.choice(at_level)
        return self._random.choice(list(candidates))

    def resume(self, turns: Sequence[Turn], stage: Stage, last_answer: str | None) -> None:
        """Take up a saved session where it stopped (`tutor.interview.state` restores the
        turns): the question waiting for an answer, if any, is prepared again."""
        self.turns = list(turns)
        current = self.current
        follow_up = current is not None and current.grade is not None and current.grade.follow_up
        self.stage = stage if stage == "answer" or follow_up else "answer"
        self.last_answer = last_answer
        if current is not None and self._background:
            self._sources = self._prefetch.submit(self._prepare, current.question)

    def _prepare(self, question: Question) -> list[Source | None]:
        """While the learner types: retrieve the question's sources, start the LLM."""
        sources = self.interviewer.grader.sources(question)
        if self.interviewer.writes_with_llm:
            try:
                self.interviewer.warm_up()
            except TutorError as exc:  # said again, clearly, when the LLM is first needed
                log.warning("could not start the LLM in the background: %s", exc)
        return sources

    def _wait_prepared(self) -> None:
        if self._sources is not None:
            self._sources.result()  # re-raises a failure of the background step here

    # -- answering ---------------------------------------------------------------------------

    def submit(self, answer: str) -> Grade:
        """Grade the answer to the question, or to its follow-up. After a main answer with
        something missed, the grade carries the follow-up and `stage` becomes "follow-up"."""
        turn = self._require_turn()
        self._wait_prepared()
        grader = self.interviewer.grader
        if self.stage == "answer":
            grade = grader.grade(turn.question, answer, previous_answer=self.last_answer)
            grade.follow_up = self.interviewer.follow_up(turn.question, grade)
            turn.answer, turn.grade = answer, grade
            self.stage = "follow-up" if grade.follow_up else "answer"
        else:
            follow = turn.grade.follow_up if turn.grade else None
            assert follow is not None  # stage "follow-up" is only entered with one
            grade = grader.grade(turn.question, answer, previous_answer=turn.answer,
                                 points=[follow.point], asked=follow.question)
            turn.follow_up_answer, turn.follow_up_grade = answer, grade
            self.stage = "answer"
        if answer.strip():
            self.last_answer = answer
        return grade

    def hint(self) -> Hint:
        """A hint toward the follow-up's point, or toward the next key point not yet hinted."""
        turn = self._require_turn()
        self._wait_prepared()
        if self.stage == "follow-up" and turn.grade and turn.grade.follow_up:
            point = turn.grade.follow_up.point
        else:
            point = len(turn.hints) % len(turn.question.key_points)
        hint = self.interviewer.hint(turn.question, point)
        turn.hints.append(hint)
        return hint

    def skip(self) -> None:
        """Give up on the question (it scores 0) or on its follow-up (the question keeps its
        score)."""
        turn = self._require_turn()
        self._wait_prepared()
        if self.stage == "answer":
            turn.grade = self.interviewer.grader.skip(turn.question)
        elif turn.grade is not None and turn.grade.follow_up is not None:
            turn.follow_up_grade = self.interviewer.grader.skip(
                turn.question, points=[turn.grade.follow_up.point])
        self.stage = "answer"

    def explained(self) -> None:
        """The learner asked for the tutor's answer: the question ends, as skipped."""
        turn = self._require_turn()
        turn.explained = True
        self.skip()

    def close(self) -> None:
        self._prefetch.shutdown(wait=False, cancel_futures=True)

    # -- report ------------------------------------------------------------------------------

    def report(self) -> Report:
        graded = [t for t in self.turns if t.grade is not None]
        topics = []
        for topic, scores in self.topic_scores().items():
            turns = [t for t in graded if t.question.topic == topic]
            seen: dict[tuple[str, str], Source] = {}
            for turn in turns:
                for source in turn.to_read():
                    seen.setdefault((source.doc, source.section), source)
            topics.append(TopicScore(topic, round(sum(scores) / len(scores), 1),
                                     tuple(t.question.id for t in turns), tuple(seen.values())))
        topics.sort(key=lambda t: (t.score, t.topic))
        method = graded[0].grade.method if graded and graded[0].grade else (
            self.interviewer.grader.method)
        return Report(tuple(topics), tuple(graded), method, self.interviewer.titles)
