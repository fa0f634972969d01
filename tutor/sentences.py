"""Sentences of Markdown text: where they start and end, and the `[n]` citations each carries.

The one sentence splitter of the package: answers (each sentence checked against the
passages), the notes (evidence sentences for the judge and the reranker's training) and
learners' answers (units graded against key points) are all split here. Hand-written rather
than a library's (NLTK's punkt, spaCy's sentencizer): it must keep `[n]` markers after a full
stop with their sentence, treat list items, headings and fenced code as units, and leave
code alone, which those splitters do not know about.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from tutor.answering.citations import parse_citations
from tutor.records import Marker, ParsedCitations


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence (or list item, heading, code block) of the clean text."""

    text: str  # stripped, markers included
    start: int
    end: int
    citations: tuple[int, ...]  # distinct passage numbers, in order of first use
    is_code: bool = False  # a fenced code block: nothing to cite, nothing to check



# Words after which a period does not end a sentence.
_ABBREVIATION_WORDS = "e.g i.e etc vs cf al fig eq approx dr mr mrs ms no nos sec ch vol resp"
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_END_RE = re.compile(r"[.!?]+[\"')\]\u2019\u201d]*")
_LIST_ITEM_RE = re.compile(r"\s*(?:[-*+]|\d{1,3}[.)]|[a-zA-Z][.)])\s*")
_ONLY_MARKERS_RE = re.compile(r"(?:\s*\[\d+\])+\s*")


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of an answer, each with the passage numbers it cites.

    Lines (list items, headings) and fenced code blocks are units of their own; markers
    right after the full stop ("... works. [2]") belong to the sentence before them.
    Markers are read as the parser reads them (code is not cited), with any number >= 1.
    """
    return parsed_sentences(parse_citations(text, None))


def parsed_sentences(parsed: ParsedCitations) -> list[Sentence]:
    """The sentences of a parsed answer (`split_sentences` for text already parsed)."""
    return _sentences(parsed.text, parsed.markers, parsed.code_ranges)


def _sentences(
    text: str, markers: tuple[Marker, ...], code: tuple[tuple[int, int], ...]
) -> list[Sentence]:
    starts = [m.start for m in markers]  # ascending: markers are recorded in text order
    out: list[Sentence] = []
    for s, e, is_code in _bounds(text, markers, code):
        raw = text[s:e]
        stripped = raw.strip()
        if not stripped:
            continue
        s += len(raw) - len(raw.lstrip())
        e = s + len(stripped)
        inside = markers[bisect_left(starts, s) : bisect_left(starts, e)]
        cited = tuple(dict.fromkeys(m.number for m in inside))
        if not is_code and _ONLY_MARKERS_RE.fullmatch(stripped) and out:
            # "[1]" alone on a line: it cites the sentence before it.
            prev = out[-1]
            merged = tuple(dict.fromkeys(prev.citations + cited))
            out[-1] = Sentence(prev.text, prev.start, prev.end, merged, prev.is_code)
            continue
        out.append(Sentence(stripped, s, e, cited, is_code))
    return out


def _bounds(
    text: str, markers: tuple[Marker, ...], code: tuple[tuple[int, int], ...]
) -> list[tuple[int, int, bool]]:
    """[start, end) of each sentence, line or fenced code block, and whether it is code."""
    in_code = [False] * (len(text) + 1)
    for start, end in code:
        for i in range(start, end):
            in_code[i] = True
    fences = [(s, e) for s, e in code if text.startswith(("```", "~~~"), s)]
    marker_at = {m.start: m for m in markers}

    bounds: list[tuple[int, int, bool]] = []  # (start, end, is_code)
    start = 0
    i = 0
    n = len(text)
    fence_iter = iter(sorted(fences))
    next_fence = next(fence_iter, None)
    while i < n:
        while next_fence is not None and next_fence[0] < i:  # defensive: never skip one
            next_fence = next(fence_iter, None)
        if next_fence is not None and i == next_fence[0]:
            bounds.append((start, i, False))
            bounds.append((next_fence[0], next_fence[1], True))
            start = i = next_fence[1]
            next_fence = next(fence_iter, None)
            continue
        ch = text[i]
        if ch == "\n" and not in_code[i]:
            bounds.append((start, i, False))
            start = i = i + 1
            continue
        if ch in ".!?" and not in_code[i]:
            end_match = _END_RE.match(text, i)
            assert end_match is not None
            j = end_match.end()
            while j in marker_at:  # markers after the full stop belong to this sentence
                j = marker_at[j].end
            at_break = j >= n or text[j].isspace()
            if (
                at_break
                and not _is_abbreviation(text, start, i)
                and not _LIST_ITEM_RE.fullmatch(text[start:j])
            ):
                bounds.append((start, j, False))
                start = i = j
                continue
            i = end_match.end()
            continue
        i += 1
    bounds.append((start, n, False))
    return bounds


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = re.search(r"([A-Za-z.]+)$", text[start:dot])
    if not word:
        return False
    raw = word.group(1).strip(".")
    # "e.g.", "vs.", and initials ("A. Turing"); a lowercase one-letter word ("of size k.")
    # does end a sentence.
    return raw.lower() in _ABBREVIATIONS or (len(raw) == 1 and raw.isupper())
