"""Inline `[n]` citations: parsed while the answer streams and checked (sentences: tutor/sentences.py).

`n` is the 1-based number of a passage given to the LLM. The parser turns raw deltas into
display-ready text: valid markers are normalised (`[1, 2]` -> `[1][2]`), markers naming no
given passage are dropped and counted, and anything inside code (fenced blocks, inline
code spans) or a Markdown link passes through untouched. Pure Python, no model. The result
records (`ParsedCitations`, `Marker`) live in tutor/records.py with the other stages' records.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from enum import Enum, auto

from tutor.records import Marker, ParsedCitations

__all__ = ["CitationParser", "parse_citations"]


# --------------------------------------------------------------------------------------
# Streaming parser
# --------------------------------------------------------------------------------------


class _State(Enum):
    PROSE = auto()
    MARKER = auto()  # inside a `[...` that may still be a citation
    TICKS = auto()  # counting a run of ` or ~ (a fence or a code span may start)
    SPAN = auto()  # inside an inline code span, held until it closes
    FENCE = auto()  # inside a fenced code block


# A marker body: numbers, ranges and lists, optionally written "Passage 2" / "source #3"
# (the small model sometimes copies the passage label instead of the bare number).
_ITEM = r"(?:(?:passages?|sources?)\s*)?#?\s*\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?"
_MARKER_RE = re.compile(rf"\[\s*{_ITEM}(?:\s*[,;]\s*{_ITEM})*\s*\]", re.IGNORECASE)
_ITEM_RE = re.compile(r"(\d{1,4})(?:\s*[-\u2013]\s*(\d{1,4}))?")
_BODY_CHARS_RE = re.compile(r"[a-z0-9 ,;#\-\u2013]*")
_WORDS = ("passage", "passages", "source", "sources")
_MAX_MARKER = 40  # longer brackets are prose: stop holding them back
_MAX_RANGE = 20  # "[1-3]" expands; "[1-900]" is not a citation anyone means
_MAX_SPAN = 4000  # an inline code span longer than this was never one
_CLOSING_PUNCT = frozenset(".,;:!?)]}\"'\u2019\u201d")
_FENCE_CLOSE_RE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")


def _viable(hold: str) -> bool:
    """Could `hold` (starting with "[") still grow into a citation marker?"""
    body = hold[1:].lower()
    if len(body) > _MAX_MARKER or not _BODY_CHARS_RE.fullmatch(body):
        return False
    return all(any(w.startswith(part) for w in _WORDS) for part in re.findall(r"[a-z]+", body))


def _numbers(marker: str) -> list[int]:
    """Passage numbers in a complete marker, ranges expanded, duplicates removed."""
    out: list[int] = []
    for m in _ITEM_RE.finditer(marker):
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        span = range(lo, hi + 1) if lo <= hi <= lo + _MAX_RANGE else [0]  # 0: invalid
        out.extend(n for n in span if n not in out or n == 0)
    return out


@dataclass
class _Span:
    """Bookkeeping for a held inline code span."""

    ticks: int  # length of the opening backtick run
    run: int = 0  # backticks seen in a row inside the span
    line: str = ""  # the span's current line, to spot a blank line (paragraph end)


@dataclass
class _Fence:
    char: str
    length: int
    opening_line: bool = True  # the info string line cannot close the fence
    line: str = ""


class CitationParser:
    """Incremental: `feed()` each streamed delta and show what it returns, then `finish()`.

    Text that could still turn into (or out of) a citation is held back a few characters:
    a `[` until its marker completes, whitespace before a marker (so a dropped marker
    takes its space with it), an unclosed inline code span until it closes.

    n_passages=None accepts any number >= 1 (used to analyse already-clean text).
    """

    def __init__(self, n_passages: int | None) -> None:
        self.n_passages = n_passages
        self._state = _State.PROSE
        self._queue: deque[str] = deque()
        self._out: list[str] = []  # emitted during the current feed/finish call
        self._length = 0  # length of all emitted text
        self._text: list[str] = []  # all emitted text
        self._markers: list[Marker] = []
        self._dropped: list[int] = []
        self._code: list[tuple[int, int]] = []
        self._code_start = 0
        # prose
        self._ws = ""  # held spaces/tabs
        self._line_start = True  # only whitespace so far on this line
        self._escaped = False
        # marker
        self._hold = ""
        self._complete = False  # `]` seen: waiting one character for "(" (a link)
        # ticks / span / fence
        self._tick_char = ""
        self._ticks = ""
        self._ticks_at_line_start = False
        self._span: _Span | None = None
        self._fence: _Fence | None = None
        self._finished = False

    # -- public --------------------------------------------------------------------

    def feed(self, delta: str) -> str:
        """Consume one streamed delta; return the text that is now safe to display."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._queue.extend(delta)
        self._drain()
        return self._take()

    def finish(self) -> str:
        """End of stream: resolve whatever is held; return the last text to display."""
        if not self._finished:
            self._drain()
            self._flush_end()
            self._finished = True
        return self._take()

    def result(self) -> ParsedCitations:
        """The parse of everything fed (finishing the stream if needed)."""
        if not self._finished:
            self.finish()
        return ParsedCitations(
            text="".join(self._text),
            markers=tuple(self._markers),
            dropped=len(self._dropped),
            dropped_numbers=tuple(self._dropped),
            code_ranges=tuple(self._code),
        )

    # -- plumbing ------------------------------------------------------------------

    def _take(self) -> str:
        text = "".join(self._out)
        self._out.clear()
        return text

    def _emit(self, text: str) -> None:
        if text:
            self._out.append(text)
            self._text.append(text)
            self._length += len(text)

    def _refeed(self, text: str) -> None:
        """Process `text` again, before anything still queued."""
        self._queue.extendleft(reversed(text))

    def _drain(self) -> None:
        while self._queue:
            self._step(self._queue.popleft())

    def _step(self, ch: str) -> None:
        state = self._state
        if state is _State.FENCE:
            self._fence_step(ch)
        elif state is _State.SPAN:
            self._span_step(ch)
        elif state is _State.TICKS:
            if ch == self._tick_char:
                self._ticks += ch
            else:
                self._end_ticks()
                self._step(ch)
        elif state is _State.MARKER:
            self._marker_step(ch)
        else:
            self._prose_step(ch)

    def _flush_end(self) -> None:
        """Resolve each held state at the end of the stream (may re-queue text)."""
        while True:
            state = self._state
            if state is _State.MARKER:
                if self._complete:
                    self._resolve_marker(next_char=None)
                else:
                    self._abandon_marker()
            elif state is _State.TICKS:
                self._end_ticks()
            elif state is _State.SPAN:
                assert self._span is not None
                if self._span.run == self._span.ticks:
                    self._close_span(self._hold)
                else:
                    self._abandon_span()
            elif state is _State.FENCE:
                self._code.append((self._code_start, self._length))  # unclosed: to the end
                self._fence = None
                self._state = _State.PROSE
            else:
                self._emit(self._ws)
                self._ws = ""
            if self._queue:
                self._drain()
                continue
            if self._state is _State.PROSE and not self._ws:
                return

    # -- prose -----------------------------------------------------------------------

    def _prose_step(self, ch: str) -> None:
        if self._escaped:  # "\[1]" and "\`" are literal text
            self._escaped = False
            self._emit_prose(ch)
        elif ch in " \t":
            self._ws += ch
        elif ch == "[":
            self._state = _State.MARKER
            self._hold = "["
            self._complete = False
        elif ch in "`~":
            self._ticks_at_line_start = self._line_start and len(self._ws.expandtabs(4)) <= 3
            self._emit(self._ws)
            self._ws = ""
            self._state = _State.TICKS
            self._tick_char = ch
            self._ticks = ch
        else:
            self._emit_prose(ch)
            if ch == "\\":
                self._escaped = True

    def _emit_prose(self, text: str) -> None:
        self._emit(self._ws + text)
        self._ws = ""
        self._line_start = text.endswith("\n") or (self._line_start and not text.strip())

    # -- markers ---------------------------------------------------------------------

    def _marker_step(self, ch: str) -> None:
        if self._complete:
            if ch == "(":  # "[1](https://...)" is a Markdown link, not a citation
                self._emit_prose(self._hold)
                self._hold = ""
                self._state = _State.PROSE
                self._prose_step(ch)
            else:
                self._resolve_marker(next_char=ch)
                self._step(ch)
            return
        self._hold += ch
        if ch == "]":
            if _MARKER_RE.fullmatch(self._hold):
                self._complete = True
            else:  # "[x]", "[]", "[see 1]": ordinary brackets
                self._emit_prose(self._hold)
                self._hold = ""
                self._state = _State.PROSE
        elif not _viable(self._hold):
            self._abandon_marker()

    def _abandon_marker(self) -> None:
        """Not a citation after all: emit the "[" and re-read the rest as prose."""
        rest = self._hold[1:]
        self._emit_prose("[")
        self._state = _State.PROSE
        self._hold = ""
        self._refeed(rest)

    def _resolve_marker(self, next_char: str | None) -> None:
        numbers = _numbers(self._hold)
        valid = [n for n in numbers if n >= 1 and (self.n_passages is None or n <= self.n_passages)]
        self._dropped.extend(n for n in numbers if n not in valid)
        self._state = _State.PROSE
        self._hold = ""
        if valid:
            self._emit(self._ws)
            self._ws = ""
            for n in valid:
                self._markers.append(Marker(n, self._length, self._length + len(str(n)) + 2))
                self._emit(f"[{n}]")
            self._line_start = False
        elif next_char is None or next_char.isspace() or next_char in _CLOSING_PUNCT:
            # The whole marker goes; so does the space before it ("word [9]." -> "word.").
            # Before a word or another marker ("[0][2]") the space stays.
            self._ws = ""

    # -- code ------------------------------------------------------------------------

    def _end_ticks(self) -> None:
        run = self._ticks
        self._ticks = ""
        if len(run) >= 3 and self._ticks_at_line_start:
            self._code_start = self._length
            self._emit(run)
            self._fence = _Fence(run[0], len(run), line=run)
            self._state = _State.FENCE
        elif run[0] == "`":
            self._hold = run
            self._span = _Span(ticks=len(run))
            self._state = _State.SPAN
        else:  # "~~strike~~" and other tildes are text
            self._emit_prose(run)
            self._state = _State.PROSE

    def _span_step(self, ch: str) -> None:
        span = self._span
        assert span is not None
        if ch == "`":
            span.run += 1
            self._hold += ch
            return
        if span.run == span.ticks:  # a closing run of exactly the opening length
            self._close_span(self._hold)
            self._step(ch)
            return
        span.run = 0
        self._hold += ch
        if ch == "\n":
            if not span.line.strip():  # a blank line ends the paragraph: no code span
                self._abandon_span()
                return
            span.line = ""
        else:
            span.line += ch
        if len(self._hold) > _MAX_SPAN:
            self._abandon_span()

    def _close_span(self, text: str) -> None:
        self._code.append((self._length, self._length + len(text)))
        self._emit(text)
        self._hold = ""
        self._span = None
        self._state = _State.PROSE
        self._line_start = False

    def _abandon_span(self) -> None:
        """No closing backticks: they were literal, and the text after them is prose."""
        assert self._span is not None
        ticks, rest = self._hold[: self._span.ticks], self._hold[self._span.ticks :]
        self._hold = ""
        self._span = None
        self._state = _State.PROSE
        self._emit_prose(ticks)
        self._refeed(rest)

    def _fence_step(self, ch: str) -> None:
        fence = self._fence
        assert fence is not None
        self._emit(ch)
        if ch != "\n":
            fence.line += ch
            return
        line, fence.line = fence.line, ""
        if fence.opening_line:
            fence.opening_line = False
            return
        closing = _FENCE_CLOSE_RE.fullmatch(line)
        if closing and closing.group(1)[0] == fence.char and len(closing.group(1)) >= fence.length:
            self._code.append((self._code_start, self._length))
            self._fence = None
            self._state = _State.PROSE
            self._line_start = True

    # A fence closed by the very last line, without a newline after it, is closed by
    # `_flush_end` treating the rest of the stream as code: the same text either way.


def parse_citations(text: str, n_passages: int | None) -> ParsedCitations:
    """Parse a complete answer at once (same rules as streaming)."""
    parser = CitationParser(n_passages)
    parser.feed(text)
    return parser.result()
