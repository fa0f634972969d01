"""Learner memory: what each learner asked, answered and missed, kept across reloads.

`ProgressStore` is the one way in (SQLite in the data dir, `tutor.memory.progress_db`). A learner
has no account: the browser keeps a random id (`new_learner_id`, 128 bits) and whoever
holds it is that learner, so the id must never be shown to other learners or logged.
Every method takes the learner id and touches only that learner's rows; the one exception
is `learners()`, for the local CLI.

Each key point an answer misses, half makes or gets wrong becomes a review card
(`tutor.memory.review`), scheduled by FSRS. Later verdicts on the same point review that card
(covered = good, partial = hard, missed or wrong = again); it is never deleted.

Thread safety: one connection and one lock per store. Every call takes milliseconds, so
learners do not queue noticeably; a connection per thread would let reads overlap, but
Gradio's worker threads come and go, each leaving a connection behind to close. Several
processes (app replicas, the CLI beside the app) share the file through SQLite's own
locking: one writer at a time, waiting up to `BUSY_TIMEOUT_MS` for another.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fsrs import Rating, Scheduler

from tutor.config import Settings
from tutor.errors import InputError, InterviewMovedOnError
from tutor.interview.grades import Grade
from tutor.interview.knowledge import Question
from tutor.interview.verdicts import Verdict
from tutor.memory.progress_db import connect, iso, migrate, parse_iso, source_from_json, transaction
from tutor.memory.progress_records import (
    ChatTurn,
    InterviewRecord,
    Learner,
    Role,
    StoredAnswer,
    StoredVerdict,
    check_learner_id,
)
from tutor.memory.progress_transfer import export_rows, exported_id, import_rows
from tutor.memory.readiness import Readiness, readiness_map
from tutor.memory.review import RATING_NAMES, ReviewCard, load_cards, no_card, review, update_card
from tutor.records import to_json

FILE_NAME = "progress.sqlite3"
_NAME_CHARS = 80


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return now.astimezone(UTC)


class ProgressStore:
    """Learners' turns, interviews, answers, verdicts and review cards (module docstring)."""

    def __init__(self, path: Path, *, half_life_days: float = 30.0,
                 scheduler: Scheduler | None = None) -> None:
        """`scheduler`: FSRS's defaults (90 % retention, fuzzed intervals) unless given."""
        self.path = path
        self.half_life_days = half_life_days
        self.scheduler = scheduler or Scheduler()
        self._lock = threading.Lock()
        self._conn = connect(path)
        try:
            migrate(self._conn, path)
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open(cls, settings: Settings) -> ProgressStore:
        return cls(settings.data_dir / FILE_NAME, half_life_days=settings.progress_half_life_days)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    @contextmanager
    def _write(self, learner: str, now: datetime) -> Iterator[sqlite3.Connection]:
        """A write transaction for `learner`, who is created if new."""
        check_learner_id(learner)
        with self._lock, transaction(self._conn) as conn:
            conn.execute("INSERT INTO learners (id, created_at) VALUES (?, ?) "
                         "ON CONFLICT DO NOTHING",
                         (learner, iso(now)))
            yield conn

    # -- learners ------------------------------------------------------------------------

    def learner(self, learner: str) -> Learner | None:
        check_learner_id(learner)
        found = self._learners("WHERE l.id = ?", (learner,))
        return found[0] if found else None

    def ensure_learner(self, learner: str, now: datetime | None = None) -> Learner:
        """The learner, created if new (a browser's first visit)."""
        with self._write(learner, _now(now)):
            pass  # the write transaction itself adds the learner
        found = self.learner(learner)
        assert found is not None
        return found

    def rename(self, learner: str, name: str) -> Learner:
        """Name the learner ("" removes the name); names are for the learner's own eyes."""
        name = " ".join(name.split())
        if len(name) > _NAME_CHARS:
            raise InputError(f"A name has at most {_NAME_CHARS} characters: shorten it.")
        with self._write(learner, _now(None)) as conn:
            conn.execute("UPDATE learners SET name = ? WHERE id = ?", (name or None, learner))
        found = self.learner(learner)
        assert found is not None
        return found

    def learners(self) -> list[Learner]:
        """Every learner in this data dir, most recently active first. For the local CLI
        only: the app must never list learners to a browser."""
        return sorted(self._learners("", ()), key=lambda x: x.last_active_at, reverse=True)

    def _learners(self, where: str, args: tuple[str, ...]) -> list[Learner]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT l.id, l.name, l.created_at, max(l.created_at, "
                " coalesce((SELECT max(created_at) FROM turns WHERE learner_id = l.id), ''),"
                " coalesce((SELECT max(created_at) FROM answers WHERE learner_id = l.id), ''),"
                " coalesce((SELECT max(reviewed_at) FROM review_log WHERE learner_id = l.id), '')"
                f") AS active FROM learners l {where}", args).fetchall()
        return [Learner(r["id"], r["name"], parse_iso(r["created_at"]), parse_iso(r["active"]))
                for r in rows]

    def delete(self, learner: str) -> bool:
        """Forget the learner and everything they did; False if there was nothing to forget."""
        check_learner_id(learner)
        with self._lock:
            with transaction(self._conn) as conn:
                gone = conn.execute("DELETE FROM learners WHERE id = ?", (learner,)).rowcount
            # Move the deleted pages out of the write-ahead log into the (zeroed) file now,
            # rather than leaving the old rows readable in the log until the next checkpoint.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(gone)

    # -- chat ----------------------------------------------------------------------------

    def add_turn(self, learner: str, conversation_id: str, role: Role, text: str,
                 citations: Sequence[Mapping[str, Any]] = (), now: datetime | None = None, *,
                 unsupported: Sequence[str] = (), corrected: Sequence[str] = ()) -> ChatTurn:
        at = _now(now)
        turn = ChatTurn(uuid.uuid4().hex, conversation_id, role, text,
                        tuple(dict(c) for c in citations), at, tuple(unsupported), tuple(corrected))
        with self._write(learner, at) as conn:
            conn.execute("INSERT INTO turns (learner_id, id, conversation_id, role, text, "
                         "citations, created_at, unsupported, corrected) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (learner, turn.id, conversation_id, role, text,
                          json.dumps(turn.citations, ensure_ascii=False), iso(at),
                          json.dumps(turn.unsupported, ensure_ascii=False),
                          json.dumps(turn.corrected, ensure_ascii=False)))
        return turn

    def conversation(self, learner: str, conversation_id: str | None = None) -> list[ChatTurn]:
        """The turns of one conversation in order; by default the one with the latest turn."""
        check_learner_id(learner)
        with self._read() as conn:
            if conversation_id is None:
                row = conn.execute("SELECT conversation_id FROM turns WHERE learner_id = ? "
                                   "ORDER BY created_at DESC, rowid DESC LIMIT 1",
                                   (learner,)).fetchone()
                if row is None:
                    return []
                conversation_id = str(row[0])
            rows = conn.execute("SELECT * FROM turns WHERE learner_id = ? AND conversation_id "
                                "= ? ORDER BY created_at, rowid",
                                (learner, conversation_id)).fetchall()
        return [ChatTurn(r["id"], r["conversation_id"], r["role"], r["text"],
                         tuple(json.loads(r["citations"])), parse_iso(r["created_at"]),
                         tuple(json.loads(r["unsupported"])), tuple(json.loads(r["corrected"])))
                for r in rows]

    # -- interviews ----------------------------------------------------------------------

    def start_interview(self, learner: str, topics: Sequence[str] = (),
                        state: Mapping[str, Any] | None = None, now: datetime | None = None
                        ) -> InterviewRecord:
        at = _now(now)
        record = InterviewRecord(uuid.uuid4().hex, tuple(topics), at, None, dict(state or {}))
        with self._write(learner, at) as conn:
            conn.execute("INSERT INTO interviews (learner_id, id, topics, started_at, state) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (learner, record.id, json.dumps(record.topics), iso(at),
                          json.dumps(record.state, ensure_ascii=False)))
        return record

    def save_interview_state(self, learner: str, interview_id: str, state: Mapping[str, Any],
                             revision: int | None = None) -> int:
        """Save the state the interview resumes from; returns its new revision. With
        `revision` (the one this copy of the interview was loaded or last saved at), a save
        over a newer state, written meanwhile from another tab or window, is refused rather
        than silently undoing the questions answered there."""
        with self._write(learner, _now(None)) as conn:  # BEGIN IMMEDIATE: read, check, write
            row = conn.execute("SELECT revision FROM interviews WHERE learner_id = ? AND id = ?",
                               (learner, interview_id)).fetchone()
            if row is None:
                raise InputError(f"No interview {interview_id} for this learner: start one first.")
            if revision is not None and row["revision"] != revision:
                raise InterviewMovedOnError(
                    "this interview went on in another tab or window since this page showed it: "
                    "reload the page to continue it from there (your graded answers are kept).")
            conn.execute("UPDATE interviews SET state = ?, revision = revision + 1 WHERE "
                         "learner_id = ? AND id = ?",
                         (json.dumps(dict(state), ensure_ascii=False), learner, interview_id))
        return int(row["revision"]) + 1

    def finish_interview(self, learner: str, interview_id: str,
                         now: datetime | None = None) -> None:
        self._update_interview(learner, interview_id, "finished_at = ?", iso(_now(now)))

    def _update_interview(self, learner: str, interview_id: str, assignment: str,
                          value: str) -> None:
        with self._write(learner, _now(None)) as conn:
            if not conn.execute(f"UPDATE interviews SET {assignment} WHERE learner_id = ? AND "
                                "id = ?", (value, learner, interview_id)).rowcount:
                raise InputError(f"No interview {interview_id} for this learner: start one first.")

    def unfinished_interview(self, learner: str) -> InterviewRecord | None:
        """The learner's latest interview not yet finished (to resume after a reload)."""
        check_learner_id(learner)
        with self._read() as conn:
            r = conn.execute("SELECT * FROM interviews WHERE learner_id = ? AND finished_at IS "
                             "NULL ORDER BY started_at DESC LIMIT 1", (learner,)).fetchone()
        if r is None:
            return None
        return InterviewRecord(r["id"], tuple(json.loads(r["topics"])), parse_iso(r["started_at"]),
                               None, json.loads(r["state"]), r["revision"])

    # -- answers -------------------------------------------------------------------------

    def record_answer(self, learner: str, interview_id: str | None, question: Question,
                      answer: str, grade: Grade, *, follow_up: bool = False,
                      now: datetime | None = None) -> StoredAnswer:
        """Store a graded answer and its verdicts, and bring the learner's cards up to date:
        a new card for each point not covered that has none, a review of the card of each
        point that has one. `interview_id` None: an answer outside an interview."""
        if grade.question_id != question.id:
            raise ValueError(f"a grade of {grade.question_id} recorded as {question.id}")
        at = _now(now)
        verdicts = tuple(StoredVerdict(v.index, v.point, v.verdict, v.learner_sentence, v.source)
                         for v in grade.verdicts)
        stored = StoredAnswer(uuid.uuid4().hex, interview_id, question.id, follow_up, answer,
                              grade.score, grade.method, at, verdicts)
        with self._write(learner, at) as conn:
            conn.execute("INSERT INTO answers (learner_id, id, interview_id, question_id, "
                         "is_follow_up, answer, score, method, created_at) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (learner, stored.id, interview_id, question.id, int(follow_up), answer,
                          grade.score, grade.method, iso(at)))
            for v in verdicts:
                source = json.dumps(to_json(v.source), ensure_ascii=False) if v.source else None
                conn.execute("INSERT INTO verdicts (learner_id, answer_id, question_id, "
                             "point_index, point, verdict, learner_sentence, source, created_at)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (learner, stored.id, question.id, v.point_index, v.point,
                              v.verdict, v.learner_sentence, source, iso(at)))
                update_card(conn, self.scheduler, learner, question, v.point_index, v.verdict,
                            v.source, at)
        return stored

    def answers(self, learner: str) -> list[StoredAnswer]:
        """Every answer of the learner, oldest first, with its verdicts."""
        check_learner_id(learner)
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM answers WHERE learner_id = ? ORDER BY created_at,"
                                " rowid", (learner,)).fetchall()
            points: dict[str, list[StoredVerdict]] = {}
            for v in conn.execute("SELECT * FROM verdicts WHERE learner_id = ? ORDER BY "
                                  "answer_id, point_index", (learner,)):
                points.setdefault(v["answer_id"], []).append(StoredVerdict(
                    v["point_index"], v["point"], v["verdict"], v["learner_sentence"],
                    source_from_json(v["source"])))
        return [StoredAnswer(r["id"], r["interview_id"], r["question_id"], bool(r["is_follow_up"]),
                             r["answer"], r["score"], r["method"], parse_iso(r["created_at"]),
                             tuple(points.get(r["id"], ()))) for r in rows]

    # -- review --------------------------------------------------------------------------

    def cards(self, learner: str) -> list[ReviewCard]:
        return self._cards(learner, "", ())

    def due_cards(self, learner: str, now: datetime | None = None) -> list[ReviewCard]:
        """Cards due now (suspended ones never are), the longest overdue first."""
        return self._cards(learner, "AND suspended = 0 AND due_at <= ?", (iso(_now(now)),))

    def due_count(self, learner: str, now: datetime | None = None) -> int:
        check_learner_id(learner)
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM cards WHERE learner_id = ? AND "
                                    "suspended = 0 AND due_at <= ?",
                                    (learner, iso(_now(now)))).fetchone()[0])

    def card(self, learner: str, card_id: int) -> ReviewCard:
        check_learner_id(learner)
        with self._read() as conn:
            found = load_cards(conn, learner, "AND id = ?", (card_id,))
        if not found:
            raise no_card(card_id)
        return found[0]

    def _cards(self, learner: str, where: str, args: tuple[Any, ...]) -> list[ReviewCard]:
        check_learner_id(learner)
        with self._read() as conn:
            return load_cards(conn, learner, where, args)

    def rate(self, learner: str, card_id: int, rating: int, now: datetime | None = None
             ) -> ReviewCard:
        """The learner's own rating of a card (1 again, 2 hard, 3 good, 4 easy); returns the
        card with its next due date, as FSRS computes it from the card's whole history."""
        if rating not in RATING_NAMES:
            raise InputError(f"Rate a card 1 (again), 2 (hard), 3 (good) or 4 (easy), not {rating}.")
        at = _now(now)
        with self._write(learner, at) as conn:
            if not review(conn, self.scheduler, learner, card_id, Rating(rating), at, "self"):
                raise no_card(card_id)
        return self.card(learner, card_id)

    def suspend(self, learner: str, card_id: int, suspended: bool = True) -> None:
        """Take a card out of review (or put it back) without losing its history."""
        with self._write(learner, _now(None)) as conn:
            if not conn.execute("UPDATE cards SET suspended = ? WHERE learner_id = ? AND id = ?",
                                (int(suspended), learner, card_id)).rowcount:
                raise no_card(card_id)

    # -- readiness -----------------------------------------------------------------------

    def readiness(self, learner: str, bank: Sequence[Question], now: datetime | None = None,
                  titles: Mapping[str, str] | None = None) -> Readiness:
        """The readiness map over `bank` (`tutor.memory.readiness`); `titles`: topic id -> name,
        from `knowledge.topic_titles`."""
        check_learner_id(learner)
        at = _now(now)
        latest: dict[tuple[str, int], tuple[Verdict, datetime]] = {}
        last: dict[str, datetime] = {}
        with self._read() as conn:
            for r in conn.execute("SELECT question_id, point_index, verdict, created_at FROM "
                                  "verdicts WHERE learner_id = ? ORDER BY created_at, rowid",
                                  (learner,)):
                latest[(r[0], r[1])] = (r[2], parse_iso(r[3]))
            for r in conn.execute("SELECT question_id, max(created_at) FROM answers WHERE "
                                  "learner_id = ? GROUP BY question_id", (learner,)):
                last[r[0]] = parse_iso(r[1])
            due = {r[0]: r[1] for r in conn.execute(
                "SELECT question_id, count(*) FROM cards WHERE learner_id = ? AND suspended = 0"
                " AND due_at <= ? GROUP BY question_id", (learner, iso(at)))}
        return readiness_map(bank, latest, last, due, now=at,
                             half_life_days=self.half_life_days, titles=titles)

    # -- export / import -----------------------------------------------------------------

    def export(self, learner: str) -> dict[str, Any]:
        """Everything the learner has, as JSON-ready data (`tutor.memory.progress_transfer`)."""
        check_learner_id(learner)
        with self._read() as conn:
            return export_rows(conn, learner)

    def import_(self, data: Mapping[str, Any], learner_id: str | None = None) -> str:
        """Restore an export, under `learner_id` or the id it was exported from; importing
        the same file again changes nothing. Returns the learner id."""
        learner = learner_id or exported_id(data)
        with self._write(learner, _now(None)) as conn:
            import_rows(conn, learner, data)
        return learner
