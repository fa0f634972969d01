"""The learner store: real SQLite files, real FSRS, real processes killed mid-write.

No model is loaded: grades are built by hand (tutor.interview.grading's records), questions come from
the bank's YAML or are written here.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fsrs import Card, Rating, Scheduler, State
from support import CORPUS, offline_cli

from tutor.config import REPO_DIR
from tutor.errors import InputError, InterviewMovedOnError, ProgressStoreError
from tutor.interview.grades import Grade, PointGrade, Source
from tutor.interview.knowledge import Question, load_questions
from tutor.interview.verdicts import Verdict
from tutor.memory.progress import FILE_NAME, ProgressStore
from tutor.memory.progress_db import SCHEMA_VERSION
from tutor.memory.progress_records import new_learner_id
from tutor.memory.readiness import TopicReadiness, practise_next
from tutor.memory.review import due_in
from tutor.records import to_json

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE, BOB = "alice-browser-id", "bob-browser-id"


@pytest.fixture(scope="module")
def bank() -> list[Question]:
    return load_questions(CORPUS)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ProgressStore]:
    # No fuzz, so a due date can be compared with FSRS's own computation to the microsecond.
    with ProgressStore(tmp_path / FILE_NAME, scheduler=Scheduler(enable_fuzzing=False)) as s:
        yield s


def source(question: Question, i: int) -> Source:
    ref = question.key_points[i].source
    return Source(f"{ref.file}#{i}", ref.file, ref.section, f"The note's sentence for point {i}.",
                  True)


def grade(question: Question, verdicts: Sequence[Verdict], points: Sequence[int] | None = None
          ) -> Grade:
    """A grade with `verdicts` for `points` (default: every key point, in order)."""
    points = list(range(len(question.key_points))) if points is None else list(points)
    return Grade(question.id, 5.0, [
        PointGrade(i, question.key_points[i].point, v,
                   None if v == "missed" else f"learner sentence {i}", 0.5, source(question, i))
        for i, v in zip(points, verdicts, strict=True)], "feedback", "embedding")


# --------------------------------------------------------------------------------------
# Cards and scheduling
# --------------------------------------------------------------------------------------


def test_missed_partial_and_contradicted_points_become_cards_due_now(
        store: ProgressStore, bank: list[Question]) -> None:
    q = bank[0]
    verdicts: list[Verdict] = ["covered", "missed", "contradicted", "partial", "covered"]
    verdicts = verdicts[: len(q.key_points)]
    interview = store.start_interview(ALICE, [q.topic], {"asked": [q.id]}, now=T0)
    answer = store.record_answer(ALICE, interview.id, q, "My answer.", grade(q, verdicts), now=T0)

    assert [v.verdict for v in answer.verdicts] == verdicts
    cards = store.due_cards(ALICE, now=T0)
    assert [(c.question_id, c.point_index) for c in cards] == [
        (q.id, i) for i, v in enumerate(verdicts) if v != "covered"]
    assert store.due_count(ALICE, now=T0) == len(cards) and store.due_count(ALICE, now=T0 - timedelta(seconds=1)) == 0
    card = cards[0]
    assert card.due_at == T0 and card.state == "learning" and card.last_reviewed_at is None
    point = q.key_points[card.point_index]
    assert card.front.startswith(q.question) and point.source.section in card.front
    assert point.point not in card.front  # the front asks for the point, it does not give it
    assert card.back.startswith(point.point) and "The note's sentence for point 1." in card.back
    assert card.source == source(q, card.point_index)


def test_rating_a_card_reschedules_it_as_fsrs_says(store: ProgressStore, bank: list[Question]) -> None:
    q = bank[1]
    store.record_answer(ALICE, None, q, "", grade(q, ["missed"] * len(q.key_points)), now=T0)
    fsrs = Scheduler(enable_fuzzing=False)
    expected, _ = fsrs.review_card(Card(card_id=1, due=T0), Rating.Good, T0)

    rated = store.rate(ALICE, 1, 3, now=T0)
    assert rated.due_at == expected.due > T0 and rated.last_reviewed_at == T0
    assert store.due_count(ALICE, now=T0) == len(q.key_points) - 1

    # Good again once it is due: out of learning, into days-long review intervals.
    later, _ = fsrs.review_card(expected, Rating.Good, expected.due)
    rated = store.rate(ALICE, 1, 3, now=expected.due)
    assert later.state == State.Review and rated.state == "review"
    assert rated.due_at == later.due and rated.due_at - expected.due >= timedelta(days=1)

    with pytest.raises(InputError, match="1 \\(again\\)"):
        store.rate(ALICE, 1, 5)
    with pytest.raises(InputError, match="No card 99"):
        store.rate(ALICE, 99, 3)


def test_a_later_verdict_reviews_the_card_and_never_deletes_it(
        store: ProgressStore, bank: list[Question]) -> None:
    q = bank[2]
    store.record_answer(ALICE, None, q, "", grade(q, ["missed"], points=[0]), now=T0)
    covered_at = T0 + timedelta(hours=1)
    store.record_answer(ALICE, None, q, "Now I know.", grade(q, ["covered"], points=[0]),
                        follow_up=True, now=covered_at)
    expected, _ = Scheduler(enable_fuzzing=False).review_card(
        Card(card_id=1, due=T0), Rating.Good, covered_at)
    [card] = store.cards(ALICE)
    assert card.due_at == expected.due and card.last_reviewed_at == covered_at

    missed_at = covered_at + timedelta(days=2)
    store.record_answer(ALICE, None, q, "", grade(q, ["missed"], points=[0]), now=missed_at)
    [card] = store.cards(ALICE)
    assert card.last_reviewed_at == missed_at and card.due_at <= missed_at + timedelta(minutes=10)
    assert [a.follow_up for a in store.answers(ALICE)] == [False, True, False]


def test_suspended_cards_are_never_due(store: ProgressStore, bank: list[Question]) -> None:
    q = bank[0]
    store.record_answer(ALICE, None, q, "", grade(q, ["missed"], points=[0]), now=T0)
    store.suspend(ALICE, 1)
    assert store.due_count(ALICE, now=T0) == 0 and store.cards(ALICE)[0].suspended
    store.suspend(ALICE, 1, suspended=False)
    assert store.due_count(ALICE, now=T0) == 1


# --------------------------------------------------------------------------------------
# Learners
# --------------------------------------------------------------------------------------


def test_learners_never_see_each_others_data(store: ProgressStore, bank: list[Question]) -> None:
    q = bank[0]
    alice_interview = store.start_interview(ALICE, now=T0)
    store.record_answer(ALICE, alice_interview.id, q, "alice's answer",
                        grade(q, ["missed"] * len(q.key_points)), now=T0)
    store.add_turn(ALICE, "chat-1", "user", "alice asks", now=T0)
    store.record_answer(BOB, None, q, "bob's answer", grade(q, ["covered"] * len(q.key_points)),
                        now=T0)
    store.add_turn(BOB, "chat-1", "user", "bob asks", now=T0)

    assert [t.text for t in store.conversation(BOB, "chat-1")] == ["bob asks"]
    assert [a.answer for a in store.answers(BOB)] == ["bob's answer"]
    assert store.cards(BOB) == [] and store.due_count(BOB, now=T0) == 0
    assert store.unfinished_interview(BOB) is None
    with pytest.raises(InputError, match="No card 1"):
        store.rate(BOB, 1, 3)  # alice's card 1 is not bob's
    with pytest.raises(InputError, match="No interview"):
        store.finish_interview(BOB, alice_interview.id)
    exported = json.dumps(store.export(BOB))
    assert "alice" not in exported
    store.delete(BOB)
    assert store.learner(BOB) is None and len(store.answers(ALICE)) == 1
    assert store.unfinished_interview(ALICE) == alice_interview


def test_learner_identity_without_accounts(store: ProgressStore) -> None:
    new = new_learner_id()
    assert len(new) >= 22 and new != new_learner_id()
    assert store.learner(new) is None
    assert store.ensure_learner(new, now=T0).created_at == T0
    assert store.rename(new, "  Ada   Lovelace ").name == "Ada Lovelace"
    assert store.rename(new, "").name is None
    with pytest.raises(InputError, match="not a learner id"):
        store.learner("../../etc/passwd")
    with pytest.raises(InputError, match="at most 80"):
        store.rename(new, "x" * 81)


def test_conversations_and_interviews_resume(store: ProgressStore) -> None:
    cite = {"n": 1, "chunk_id": "rag.md#3", "doc": "rag.md", "section": "Chunking",
            "span": [0, 40], "span_text": "Chunks are split on headings."}
    store.add_turn(ALICE, "old", "user", "first chat", now=T0)
    store.add_turn(ALICE, "new", "user", "What is chunking?", now=T0 + timedelta(minutes=1))
    store.add_turn(ALICE, "new", "assistant", "Splitting notes [1].", [cite],
                   now=T0 + timedelta(minutes=1))
    latest = store.conversation(ALICE)
    assert [(t.role, t.text) for t in latest] == [("user", "What is chunking?"),
                                                  ("assistant", "Splitting notes [1].")]
    assert latest[1].citations == (cite,)
    assert latest[1].unsupported == () and latest[1].corrected == ()
    assert [t.text for t in store.conversation(ALICE, "old")] == ["first chat"]

    interview = store.start_interview(ALICE, ["rag"], {"asked": []}, now=T0)
    store.save_interview_state(ALICE, interview.id, {"asked": ["rag-001"], "stage": "answer"})
    resumed = store.unfinished_interview(ALICE)
    assert resumed is not None and resumed.state == {"asked": ["rag-001"], "stage": "answer"}
    store.finish_interview(ALICE, interview.id, now=T0 + timedelta(minutes=5))
    assert store.unfinished_interview(ALICE) is None


def test_two_tabs_cannot_undo_each_others_interview(store: ProgressStore) -> None:
    """Two tabs of one learner resume the same interview; the first to save moves it on, and
    the other's save is refused with what to do, instead of silently undoing that progress."""
    interview = store.start_interview(ALICE, ["rag"], {"asked": []}, now=T0)
    here = store.unfinished_interview(ALICE)
    there = store.unfinished_interview(ALICE)
    assert here is not None and there is not None and here.revision == there.revision == 0
    moved = store.save_interview_state(ALICE, interview.id, {"asked": ["rag-001"]}, here.revision)
    assert moved == 1
    with pytest.raises(InterviewMovedOnError, match="reload the page"):
        store.save_interview_state(ALICE, interview.id, {"asked": ["rag-007"]}, there.revision)
    resumed = store.unfinished_interview(ALICE)
    assert resumed is not None and resumed.state == {"asked": ["rag-001"]} and resumed.revision == 1
    # The tab that saved goes on saving; a reload picks up the latest revision.
    assert store.save_interview_state(ALICE, interview.id, {"asked": ["rag-001", "rag-002"]}, moved) == 2


