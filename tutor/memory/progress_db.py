"""The learner store's database: one SQLite file in the data dir, its schema and migrations.

Plain `sqlite3`, no ORM: the store is seven tables and a few dozen statements, the schema
itself is the contract that migrations and the Postgres scale-out path (ARCHITECTURE.md)
have to keep, and what matters here (WAL, `BEGIN IMMEDIATE`, `user_version`) is SQLite's
own behaviour, which an ORM would hide without adding anything.

Every learner-owned row carries `learner_id` in its primary key, so the same ids can live
under two learners (an export imported under a new browser id) and no lookup can reach a
row without naming its learner. Deleting a learner cascades to everything they own.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tutor.errors import ProgressStoreError
from tutor.interview.grades import Source
from tutor.records import from_json

log = logging.getLogger(__name__)

# How long a writer waits for another (thread or process) to commit before giving up. Our
# writes take milliseconds; 5 s is far beyond any wait a learner would not notice anyway.
BUSY_TIMEOUT_MS = 5000

# Ordered: MIGRATIONS[n] takes a database from user_version n to n + 1, in one transaction.
# Never edit a migration that has shipped; append one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # v1: learners, chat turns, interviews, answers and their per-key-point verdicts.
    (
        """CREATE TABLE learners (
            id TEXT PRIMARY KEY,
            name TEXT,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE turns (
            learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            text TEXT NOT NULL,
            citations TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            PRIMARY KEY (learner_id, id))""",
        "CREATE INDEX turns_by_conversation ON turns(learner_id, conversation_id, created_at)",
        """CREATE TABLE interviews (
            learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            topics TEXT NOT NULL DEFAULT '[]',
            started_at TEXT NOT NULL,
            finished_at TEXT,
            state TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (learner_id, id))""",
        """CREATE TABLE answers (
            learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            interview_id TEXT,
            question_id TEXT NOT NULL,
            is_follow_up INTEGER NOT NULL DEFAULT 0,
            answer TEXT NOT NULL,
            score REAL NOT NULL,
            method TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (learner_id, id),
            FOREIGN KEY (learner_id, interview_id) REFERENCES interviews(learner_id, id)
                ON DELETE CASCADE)""",
        """CREATE TABLE verdicts (
            learner_id TEXT NOT NULL,
            answer_id TEXT NOT NULL,
            question_id TEXT NOT NULL,
            point_index INTEGER NOT NULL,
            point TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('covered', 'partial', 'missed', 'contradicted')),
            learner_sentence TEXT,
            source TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (learner_id, answer_id, point_index),
            FOREIGN KEY (learner_id, answer_id) REFERENCES answers(learner_id, id)
                ON DELETE CASCADE)""",
        "CREATE INDEX verdicts_by_point ON verdicts(learner_id, question_id, point_index)",
    ),
    # v2: review cards for the points a learner missed, scheduled by FSRS, and their reviews.
    (
        """CREATE TABLE cards (
            learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
            id INTEGER NOT NULL,
            question_id TEXT NOT NULL,
            point_index INTEGER NOT NULL,
            front TEXT NOT NULL,
            back TEXT NOT NULL,
            source TEXT,
            fsrs TEXT NOT NULL,
            due_at TEXT NOT NULL,
            suspended INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            PRIMARY KEY (learner_id, id),
            UNIQUE (learner_id, question_id, point_index))""",
        "CREATE INDEX cards_by_due ON cards(learner_id, suspended, due_at)",
        """CREATE TABLE review_log (
            learner_id TEXT NOT NULL,
            card_id INTEGER NOT NULL,
            rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 4),
            origin TEXT NOT NULL DEFAULT 'self' CHECK (origin IN ('self', 'interview')),
            reviewed_at TEXT NOT NULL,
            PRIMARY KEY (learner_id, card_id, reviewed_at),
            FOREIGN KEY (learner_id, card_id) REFERENCES cards(learner_id, id) ON DELETE CASCADE)""",
    ),
    # v3: what the answer check marked in each answer (sentences no passage says, sentences
    # the notes contradict), so a restored answer shows its ⚠ and ✎ as it did live; and a
    # revision per interview, so that two tabs of one learner cannot undo each other's saves.
    (
        "ALTER TABLE turns ADD COLUMN unsupported TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE turns ADD COLUMN corrected TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE interviews ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the store's settings, for one thread at a time.

    `isolation_level=None`: transactions are opened by `transaction()` below, never implicitly.
    WAL lets readers go on while one writer commits, which is what a web app with many
    learners needs; `synchronous=FULL` fsyncs every commit, so a commit the learner saw
    survives a power cut too, not only a killed process (a learner writes a few rows a
    minute, so the fsyncs cost nothing one notices). `secure_delete` overwrites deleted
    rows, so a learner who deletes their progress does not leave it in free pages.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False only so that `ProgressStore.close()` can close every
        # thread's connection; each is still used by the one thread that opened it.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.OperationalError(f"journal mode is {mode}, not wal")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
    except (OSError, sqlite3.Error) as exc:
        raise ProgressStoreError(
            f"Cannot open the learner store {path} ({exc}): make sure {path.parent} is a "
            "writable folder, or point TUTOR_DATA_DIR at one.") from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, `BEGIN IMMEDIATE`: it takes the write lock before its first
    read, so a read-modify-write (rating a card, numbering a new card) cannot interleave with
    another writer. (`with conn:` opens a deferred transaction, and a deferred reader that
    later writes fails at once with "database is locked" when another writer got in between:
    busy_timeout cannot help it.) Commits on success, rolls back on any error."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        # Only a lock held too long is "busy": a read-only file fails here too, and says so.
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _unwritable(exc) from exc
        raise ProgressStoreError(
            f"The learner store is busy: another process held it for over "
            f"{BUSY_TIMEOUT_MS // 1000} s ({exc}); try again.") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:  # SQLite rolls back on its own after some errors (disk full)
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):  # full disk, read-only file, I/O error
            raise _unwritable(exc) from exc
        raise


def _unwritable(exc: sqlite3.OperationalError) -> ProgressStoreError:
    return ProgressStoreError(
        f"Could not write the learner store ({exc}): free some disk space, or make the data "
        "dir writable; nothing of this change was saved.")


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration (so a crash leaves
    the database at a version, never between two). Two
    processes opening a new file at once are safe: each re-reads the version under the
    write lock before applying anything."""
    found = _version(conn)
    if found > SCHEMA_VERSION:
        raise ProgressStoreError(
            f"The learner store {path} was written by a newer interview-tutor (schema "
            f"v{found}; this one knows up to v{SCHEMA_VERSION}): upgrade interview-tutor.")
    while (version := _version(conn)) < SCHEMA_VERSION:
        with transaction(conn):
            if _version(conn) != version:  # another process migrated meanwhile
                continue
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            # Part of the transaction: rolled back with the tables if anything fails.
            conn.execute(f"PRAGMA user_version = {version + 1}")
        log.info("learner store %s migrated to schema v%d", path, version + 1)


def iso(at: datetime) -> str:
    """The one text form of every stored time (UTC, microseconds), so that SQL comparing
    them as text compares them in time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def source_from_json(text: str | None) -> Source | None:
    return from_json(Source, json.loads(text)) if text else None


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])
