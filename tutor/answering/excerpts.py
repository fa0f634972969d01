"""What the LLM reads of each passage: the sentences nearest the question, within a budget.

Prefill is the embedded model's slowest step: on 2 cores llama.cpp reads ~60 new prompt
tokens a second (its own timings), and three whole passages are 450-600 tokens, so the
learner waited 8-10 s for the first word. Most of a passage is about something next to the
question; the sentences that answer it are few. Each passage keeps its number, its heading
and at least its sentence nearest the question (so every number the model may cite says
something), then the nearest sentences of all passages fill the budget. Kept sentences stay
in the passage's order, with "…" where sentences were left out. Measured against whole
passages in bench/results.md (the answer section has a column for each) and in the gold
gate (eval/thresholds.toml's [gold] comment has both baselines).

The answer check (tutor/answering/support.py) still reads the whole passages: a sentence the model
wrote from an excerpt is true or false against everything its passage says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tutor.answering.guard import is_override, strip_overrides
from tutor.answering.support import Span, passage_sentences
from tutor.config import Settings
from tutor.records import Hit
from tutor.retrieval.models import embed

# Characters per token of English prose for the tokenizers we serve (Qwen's, GPT's): the
# budget is a prefill-time estimate, not an exact count.
CHARS_PER_TOKEN = 4


def excerpts(settings: Settings, question: str, hits: Sequence[Hit]) -> list[str]:
    """Each hit as the model sees it, "(section) sentence … sentence", within
    `settings.evidence_tokens` in all; with a budget of 0, the whole passages (each trimmed
    to `settings.passage_chars`)."""
    if settings.evidence_tokens <= 0:
        return [_whole(h, settings.passage_chars) for h in hits]
    # A document must not re-task the tutor: instruction-like sentences never reach the model.
    sentences = [[s for s in passage_sentences(h.chunk.text, n)
                  if not is_override(s.text) and _is_statement(s.text, h)]
                 for n, h in enumerate(hits)]
    flat = [s for per in sentences for s in per]
    vectors = embed(settings, [question, *(s.text for s in flat)])
    sims = vectors[1:] @ vectors[0]
    ranked = [flat[i] for i in np.argsort(-sims)]
    best = {s.passage: s for s in reversed(ranked)}  # each passage's nearest sentence
    budget = settings.evidence_tokens * CHARS_PER_TOKEN
    kept = set(best.values())
    used = sum(len(s.text) + 1 for s in kept)
    for span in ranked:
        if span not in kept and used + len(span.text) + 1 <= budget:
            kept.add(span)
            used += len(span.text) + 1
    # A passage with no statement (all code or table) is shown whole: it may be what was asked.
    return [_render(h, per, kept) if per else _whole(h, settings.passage_chars)
            for h, per in zip(hits, sentences, strict=True)]


def _is_statement(text: str, hit: Hit) -> bool:
    """Not the section's name (the "(section)" label says it; headings are never passage
    sentences) and not a question (the notes' "Interview angle" prompts ask the
    learner; they state nothing)."""
    line = text.strip().rstrip("*_ ")
    return not (line.endswith("?") or line == hit.chunk.section.split(" > ")[-1].strip())


def _render(hit: Hit, sentences: Sequence[Span], kept: set[Span]) -> str:
    """ "(section) s1 s2 … s5 …": "…" marks where sentences were left out."""
    parts: list[str] = []
    last = -1
    for i, s in enumerate(sentences):
        if s not in kept:
            continue
        if i != last + 1:
            parts.append("…")
        parts.append(" ".join(s.text.split()))
        last = i
    if last != len(sentences) - 1:
        parts.append("…")
    return f"({hit.chunk.section}) {' '.join(parts)}"


def _whole(hit: Hit, limit: int) -> str:
    """The passage's text (code and tables included), instruction-like sentences removed,
    trimmed to `limit` characters."""
    body, _ = strip_overrides(hit.chunk.text)
    body = " ".join(body.split())
    if len(body) > limit:
        body = body[:limit].rsplit(" ", 1)[0] + " …"
    return f"({hit.chunk.section}) {body}"