# --------------------------------------------------------------------------------------
# Export, delete, import
# --------------------------------------------------------------------------------------


def fill(store: ProgressStore, bank: list[Question], learner: str) -> None:
    q1, q2 = bank[0], bank[40]
    interview = store.start_interview(learner, [q1.topic, q2.topic], {"n": 2}, now=T0)
    store.add_turn(learner, "c1", "user", "What is top-p?", now=T0)
    store.add_turn(learner, "c1", "assistant", "It keeps [1] the smallest set… It was invented in 2019.",
                   [{"n": 1, "chunk_id": "x", "doc": "d.md", "section": "S", "span": [0, 5],
                     "span_text": "span"}], now=T0,
                   unsupported=["It was invented in 2019."], corrected=["Top-p keeps a fixed number."])
    store.record_answer(learner, interview.id, q1, "an answer with “quotes”",
                        grade(q1, ["covered", "missed", "contradicted"], points=[0, 1, 2]), now=T0)
    store.record_answer(learner, interview.id, q2, "another",
                        grade(q2, ["partial"] * len(q2.key_points)), now=T0 + timedelta(minutes=3))
    store.finish_interview(learner, interview.id, now=T0 + timedelta(minutes=4))
    store.rate(learner, 1, 3, now=T0 + timedelta(minutes=5))
    store.rate(learner, 2, 1, now=T0 + timedelta(minutes=6))
    store.rename(learner, "Ada")


