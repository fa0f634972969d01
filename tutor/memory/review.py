"""Review cards: one per key point a learner missed, what it shows, and its Anki export.

A card's front asks the bank question again, aimed at the one point: the point as a cloze
(its longer words cut to their first letter, as the interview's hints do), so the learner
recalls the point itself rather than recognising it. The back is the point with the
passage that backs it. Scheduling is FSRS (the `fsrs` package), self-rated 1-4 as in Anki:
`update_card` and `review` keep each card's FSRS state in the learner store, inside the
transaction of the `tutor.memory.progress` call that changes it.
"""

from __future__ import annotations

import hashlib
import html
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fsrs import Card, Rating, Scheduler

from tutor.errors import InputError
from tutor.interview.grades import Source
from tutor.interview.knowledge import Question
from tutor.interview.verdicts import Verdict
from tutor.memory.progress_db import iso, parse_iso, source_from_json
from tutor.records import to_json

RATING_NAMES: dict[int, str] = {1: "again", 2: "hard", 3: "good", 4: "easy"}
# A graded interview answer on a point that already has a card counts as a review of it:
# recalled cold, in the learner's own words, which is stronger evidence than a self-rating.
VERDICT_RATING: dict[Verdict, Rating] = {
    "covered": Rating.Good, "partial": Rating.Hard, "missed": Rating.Again,
    "contradicted": Rating.Again,
}
NEEDS_CARD: frozenset[Verdict] = frozenset({"partial", "missed", "contradicted"})


@dataclass(frozen=True, slots=True)
class ReviewCard:
    """One card of one learner; `id` is numbered per learner (1, 2, …)."""

    id: int
    question_id: str
    point_index: int
    front: str
    back: str
    source: Source | None
    due_at: datetime
    state: str  # FSRS: "learning", "review" or "relearning"
    last_reviewed_at: datetime | None
    suspended: bool
    created_at: datetime


def card_front(question: Question, point_index: int) -> str:
    """The question, then the point as a cloze with the section that teaches it."""
    # Imported here: tutor.interview.interviewer will record into the learner store, which imports this.
    from tutor.interview.interviewer import cloze

    key = question.key_points[point_index]
    return (f"{question.question}\nIn particular ({key.source.section}): "
            f"“{cloze(key.point, question.question)}”")


def card_back(question: Question, point_index: int, source: Source | None) -> str:
    """The point, then the passage the grader cited for it; without one, where the bank
    says the point is taught."""
    key = question.key_points[point_index]
    if source is None:
        return f"{key.point}\n\nRead: {key.source.file} › {key.source.section}"
    return f"{key.point}\n\nFrom the notes ({source.doc} › {source.section}):\n“{source.text}”"


def due_in(due_at: datetime, now: datetime) -> str:
    """When a card is due, as a learner says it: "now", "in 10 min", "in 3 days (12 May)"."""
    seconds = (due_at - now).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 3600:
        return f"in {max(1, round(seconds / 60))} min"
    if seconds < 86400:
        return f"in {round(seconds / 3600)} h"
    days = round(seconds / 86400)
    return f"in {days} day{'s' if days > 1 else ''} ({due_at:%d %b %Y})"


def no_card(card_id: int) -> InputError:
    return InputError(f"No card {card_id} for this learner: `tutor review` shows the due ones.")


