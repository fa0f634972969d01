"""A mock interview saved as JSON and taken up again: what the learner store keeps of a
running `Session`, so a reload or a restart of the app loses nothing already answered.

Saved: the session's choices (topics, level, number of questions), every turn (its bank
question by id, the answers, their grades with follow-ups, the hints, whether the tutor
explained it), the stage (answer or follow-up) and the last answer (the repeat check reads
it). Not saved: the random generator's state (the next question is drawn afresh) and the
prefetched sources (fetched again for the waiting question).

The bank may change between save and resume. A turn whose question is gone, or whose key
points changed under its grade, is left out with a note; topics no longer in the bank are
dropped, and an interview with none left cannot resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tutor.errors import InputError
from tutor.interview.grades import Grade
from tutor.interview.interviewer import Hint, Interviewer
from tutor.interview.knowledge import Question
from tutor.interview.session import Session, Turn
from tutor.records import from_json, to_json

VERSION = 1


def session_state(session: Session) -> dict[str, Any]:
    """The JSON-ready state of `session` (`ProgressStore.save_interview_state` keeps it)."""
    return {"version": VERSION, "topics": list(session.topics), "level": session.level,
            "n": session.n, "stage": session.stage, "last_answer": session.last_answer,
            "turns": [_turn_state(t) for t in session.turns]}


def restore_session(interviewer: Interviewer, state: Mapping[str, Any]
                    ) -> tuple[Session, list[str]]:
    """The session `state` was saved from, and a note for each part that could not come
    back; `InputError` when nothing of it can (another version, damaged, no topic left)."""
    if state.get("version") != VERSION:
        raise InputError("This interview was saved by another version of the tutor and cannot "
                         "be resumed: press Start for a new one.")
    try:
        return _restore(interviewer, state)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError("The saved interview is damaged and cannot be resumed: press Start "
                         "for a new one.") from exc


def _restore(interviewer: Interviewer, state: Mapping[str, Any]) -> tuple[Session, list[str]]:
    bank = {q.id: q for q in interviewer.bank}
    known = {q.topic for q in bank.values()}
    topics = [t for t in state["topics"] if t in known]
    notes = []
    if len(topics) < len(state["topics"]):
        notes.append("Some of this interview's topics are no longer in the question bank: "
                     "it goes on without them.")
        if not topics:
            raise InputError("None of this interview's topics is in the question bank any "
                             "more: press Start for a new interview.")
    session = Session(interviewer, topics=topics, level=state["level"], n=int(state["n"]))
    turns = []
    for saved in state["turns"]:
        question = bank.get(saved["question_id"])
        if question is None or not _same_points(question, saved):
            notes.append("A question of this interview is no longer in the question bank (or "
                         "its key points changed): it was left out.")
            continue
        turns.append(_turn(question, saved))
    # The saved stage belongs to the saved last turn: if that one was left out, the learner
    # faces no follow-up.
    last_kept = bool(turns) and turns[-1].question.id == state["turns"][-1]["question_id"]
    session.resume(turns, state["stage"] if last_kept else "answer", state.get("last_answer"))
    return session, notes


def _turn_state(turn: Turn) -> dict[str, Any]:
    return {"question_id": turn.question.id, "answer": turn.answer,
            "grade": to_json(turn.grade) if turn.grade else None,
            "follow_up_answer": turn.follow_up_answer,
            "follow_up_grade": to_json(turn.follow_up_grade) if turn.follow_up_grade else None,
            "hints": [to_json(h) for h in turn.hints], "explained": turn.explained}


def _turn(question: Question, saved: Mapping[str, Any]) -> Turn:
    return Turn(question, saved["answer"], _grade(saved["grade"]), saved["follow_up_answer"],
                _grade(saved["follow_up_grade"]), [from_json(Hint, h) for h in saved["hints"]],
                bool(saved["explained"]))


def _same_points(question: Question, saved: Mapping[str, Any]) -> bool:
    """Whether every graded point still is the question's point at that index (a grade's
    verdicts name the key points by position)."""
    points = [k.point for k in question.key_points]
    graded = [v for g in (saved["grade"], saved["follow_up_grade"]) if g for v in g["verdicts"]]
    return all(v["index"] < len(points) and points[v["index"]] == v["point"] for v in graded)


def _grade(saved: Mapping[str, Any] | None) -> Grade | None:
    return None if saved is None else from_json(Grade, saved)