def test_export_delete_import_restores_everything(store: ProgressStore, bank: list[Question]) -> None:
    fill(store, bank, ALICE)
    before = {"turns": store.conversation(ALICE, "c1"), "answers": store.answers(ALICE),
              "cards": store.cards(ALICE), "learner": store.learner(ALICE)}
    exported = json.loads(json.dumps(store.export(ALICE)))  # JSON-serialisable as it is
    assert exported["format"] == "interview-tutor progress" and exported["version"] == 1
    assert sum(len(c["reviews"]) for c in exported["cards"]) == 2

    assert store.delete(ALICE) and not store.delete(ALICE)
    assert store.learner(ALICE) is None and store.answers(ALICE) == [] and store.cards(ALICE) == []
    with sqlite3.connect(store.path) as raw:
        left = [raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in
                ("turns", "interviews", "answers", "verdicts", "cards", "review_log")]
    assert left == [0] * 6

    assert store.import_(exported) == ALICE
    after = {"turns": store.conversation(ALICE, "c1"), "answers": store.answers(ALICE),
             "cards": store.cards(ALICE), "learner": store.learner(ALICE)}
    assert after == before
    assert after["turns"][1].unsupported == ("It was invented in 2019.",)
    assert after["turns"][1].corrected == ("Top-p keeps a fixed number.",)
    assert store.export(ALICE) == exported


