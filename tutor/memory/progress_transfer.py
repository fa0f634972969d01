"""A learner's progress as one JSON document: export, and import that restores it.

The document is the learner's rows as stored (timestamps as ISO 8601 text, JSON columns
decoded), with verdicts inside their answers and reviews inside their cards, so it is
readable and needs no ids from other learners. Import inserts what is missing and keeps
what is there, so importing the same file twice, or into a browser that has since done
more, loses nothing and duplicates nothing. A card already present (same question and key
point) takes the imported FSRS state only when that was reviewed more recently.

"ON CONFLICT DO NOTHING", not "INSERT OR IGNORE": the latter also skips rows that break a
CHECK (a verdict "brilliant"), so a damaged file would import in part without a word.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fsrs import Card

from tutor.errors import InputError
from tutor.memory.progress_db import iso, parse_iso

FORMAT = "interview-tutor progress"
VERSION = 1
_FIX = "export it again with `tutor review --export-json` (or the app's Export button)"


def exported_id(data: Mapping[str, Any]) -> str:
    learner = data.get("learner")
    if not isinstance(learner, Mapping) or not isinstance(learner.get("id"), str):
        raise InputError("This is not an interview-tutor progress export (no learner id): "
                         "export it again with `tutor review --export-json`.")
    return str(learner["id"])


def _dicts(conn: sqlite3.Connection, sql: str, learner: str, decode: tuple[str, ...] = ()
           ) -> list[dict[str, Any]]:
    rows = []
    for row in conn.execute(sql, (learner,)):
        d = dict(row)
        del d["learner_id"]
        for key in decode:
            d[key] = json.loads(d[key]) if d[key] is not None else None
        rows.append(d)
    return rows


def export_rows(conn: sqlite3.Connection, learner: str) -> dict[str, Any]:
    me = conn.execute("SELECT name, created_at FROM learners WHERE id = ?", (learner,)).fetchone()
    if me is None:
        raise InputError("No progress is stored for this learner: nothing to export.")
    answers = _dicts(conn, "SELECT * FROM answers WHERE learner_id = ? ORDER BY created_at, rowid",
                     learner)
    verdicts = _dicts(conn, "SELECT * FROM verdicts WHERE learner_id = ? ORDER BY point_index",
                      learner, ("source",))
    for answer in answers:
        answer["is_follow_up"] = bool(answer["is_follow_up"])
        answer["verdicts"] = [{k: v for k, v in row.items() if k not in ("answer_id", "question_id")}
                              for row in verdicts if row["answer_id"] == answer["id"]]
    cards = _dicts(conn, "SELECT * FROM cards WHERE learner_id = ? ORDER BY id", learner,
                   ("source", "fsrs"))
    reviews = _dicts(conn, "SELECT * FROM review_log WHERE learner_id = ? ORDER BY reviewed_at",
                     learner)
    for card in cards:
        card["suspended"] = bool(card["suspended"])
        card["reviews"] = [{k: v for k, v in row.items() if k != "card_id"}
                           for row in reviews if row["card_id"] == card["id"]]
    return {
        "format": FORMAT, "version": VERSION,
        "learner": {"id": learner, "name": me["name"], "created_at": me["created_at"]},
        "turns": _dicts(conn, "SELECT * FROM turns WHERE learner_id = ? ORDER BY created_at, rowid",
                        learner, ("citations", "unsupported", "corrected")),
        "interviews": _dicts(conn, "SELECT * FROM interviews WHERE learner_id = ? ORDER BY "
                             "started_at, rowid", learner, ("topics", "state")),
        "answers": answers,
        "cards": cards,
    }


def import_rows(conn: sqlite3.Connection, learner: str, data: Mapping[str, Any]) -> None:
    """Insert `data` for `learner` (who exists) inside the caller's transaction; a malformed
    document is an InputError, and the transaction rolls back whole."""
    if data.get("format") != FORMAT or not isinstance(data.get("version"), int):
        raise InputError(f"This is not an interview-tutor progress export: {_FIX}.")
    if data["version"] > VERSION:
        raise InputError(f"This export has format v{data['version']}, newer than this "
                         f"interview-tutor reads (v{VERSION}): upgrade interview-tutor.")
    try:
        _import(conn, learner, data)
    except (KeyError, TypeError, ValueError, AttributeError, sqlite3.IntegrityError) as exc:
        raise InputError(f"This progress export is damaged ({type(exc).__name__}: {exc}): "
                         f"{_FIX}.") from exc


def _import(conn: sqlite3.Connection, learner: str, data: Mapping[str, Any]) -> None:
    me = data["learner"]
    conn.execute("UPDATE learners SET name = coalesce(name, ?), created_at = min(created_at, "
                 "coalesce(?, created_at)) WHERE id = ?",
                 (me.get("name"), _at_or_null(me.get("created_at")), learner))
    for i in data["interviews"]:
        conn.execute("INSERT INTO interviews (learner_id, id, topics, started_at, "
                     "finished_at, state, revision) VALUES (?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT DO NOTHING",
                     (learner, i["id"], json.dumps(i["topics"]), _at(i["started_at"]),
                      _at_or_null(i["finished_at"]), json.dumps(i["state"], ensure_ascii=False),
                      int(i.get("revision", 0))))
    for t in data["turns"]:
        # An export from before the answer check was stored has no flags: none are shown.
        conn.execute("INSERT INTO turns (learner_id, id, conversation_id, role, text, citations, "
                     "created_at, unsupported, corrected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT DO NOTHING",
                     (learner, t["id"], t["conversation_id"], t["role"], t["text"],
                      json.dumps(t["citations"], ensure_ascii=False), _at(t["created_at"]),
                      json.dumps(t.get("unsupported", []), ensure_ascii=False),
                      json.dumps(t.get("corrected", []), ensure_ascii=False)))
    for a in data["answers"]:
        conn.execute("INSERT INTO answers (learner_id, id, interview_id, question_id, "
                     "is_follow_up, answer, score, method, created_at) VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     (learner, a["id"], a["interview_id"], a["question_id"],
                      int(a["is_follow_up"]), a["answer"], float(a["score"]), a["method"],
                      _at(a["created_at"])))
        for v in a["verdicts"]:
            conn.execute("INSERT INTO verdicts (learner_id, answer_id, question_id, "
                         "point_index, point, verdict, learner_sentence, source, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         (learner, a["id"], a["question_id"], int(v["point_index"]), v["point"],
                          v["verdict"], v["learner_sentence"], _json_or_null(v["source"]),
                          _at(v["created_at"])))
    for c in data["cards"]:
        _import_card(conn, learner, c)


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _import_card(conn: sqlite3.Connection, learner: str, c: Mapping[str, Any]) -> None:
    Card.from_dict(c["fsrs"])  # refuse a state FSRS cannot read now, not at the next review
    key = (learner, c["question_id"], int(c["point_index"]))
    here = conn.execute("SELECT id, fsrs FROM cards WHERE learner_id = ? AND question_id = ? "
                        "AND point_index = ?", key).fetchone()
    if here is None:
        taken = conn.execute("SELECT 1 FROM cards WHERE learner_id = ? AND id = ?",
                             (learner, c["id"])).fetchone()
        card_id = int(c["id"]) if not taken else conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM cards WHERE learner_id = ?",
            (learner,)).fetchone()[0]
        conn.execute("INSERT INTO cards (learner_id, id, question_id, point_index, front, back, "
                     "source, fsrs, due_at, suspended, created_at) VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (*key[:1], card_id, *key[1:], c["front"], c["back"],
                      _json_or_null(c["source"]), json.dumps(c["fsrs"] | {"card_id": card_id}),
                      _at(c["due_at"]), int(c["suspended"]), _at(c["created_at"])))
    else:
        card_id = here["id"]
        if _last_review(c["fsrs"]) > _last_review(json.loads(here["fsrs"])):
            conn.execute("UPDATE cards SET fsrs = ?, due_at = ?, suspended = ? WHERE "
                         "learner_id = ? AND id = ?",
                         (json.dumps(c["fsrs"] | {"card_id": card_id}), _at(c["due_at"]),
                          int(c["suspended"]), learner, card_id))
    for r in c["reviews"]:
        conn.execute("INSERT INTO review_log (learner_id, card_id, rating, origin, "
                     "reviewed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     (learner, card_id, int(r["rating"]), r["origin"], _at(r["reviewed_at"])))


def _last_review(fsrs: Mapping[str, Any]) -> datetime:
    last = fsrs.get("last_review")
    return parse_iso(last) if last else datetime.min.replace(tzinfo=UTC)


def _at(text: Any) -> str:
    """A timestamp from the document in the store's one text form (they are compared as
    text); a time without a zone is refused rather than guessed."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"time without a time zone: {text}")
    return iso(at)


def _at_or_null(text: Any) -> str | None:
    return None if text is None else _at(text)
