"""The app's learner memory, in process: the browser's id, and a store that fails (cannot
open, cannot write) costing the learner one line, never the answer or the page. A real
SQLite store throughout; "cannot write" is SQLite's own refusal (`query_only`, as on a
read-only data dir). The browser flows are in tests/e2e/test_progress_app.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import CORPUS

from tutor.answering.answer import Answer, AnswerEvent
from tutor.app.learner import LearnerPanel
from tutor.app.main import App
from tutor.app.memory import Memory
from tutor.app.review import NO_MEMORY, ReviewTab
from tutor.config import Settings
from tutor.interview.grades import Grade, PointGrade, Source
from tutor.interview.knowledge import Question, load_questions

QUESTION = next(q for q in load_questions(CORPUS) if q.topic == "rag")


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    made = Memory(Settings(data_dir=tmp_path / "data", corpus_dir=CORPUS))
    yield made
    made.close()


def refuse_writes(memory: Memory) -> None:
    """From now on every write fails, as on a read-only data dir; reads still work."""
    assert memory.store is not None
    memory.store._conn.execute("PRAGMA query_only = ON")


def missed(question: Question) -> Grade:
    source = Source("rag.md#1", "rag.md", "RAG > Pipeline", "The note's sentence.", True)
    return Grade(question.id, 0.0, [PointGrade(i, k.point, "missed", None, 0.0, source)
                                    for i, k in enumerate(question.key_points)], "", "embedding")


def test_a_browser_gets_one_id_and_keeps_it(memory: Memory) -> None:
    key, learner, status = memory.visit(None)  # a first visit
    assert key == learner and len(key) >= 22 and status == ""
    assert memory.visit(key) == (key, key, "")  # the next visit: the same learner
    for tampered in ("bad id", key + "\n", 42, {"id": key}):
        fresh, _, _ = memory.visit(tampered)
        assert fresh not in (key, tampered)
    assert memory.store is not None and memory.store.learner(key) is not None


def test_a_store_that_cannot_open_leaves_the_app_without_memory(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data dir should be")
    memory = Memory(Settings(data_dir=tmp_path / "data", corpus_dir=CORPUS))
    key, learner, status = memory.visit(None)
    assert memory.store is None and learner is None and key
    assert status.startswith("⚠ Your progress is not kept this time: Cannot open the learner "
                             "store") and "\n" not in status and "Traceback" not in status
    view = ReviewTab(memory, {}).refresh(learner)
    assert view[1] == NO_MEMORY and view[-1] == ""  # the tab explains, without an error
    memory.close()


class OneAnswer:
    """The tutor's answer stream, reduced to its final event (the app's part is under test)."""

    def stream(self, question: str, turns: list[Any], length: str | None = None) -> Iterator[AnswerEvent]:
        yield AnswerEvent("done", answer=Answer(
            question, question, "Attention is scaled to keep softmax gradients alive.", [], [],
            [], False, "scripted"))


def test_a_store_that_cannot_write_costs_one_line_not_the_answer(memory: Memory) -> None:
    app = App.__new__(App)  # the chat needs only its tutor and memory
    app.tutor, app.memory = OneAnswer(), memory  # type: ignore[assignment]
    learner = memory.visit(None)[1]
    *_, last = app.chat("Why scale attention?", [], "standard", [], [], learner, "conversation-1")
    assert "softmax gradients alive" in last[0][-1]["content"]
    assert memory.store is not None and len(memory.store.conversation(str(learner))) == 2

    refuse_writes(memory)
    *_, last = app.chat("And why sqrt(d_k)?", last[0], None, last[1], last[2], learner, "conversation-1")
    chat, backend = last[0], last[5]
    assert "softmax gradients alive" in chat[-1]["content"] and len(chat) == 4
    problem = backend.split("<small>")[1]
    assert problem == ("⚠ Could not write the learner store (attempt to write a readonly "
                       "database): free some disk space, or make the data dir writable; "
                       "nothing of this change was saved.</small>")
    assert len(memory.store.conversation(str(learner))) == 2  # nothing half-written
    # The next page load still restores what was kept.
    restored = app.restore_chat(learner)
    assert len(restored[0]) == 2 and restored[5] == "" and restored[6] == "conversation-1"


def test_review_and_the_panel_work_and_fail_softly(memory: Memory, tmp_path: Path) -> None:
    learner = str(memory.visit(None)[1])
    assert memory.store is not None
    memory.store.record_answer(learner, None, QUESTION, "", missed(QUESTION))
    review = ReviewTab(memory, {QUESTION.id: "Retrieval-augmented generation"})
    tab, header, front, back, *_, card, status = review.refresh(learner)
    count = len(QUESTION.key_points)
    assert tab.label == f"Review ({count} due)" and "Retrieval-augmented generation" in header
    assert QUESTION.question in front.replace("<br>", "\n") and card == 1
    tab, *_, status = review.rate(3, learner, card)
    assert tab.label == f"Review ({count - 1} due)" and "next due in 10 min" in status
    deck, said = review.anki(learner)
    assert deck["value"].endswith(".apkg") and Path(deck["value"]).stat().st_size > 0
    assert said.startswith(f"{count} card(s) in the deck")

    panel = LearnerPanel(memory)
    file, said = panel.export(learner)
    exported = json.loads(Path(file["value"]).read_text(encoding="utf-8"))
    assert exported["learner"]["id"] == learner and f"{count} card(s)" in said
    _, said, _, conversation = panel.delete(learner, None, "conversation-1")
    assert said == "Your progress was deleted from this server."
    assert conversation not in (None, "conversation-1")  # what is asked next is kept anew
    assert review.refresh(learner)[0].label == "Review"
    assert panel.import_(file["value"], learner).startswith(
        f"Imported: you now have 1 answer(s) and {count} card(s), {count - 1} due.")

    refuse_writes(memory)
    tab, *_, status = review.rate(4, learner, 2)
    assert status.startswith("⚠ Could not write the learner store") and tab.label.endswith("due)")
    assert panel.rename("Ada", learner).startswith("⚠ Could not write the learner store")
    (tmp_path / "not.json").write_text("{ not json")
    assert "not a progress export (not JSON" in panel.import_(str(tmp_path / "not.json"), learner)


def test_the_footer_says_where_a_learners_words_go() -> None:
    from tutor.app.main import footer

    local = footer(Settings(llm_base_url=None))
    assert "leaves" in local and "TUTOR_MODE" not in local and "hybrid" not in local
    served = footer(Settings(llm_base_url="https://api.example.com/v1"))
    assert "sent to the model at api.example.com" in served
