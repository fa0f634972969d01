"""The Review tab: the learner's due review cards, one at a time, rated as in Anki.

A card's front asks its bank question again, aimed at one key point the learner missed;
"Show answer" reveals the back (the point, and the passage of the notes behind it, with its
document and section); the learner rates their recall (Again / Hard / Good / Easy), FSRS
schedules the next review (`ProgressStore.rate`), the page says when, and the next due card
comes up. The tab's label carries the number due. "Download for Anki" writes every card
(suspended ones aside) as an .apkg deck. Card text comes from the bank and the index: it is
escaped before it is shown.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gradio as gr

from tutor.app.memory import Memory
from tutor.memory.progress import ProgressStore
from tutor.memory.review import RATING_NAMES, ReviewCard, due_in, export_anki
from tutor.quoting import as_prose

CSS = """
.rv-front { font-size: 1.1em; }
.rv-back { border-left: 3px solid #22c55e; padding: 2px 12px; }
.rv-meta { font-size: 0.85em; opacity: 0.75; }
"""
EMPTY = ("<p>No card is due. Points you miss in an interview become cards here: each one "
         "comes back when you are about to forget it, you recall the point, then rate how well "
         "you did, and the next review is scheduled from that (FSRS, as in Anki).</p>")
NO_MEMORY = "<p>Review cards need your progress, which is not kept in this session.</p>"


def _text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _back(text: str) -> str:
    """The back's paragraphs as prose (the quoted passage is Markdown, maybe a table row):
    the point, in bold, then where the notes say it and their words."""
    point, *rest = [html.escape(as_prose(part)) for part in text.split("\n\n")]
    return "<br><br>".join([f"<b>{point}</b>", *rest])


@dataclass(frozen=True, slots=True)
class ReviewTab:
    """The tab's event handlers; `topics` maps a bank question id to its topic's name."""

    memory: Memory
    topics: Mapping[str, str]

    def refresh(self, learner: str | None, status: str = "") -> tuple[Any, ...]:
        """Every output of the tab, in `add_tab`'s order: the first due card, its back
        hidden, the number due in the tab's label."""
        if learner is None:
            return self._show(None, 0, NO_MEMORY, status)
        due, problem = self.memory.use("reading your review cards",
                                       lambda s: s.due_cards(learner))
        if due is None:
            return self._show(None, 0, "", problem or status)
        if not due:
            return self._show(None, 0, EMPTY + self._next_due(learner), status)
        card = due[0]
        topic = html.escape(self.topics.get(card.question_id, "a topic no longer in the bank"))
        header = (f"<p class='rv-meta'>{len(due)} card(s) due · this one: {topic} · "
                  f"{card.state}</p>")
        return self._show(card, len(due), header, status)

    def _next_due(self, learner: str) -> str:
        cards, _ = self.memory.use("reading your review cards", lambda s: s.cards(learner))
        waiting = [c for c in cards or [] if not c.suspended]
        if not waiting:
            return ""
        soonest = min(c.due_at for c in waiting)
        return (f"<p>{len(waiting)} card(s) in your deck; the next is due "
                f"{due_in(soonest, datetime.now(UTC))}.</p>")

    @staticmethod
    def _show(card: ReviewCard | None, due: int, header: str, status: str) -> tuple[Any, ...]:
        label = f"Review ({due} due)" if due else "Review"
        front = f"<div class='rv-front'>{_text(card.front)}</div>" if card else ""
        back = f"<div class='rv-back'>{_back(card.back)}</div>" if card else ""
        return (gr.Tab(label=label), header, front, gr.update(value=back, visible=False),
                gr.update(visible=card is not None), gr.update(visible=False),
                card.id if card else None, status)

    @staticmethod
    def reveal() -> tuple[Any, ...]:
        """"Show answer": the back and the rating buttons."""
        return gr.update(visible=True), gr.update(visible=False), gr.update(visible=True)

    def rate(self, rating: int, learner: str | None, card_id: int | None) -> tuple[Any, ...]:
        """The learner's recall of the shown card, 1 (again) to 4 (easy): FSRS schedules it,
        and the next due card comes up."""
        if learner is None or card_id is None:
            return self.refresh(learner)
        card, problem = self.memory.use("rating the card",
                                        lambda s: s.rate(learner, card_id, rating))
        if card is None:
            return self.refresh(learner, problem)
        when = due_in(card.due_at, datetime.now(UTC))
        return self.refresh(learner, f"Rated <b>{RATING_NAMES[rating]}</b>: this card is next "
                                     f"due {html.escape(when)}.")

    def anki(self, learner: str | None) -> tuple[Any, str]:
        """Every card as an Anki deck, for the file box."""
        if learner is None:
            return gr.update(visible=False), NO_MEMORY

        def write(store: ProgressStore) -> int:
            cards = [c for c in store.cards(learner) if not c.suspended]
            if cards:
                export_anki(cards, path, learner_id=learner)
            return len(cards)

        path = self.memory.download_path("interview-tutor.apkg")
        count, problem = self.memory.use("writing the Anki deck", write)
        if not count:
            return gr.update(visible=False), problem or "No cards yet: there is nothing to export."
        return (gr.update(value=str(path), visible=True),
                f"{count} card(s) in the deck: open it with Anki (File › Import). Exporting again "
                "later updates these notes in Anki instead of adding copies.")


def add_tab(tab: ReviewTab, tab_block: gr.Tab, learner: gr.State) -> list[Any]:
    """The tab's components and events, inside `tab_block` (whose label shows the number
    due); returns the outputs of `ReviewTab.refresh`."""
    card = gr.State(None)  # the id of the card shown
    header = gr.HTML(elem_id="rv-header")
    front = gr.HTML(elem_id="rv-front")
    back = gr.HTML(visible=False, elem_id="rv-back")
    show = gr.Button("Show answer", variant="primary", visible=False, elem_id="rv-show")
    with gr.Row(visible=False) as ratings:
        buttons = {rating: gr.Button(name.capitalize(), elem_id=f"rv-{name}")
                   for rating, name in RATING_NAMES.items()}
    status = gr.HTML(elem_id="rv-status")
    with gr.Row():
        anki = gr.Button("Download for Anki (.apkg)", size="sm", scale=0, min_width=240,
                         elem_id="rv-anki")
    deck = gr.File(label="Anki deck", visible=False, interactive=False, elem_id="rv-deck")
    anki_status = gr.HTML(elem_id="rv-anki-status")

    outputs = [tab_block, header, front, back, show, ratings, card, status]
    show.click(tab.reveal, None, [back, show, ratings], api_visibility="private")
    for rating, button in buttons.items():
        button.click(lambda learner, card, r=rating: tab.rate(r, learner, card), [learner, card],
                     outputs, api_visibility="private")
    anki.click(tab.anki, [learner], [deck, anki_status], api_visibility="private")
    return outputs
