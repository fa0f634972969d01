"""What the `tutor` commands share: the index a command works on, argument types, and the
streamed answer printed in the terminal (by `ask` and by `interview`'s explain)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tutor.config import Settings
from tutor.quoting import as_prose, clip

if TYPE_CHECKING:
    from tutor.store.index import Index


@contextmanager
def command_index(settings: Settings, *, copy_if_locked: bool = True) -> Iterator[Index]:
    """The index for one command; all but ingest and serve may work on a copy of a shard the
    running app holds (see `open_index`)."""
    from tutor.store.index import open_index

    index = open_index(settings, copy_if_locked=copy_if_locked)
    try:
        yield index
    finally:
        index.close()


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1 (`--k 0` must not silently mean the default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def print_streamed(tutor_: Any, question: str, length: str | None = None) -> None:
    streamed = ""
    for event in tutor_.stream(question, length=length):
        if event.kind == "sources":
            print("Sources: " + "; ".join(f"[{i}] {h.chunk.section}" for i, h in enumerate(event.hits, 1)))
            print()
        elif event.kind == "delta":
            streamed += event.text
            print(event.text, end="", flush=True)
        elif event.answer is not None:
            answer = event.answer
            if answer.refused:
                print(answer.answer)
            elif answer.answer != streamed:
                # The judge cited, corrected or flagged sentences: show what it let through.
                print(f"\n\nChecked against the notes:\n{answer.answer}")
            print()
            for c in answer.citations:
                print(f"  [{c.n}] {c.doc} — {c.section}\n      “{clip(as_prose(c.span_text))}”")
            for sentence in answer.unsupported_sentences:
                print(f"  ⚠ no passage says: {sentence}")
            for sentence in answer.corrected_sentences:
                print(f"  ✎ the notes say otherwise: {sentence}")
            if answer.suggestions:
                print("Next you could ask: " + " | ".join(answer.suggestions))
            print(f"({answer.backend}; {answer.timings_ms.get('total_ms', 0) / 1000:.1f} s)")