def update_card(conn: sqlite3.Connection, scheduler: Scheduler, learner: str, question: Question,
                point_index: int, verdict: Verdict, source: Source | None, at: datetime) -> None:
    """Within the caller's transaction: review the point's card with the verdict's rating,
    or, when the point has no card and was not covered, add one, due at once."""
    row = conn.execute("SELECT id FROM cards WHERE learner_id = ? AND question_id = ? AND "
                       "point_index = ?", (learner, question.id, point_index)).fetchone()
    if row is not None:
        review(conn, scheduler, learner, row["id"], VERDICT_RATING[verdict], at, "interview")
        return
    if verdict not in NEEDS_CARD:
        return
    card_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM cards WHERE learner_id = ?",
                           (learner,)).fetchone()[0]
    conn.execute("INSERT INTO cards (learner_id, id, question_id, point_index, front, back, "
                 "source, fsrs, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (learner, card_id, question.id, point_index, card_front(question, point_index),
                  card_back(question, point_index, source),
                  json.dumps(to_json(source), ensure_ascii=False) if source else None,
                  json.dumps(Card(card_id=card_id, due=at).to_dict()), iso(at), iso(at)))


def review(conn: sqlite3.Connection, scheduler: Scheduler, learner: str, card_id: int,
           rating: Rating, at: datetime, origin: Literal["self", "interview"]) -> bool:
    """Within the caller's transaction: reschedule the card as FSRS says after `rating` at
    `at`, and log the review; False when the learner has no such card."""
    row = conn.execute("SELECT fsrs FROM cards WHERE learner_id = ? AND id = ?",
                       (learner, card_id)).fetchone()
    if row is None:
        return False
    reviewed, _ = scheduler.review_card(Card.from_dict(json.loads(row["fsrs"])), rating, at)
    conn.execute("UPDATE cards SET fsrs = ?, due_at = ? WHERE learner_id = ? AND id = ?",
                 (json.dumps(reviewed.to_dict()), iso(reviewed.due), learner, card_id))
    conn.execute("INSERT OR REPLACE INTO review_log (learner_id, card_id, rating, origin, "
                 "reviewed_at) VALUES (?, ?, ?, ?, ?)",
                 (learner, card_id, int(rating), origin, iso(at)))
    return True


def load_cards(conn: sqlite3.Connection, learner: str, where: str = "",
               args: tuple[Any, ...] = ()) -> list[ReviewCard]:
    """The learner's cards matching `where` (an SQL condition starting with AND), soonest
    due first."""
    rows = conn.execute(f"SELECT * FROM cards WHERE learner_id = ? {where} ORDER BY due_at, id",
                        (learner, *args)).fetchall()
    cards = []
    for r in rows:
        fsrs = Card.from_dict(json.loads(r["fsrs"]))
        cards.append(ReviewCard(
            r["id"], r["question_id"], r["point_index"], r["front"], r["back"],
            source_from_json(r["source"]), parse_iso(r["due_at"]), fsrs.state.name.lower(),
            fsrs.last_review.astimezone(UTC) if fsrs.last_review else None,
            bool(r["suspended"]), parse_iso(r["created_at"])))
    return cards


def _anki_id(text: str) -> int:
    """A stable id in the range Anki expects for models and decks (2^30 to 2^31), so a deck
    imported twice updates the first import instead of adding a copy."""
    return (1 << 30) + int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % (1 << 30)


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def export_anki(cards: Sequence[ReviewCard], path: Path, *, learner_id: str,
                deck_name: str = "interview-tutor") -> int:
    """Write `cards` as an Anki deck (.apkg) and return how many. Each note's guid comes
    from the learner, question and point, so re-exporting after more interviews updates the
    notes already in the learner's Anki collection (their Anki schedule is kept) and adds the
    new ones."""
    import genanki

    model = genanki.Model(
        _anki_id("interview-tutor review card v1"), "interview-tutor review card",
        fields=[{"name": "Front"}, {"name": "Back"}],
        templates=[{"name": "Card 1", "qfmt": "{{Front}}",
                    "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"}])
    deck = genanki.Deck(_anki_id(f"interview-tutor deck {learner_id}"), deck_name)
    for card in cards:
        deck.add_note(genanki.Note(
            model=model, fields=[_html(card.front), _html(card.back)],
            guid=genanki.guid_for(learner_id, card.question_id, card.point_index),
            tags=["interview-tutor"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    genanki.Package(deck).write_to_file(str(path))
    return len(cards)