def test_an_export_from_before_the_answer_flags_imports_without_them(
        store: ProgressStore, bank: list[Question]) -> None:
    fill(store, bank, ALICE)
    exported = store.export(ALICE)
    for turn in exported["turns"]:  # as an export written before schema v3 looks
        del turn["unsupported"], turn["corrected"]
    store.delete(ALICE)
    store.import_(exported)
    assert [(t.unsupported, t.corrected) for t in store.conversation(ALICE, "c1")] == [((), ())] * 2


def test_reimport_is_idempotent_and_can_take_a_new_id(store: ProgressStore,
                                                      bank: list[Question]) -> None:
    fill(store, bank, ALICE)
    exported = store.export(ALICE)
    store.import_(exported)
    store.import_(exported)
    assert store.export(ALICE) == exported

    # Into another browser's id, beside the original: a copy, with the same card numbers.
    assert store.import_(exported, learner_id=BOB) == BOB
    assert [c.id for c in store.cards(BOB)] == [c.id for c in store.cards(ALICE)]
    assert store.export(BOB) | {"learner": None} == exported | {"learner": None}

    # A browser that went on after the export keeps what it did since.
    q = bank[5]
    store.record_answer(ALICE, None, q, "new", grade(q, ["missed"] * len(q.key_points)),
                        now=T0 + timedelta(days=1))
    store.rate(ALICE, 1, 4, now=T0 + timedelta(days=1))
    newer = store.cards(ALICE)
    store.import_(exported)
    assert store.cards(ALICE) == newer and len(store.answers(ALICE)) == 3


def test_a_damaged_export_is_refused_whole(store: ProgressStore, bank: list[Question]) -> None:
    fill(store, bank, ALICE)
    exported = store.export(ALICE)
    store.delete(ALICE)
    with pytest.raises(InputError, match="not an interview-tutor progress export"):
        store.import_({"learner": {"id": ALICE}})
    damaged = json.loads(json.dumps(exported))
    damaged["answers"][1]["verdicts"][0]["verdict"] = "brilliant"
    with pytest.raises(InputError, match="damaged"):
        store.import_(damaged)
    assert store.learner(ALICE) is None  # rolled back: not even the learner row


# --------------------------------------------------------------------------------------
# The file: migrations, crashes, several processes
# --------------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE learners (id TEXT PRIMARY KEY, name TEXT, created_at TEXT NOT NULL);
CREATE TABLE turns (learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
  id TEXT NOT NULL, conversation_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), text TEXT NOT NULL,
  citations TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, PRIMARY KEY (learner_id, id));
CREATE INDEX turns_by_conversation ON turns(learner_id, conversation_id, created_at);
CREATE TABLE interviews (learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
  id TEXT NOT NULL, topics TEXT NOT NULL DEFAULT '[]', started_at TEXT NOT NULL,
  finished_at TEXT, state TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (learner_id, id));
CREATE TABLE answers (learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
  id TEXT NOT NULL, interview_id TEXT, question_id TEXT NOT NULL,
  is_follow_up INTEGER NOT NULL DEFAULT 0, answer TEXT NOT NULL, score REAL NOT NULL,
  method TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (learner_id, id),
  FOREIGN KEY (learner_id, interview_id) REFERENCES interviews(learner_id, id) ON DELETE CASCADE);
CREATE TABLE verdicts (learner_id TEXT NOT NULL, answer_id TEXT NOT NULL,
  question_id TEXT NOT NULL, point_index INTEGER NOT NULL, point TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('covered', 'partial', 'missed', 'contradicted')),
  learner_sentence TEXT, source TEXT, created_at TEXT NOT NULL,
  PRIMARY KEY (learner_id, answer_id, point_index),
  FOREIGN KEY (learner_id, answer_id) REFERENCES answers(learner_id, id) ON DELETE CASCADE);
