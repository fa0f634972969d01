"""A mock interview saved as JSON and resumed: what comes back, and what a changed bank
leaves out. Grades are built by hand (no model grades here); the session is real, over the
corpus index, so a resumed question is prepared as a fresh one is."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tutor.config import Settings
from tutor.errors import InputError
from tutor.interview.grades import FollowUp, Grade, PointGrade, Source
from tutor.interview.interviewer import Hint, Interviewer
from tutor.interview.knowledge import Question
from tutor.interview.session import Session, Turn
from tutor.interview.state import restore_session, session_state
from tutor.records import from_json, to_json
from tutor.store.index import Index


@pytest.fixture(scope="module")
def interviewer(corpus_settings: Settings, corpus_index: Index) -> Interviewer:
    settings = corpus_settings.model_copy(update={"follow_up_writer": "template"})
    return Interviewer(settings, corpus_index, method="embedding")


def grade(question: Question, points: list[int], follow_up: bool = False) -> Grade:
    source = Source(f"{question.topic}.md#1", f"{question.topic}.md", "A section",
                    "The note's sentence.", True)
    verdicts = [PointGrade(i, question.key_points[i].point, "covered" if i == 0 else "missed",
                           "The learner's sentence." if i == 0 else None, 0.75, source)
                for i in points]
    return Grade(question.id, 3.3, verdicts, "Feedback.", "embedding", ["truncated"],
                 FollowUp("Which part did you leave out?", 1, "template") if follow_up else None,
                 {"grade_ms": 12.0})


@pytest.fixture
def state(interviewer: Interviewer) -> Iterator[dict[str, Any]]:
    """A rag interview of 4: the first question answered with its follow-up and a hint, the
    second answered and waiting for its follow-up's answer; as stored (through JSON)."""
    session = Session(interviewer, topics=["rag"], level="mixed", n=4, prefetch=False)
    first, second = [q for q in interviewer.bank if q.topic == "rag"][:2]
    all_points = list(range(len(first.key_points)))
    session.turns = [
        Turn(first, "My answer.", grade(first, all_points, follow_up=True), "My follow-up.",
             grade(first, [1]), [Hint("A hint.", 0, "template")]),
        Turn(second, "Second answer.", grade(second, list(range(len(second.key_points))),
                                             follow_up=True))]
    session.stage = "follow-up"
    session.last_answer = "Second answer."
    yield json.loads(json.dumps(session_state(session)))
    session.close()


def test_a_saved_session_resumes_where_it_stopped(interviewer: Interviewer,
                                                  state: dict[str, Any]) -> None:
    session, notes = restore_session(interviewer, state)
    try:
        assert notes == []
        assert (session.topics, session.level, session.n) == (("rag",), "mixed", 4)
        assert session_state(session) == state  # everything saved came back
        first, second = session.turns
        assert first.hints == [Hint("A hint.", 0, "template")] and first.follow_up_grade
        assert first.grade is not None and first.grade.verdicts[0].source is not None
        # The learner faces the second question's follow-up, as before the reload.
        assert session.current is second and session.stage == "follow-up"
        assert session.asked == "Which part did you leave out?"
        assert session.last_answer == "Second answer."
    finally:
        session.close()


def test_a_question_gone_from_the_bank_is_left_out_with_a_note(interviewer: Interviewer,
                                                              state: dict[str, Any]) -> None:
    changed = copy.deepcopy(state)
    changed["turns"][0]["question_id"] = "rag-999"
    session, notes = restore_session(interviewer, changed)
    assert [t.question.id for t in session.turns] == [state["turns"][1]["question_id"]]
    assert session.stage == "follow-up" and len(notes) == 1 and "left out" in notes[0]
    session.close()

    # The waiting question changed under its grade: it goes, and so does its follow-up.
    changed = copy.deepcopy(state)
    changed["turns"][1]["grade"]["verdicts"][0]["point"] = "A point the bank no longer has."
    session, notes = restore_session(interviewer, changed)
    assert [t.question.id for t in session.turns] == [state["turns"][0]["question_id"]]
    assert session.current is None and session.stage == "answer" and notes
    question = session.next_question()  # the interview goes on, never repeating a kept turn
    assert question is not None and question.id != state["turns"][0]["question_id"]
    session.close()


def test_what_cannot_resume_says_so(interviewer: Interviewer, state: dict[str, Any]) -> None:
    for change, message in (({"topics": ["cooking"]}, "None of this interview's topics"),
                            ({"version": 99}, "another version"),
                            ({"turns": [{"question_id": "rag-001"}]}, "damaged")):
        with pytest.raises(InputError, match=message):
            restore_session(interviewer, {**state, **change})
    session, notes = restore_session(interviewer, {**state, "topics": ["rag", "cooking"]})
    assert session.topics == ("rag",) and "no longer in the question bank" in notes[0]
    session.close()


def test_a_grade_reads_back_from_its_public_json(interviewer: Interviewer) -> None:
    question = interviewer.bank[0]
    original = grade(question, [0, 1], follow_up=True)
    data = json.loads(json.dumps(to_json(original)))
    assert data["follow_up"]["key_point"] == 1 and "point" not in data["follow_up"]  # the contract's name
    assert data["verdicts"][0]["source"]["in_bank_section"] is True
    assert from_json(Grade, data) == original
    with pytest.raises(ValueError, match="verdict"):  # a damaged row fails loudly, not later
        from_json(Grade, {**data, "verdicts": [{**data["verdicts"][0], "verdict": "great"}]})