CREATE INDEX verdicts_by_point ON verdicts(learner_id, question_id, point_index);
INSERT INTO learners VALUES ('alice-browser-id', 'Ada', '2026-01-01T00:00:00.000000+00:00');
INSERT INTO turns VALUES ('alice-browser-id', 't1', 'c1', 'assistant', 'An old answer [1].',
  '[]', '2026-01-01T00:00:00.000000+00:00');
INSERT INTO answers VALUES ('alice-browser-id', 'a1', NULL, 'rag-001', 0, 'old answer', 2.5,
  'embedding', '2026-01-01T00:00:00.000000+00:00');
INSERT INTO verdicts VALUES ('alice-browser-id', 'a1', 'rag-001', 0, 'a point', 'missed', NULL,
  NULL, '2026-01-01T00:00:00.000000+00:00');
PRAGMA user_version = 1;
"""


def test_a_v1_database_is_migrated_and_keeps_its_rows(tmp_path: Path, bank: list[Question]) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as raw:
        raw.executescript(V1_SCHEMA)
    with ProgressStore(path) as store:
        [old] = store.answers(ALICE)
        assert old.answer == "old answer" and old.verdicts[0].verdict == "missed"
        assert store.learner(ALICE) is not None and store.cards(ALICE) == []
        # A turn from before the answer check was stored: no flags, shown as it was.
        [turn] = store.conversation(ALICE, "c1")
        assert turn.text == "An old answer [1]." and turn.unsupported == turn.corrected == ()
        q = bank[0]
        store.record_answer(ALICE, None, q, "", grade(q, ["missed"], points=[0]))
        assert store.due_count(ALICE) == 1
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProgressStoreError, match="newer interview-tutor"):
        ProgressStore(path)


WRITER = """
import sys, time
from pathlib import Path
from tutor.config import REPO_DIR
from tutor.interview.grades import Grade, PointGrade
from tutor.interview.knowledge import load_questions
from tutor.memory.progress import ProgressStore

path, learner, start, step, count = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
go = Path(path + ".go")
bank = load_questions(REPO_DIR / "corpus")
store = ProgressStore(Path(path))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
i = start
while count < 0 or i < start + count * step:
    q = bank[i % len(bank)]
    grade = Grade(q.id, 0.0, [PointGrade(k, p.point, "missed", None, 0.0, None)
                              for k, p in enumerate(q.key_points)], "", "test")
    answer = store.record_answer(learner, None, q, f"answer {i}", grade)
    print(answer.id, i, len(q.key_points), flush=True)  # printed only once committed
    i += step
"""


def writer(path: Path, learner: str, start: int, step: int, count: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), learner, str(start),
                                str(step), str(count)], stdout=subprocess.PIPE, text=True,
                               cwd=REPO_DIR)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def whole(path: Path, bank: list[Question]) -> dict[str, tuple[str, int]]:
    """Every answer in the file with its text and verdict count, after checking the file."""
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = raw.execute("SELECT a.id, a.answer, a.question_id, count(v.point_index) FROM "
                           "answers a LEFT JOIN verdicts v ON v.answer_id = a.id GROUP BY a.id"
                           ).fetchall()
        for (fsrs,) in raw.execute("SELECT fsrs FROM cards"):
            Card.from_dict(json.loads(fsrs))
    points = {q.id: len(q.key_points) for q in bank}
    for _, _, question_id, verdicts in rows:
        assert verdicts == points[question_id]  # no answer without all its verdicts
    return {r[0]: (r[1], r[3]) for r in rows}


def test_a_kill_during_writes_loses_no_committed_row(tmp_path: Path, bank: list[Question]) -> None:
    path = tmp_path / FILE_NAME
    process = writer(path, ALICE, 0, 1, -1)
    Path(f"{path}.go").touch()
    assert process.stdout is not None
    committed = [process.stdout.readline().split() for _ in range(40)]
    time.sleep(0.05)  # mid-way through some later write
    os.kill(process.pid, signal.SIGKILL)
    # Only whole lines: the kill may cut the last one short.
    committed += [line.split() for line in process.stdout.read().split("\n")[:-1]]
    assert process.wait() == -signal.SIGKILL

    found = whole(path, bank)
    for answer_id, i, points in committed:
        assert found[answer_id] == (f"answer {i}", int(points))
    with ProgressStore(path) as store:  # opens, and goes on writing
        q = bank[0]
        store.record_answer(ALICE, None, q, "after", grade(q, ["missed"], points=[0]))
        assert len(store.answers(ALICE)) == len(found) + 1


def test_two_processes_write_to_one_file_at_once(tmp_path: Path, bank: list[Question]) -> None:
    path = tmp_path / FILE_NAME
    # The same learner in both, on interleaved questions: cards are numbered per learner
    # under the write lock, so the two processes must never take the same number.
    writers = [writer(path, ALICE, start, 2, 40) for start in (0, 1)]
    Path(f"{path}.go").touch()
    outputs = [p.communicate(timeout=120)[0] for p in writers]
    assert [p.returncode for p in writers] == [0, 0]
    assert [len(out.splitlines()) for out in outputs] == [40, 40]
    assert len(whole(path, bank)) == 80
    with ProgressStore(path) as store:
        cards = store.cards(ALICE)
        expected = sum(len(bank[i % len(bank)].key_points) for i in range(80))
        assert len(cards) == expected and sorted(c.id for c in cards) == list(range(1, expected + 1))


# --------------------------------------------------------------------------------------
# Readiness
# --------------------------------------------------------------------------------------


def question(qid: str, n: int) -> Question:
    topic = qid.rsplit("-", 1)[0]
    return Question.model_validate({
        "id": qid, "topic": topic, "level": "fundamental", "kind": "conceptual",
        "question": f"What do you know about {topic}?",
        "answer": "It is a made-up topic for tests. It has a few points worth knowing.",
        "key_points": [{"point": f"{topic} key point number {i}",
                        "source": {"file": f"{topic}.md", "section": "Main"}} for i in range(n)]})


def test_readiness_numbers_match_a_hand_computation(store: ProgressStore) -> None:
    bank = [question("alpha-001", 3), question("alpha-002", 3), question("beta-001", 4)]
    a1, _, b1 = bank
    store.record_answer(ALICE, None, a1, "", grade(a1, ["covered", "partial", "missed"]), now=T0)
    day1 = T0 + timedelta(days=1)
    store.record_answer(ALICE, None, a1, "", grade(a1, ["covered"], points=[2]), follow_up=True,
                        now=day1)
    store.record_answer(ALICE, None, b1, "", grade(b1, ["covered"] * 4), now=T0)
    now = T0 + timedelta(days=30)  # the half-life: a verdict from T0 counts half

    readiness = store.readiness(ALICE, bank, now=now, titles={"alpha": "Alpha things"})
    alpha, beta = readiness.topic("alpha"), readiness.topic("beta")
    assert (alpha.title, alpha.points, alpha.answered, alpha.coverage) == ("Alpha things", 6, 3, 0.5)
    mastery = (0.5 + 0.5 * 0.5 + 0.5 ** (29 / 30)) / 3  # covered, partial (T0); covered (day 1)
    assert alpha.mastery == pytest.approx(mastery)
    assert alpha.readiness == pytest.approx(0.5 * mastery)
    assert alpha.recency_days == pytest.approx(29) and alpha.last_answered_at == day1
    assert alpha.due_cards == 2  # point 1 (partial), point 2 (missed, then reviewed good)
    assert (beta.title, beta.coverage, beta.mastery, beta.due_cards) == ("beta", 1.0, 0.5, 0)
    assert readiness.due == 2 and readiness.practise_next == "alpha"

    nothing = store.readiness(BOB, bank, now=now)
    assert [t.mastery for t in nothing.topics] == [None, None] and nothing.due == 0
    assert nothing.practise_next == "alpha"  # the least covered, first by name
    as_json = json.loads(json.dumps(to_json(readiness)))
    assert as_json["practise_next"] == {"topic": "alpha", "title": "Alpha things"}
    assert as_json["topics"][0]["coverage"] == 0.5 and as_json["topics"][1]["recency_days"] == 30.0


def topic(name: str, *, mastery: float | None, due: int = 0, answered: int = 1) -> TopicReadiness:
    return TopicReadiness(name, name, 4, answered if mastery is not None else 0, mastery, None,
                          None, due)


def test_practise_next_follows_its_documented_order() -> None:
    # 1. due cards first, the lowest mastery among them (ties: more due)
    assert practise_next([topic("a", mastery=0.1), topic("b", mastery=0.6, due=1),
                          topic("c", mastery=0.6, due=3)]) == "c"
    # 2. nothing due: the weakest answered topic below MASTERED
    assert practise_next([topic("a", mastery=None), topic("b", mastery=0.7),
                          topic("c", mastery=0.3)]) == "c"
    # 3. all answered ones mastered: the least covered
    assert practise_next([topic("a", mastery=0.9, answered=4), topic("b", mastery=0.9, answered=2),
                          topic("c", mastery=None)]) == "c"
    # 4. everything covered and mastered: nothing to propose
    assert practise_next([topic("a", mastery=0.95, answered=4)]) is None


def test_due_in_reads_like_a_sentence() -> None:
    assert due_in(T0, T0) == "now"
    assert due_in(T0 + timedelta(minutes=10), T0) == "in 10 min"
    assert due_in(T0 + timedelta(hours=5), T0) == "in 5 h"
    assert due_in(T0 + timedelta(days=1), T0) == "in 1 day (03 Mar 2026)"


# --------------------------------------------------------------------------------------
# The CLI over the same store
# --------------------------------------------------------------------------------------


def test_cli_progress_review_and_exports(tmp_path: Path, bank: list[Question]) -> None:
    data = tmp_path / "data"
    with ProgressStore(data / FILE_NAME) as store:
        fill(store, bank, ALICE)
        due = store.due_count(ALICE)
        cards = len(store.cards(ALICE))
    topics = sorted({q.topic for q in bank})

    done = offline_cli("progress", "--json", data=data)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["learner"] == {"id": ALICE, "name": "Ada"} and out["due"] == due
    assert [t["topic"] for t in out["topics"]] == topics
    assert out["topics"][0]["title"] == "Decoding and sampling"
    assert out["practise_next"]["title"] in {t["title"] for t in out["topics"] if t["due_cards"]}

    done = offline_cli("progress", data=data)
    assert done.returncode == 0 and "Decoding and sampling" in done.stdout
    assert f"Cards due for review: {due}" in done.stdout and "Practise next: " in done.stdout

    deck = tmp_path / "deck.apkg"
    done = offline_cli("review", "--export-anki", str(deck), data=data)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(deck) as apkg:
        assert "collection.anki2" in apkg.namelist()
        apkg.extract("collection.anki2", tmp_path)
    with sqlite3.connect(tmp_path / "collection.anki2") as anki:
        notes = anki.execute("SELECT flds FROM notes").fetchall()
    assert len(notes) == cards
    for (fields,) in notes:  # front and back, as HTML: line breaks kept, nothing raw
        front, back = fields.split("\x1f")
        assert "<br>" in front and "<br>" in back and "\n" not in fields

    # Review in the terminal: Enter shows the back, 3 (good) moves each card minutes on.
    done = offline_cli("review", data=data, stdin="\n3\n" * due)
    assert done.returncode == 0, done.stderr
    assert f"{due} card(s) reviewed, 0 due now; the next is due in " in done.stdout

    saved = tmp_path / "progress.json"
    assert offline_cli("review", "--export-json", str(saved), data=data).returncode == 0
    assert offline_cli("review", "--delete", data=data).returncode == 1  # needs --learner
    done = offline_cli("review", "--delete", "--learner", ALICE, data=data)
    assert done.returncode == 0 and "Deleted" in done.stdout
    assert "No learner has progress" in offline_cli("progress", data=data).stderr
    done = offline_cli("review", "--import-json", str(saved), data=data)
    assert done.returncode == 0 and f"as learner {ALICE}" in done.stdout
    done = offline_cli("review", "--import-json", str(saved), "--learner", BOB, data=data)
    assert done.returncode == 0
    done = offline_cli("progress", data=data)  # two learners: listed, one chosen by --learner
    assert done.returncode == 0 and ALICE in done.stdout and BOB in done.stdout
    assert "choose one with --learner" in done.stdout


def test_cli_errors_are_one_line_with_the_fix(tmp_path: Path) -> None:
    done = offline_cli("progress", data=tmp_path / "empty")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "No progress is stored" in done.stderr and "--import-json" in done.stderr
    assert not (tmp_path / "empty" / FILE_NAME).exists()  # reading created nothing
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    done = offline_cli("review", "--import-json", str(bad), data=tmp_path / "d")
    assert done.returncode == 1 and "not a progress export" in done.stderr
