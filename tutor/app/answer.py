"""How a cited answer and its sources are shown in the chat (HTML): `[n]` markers link to their
passage, the sentence each citation rests on is highlighted, sentences no passage says are
marked. Everything from outside (answer, passages, file names) is escaped first; passages are
Markdown and shown rendered, with any HTML in them escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from markdown_it import MarkdownIt

from tutor.answering.answer import Answer
from tutor.app.ui import escape_html

_MARKER = re.compile(r"\[(\d+)\]")
# CommonMark with raw HTML off: a passage's own tags are shown as text, never run.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
# Private-use characters mark the cited span in the Markdown source; they survive rendering
# as text and become <mark> tags afterwards (the span is an offset into the raw passage).
_OPEN, _CLOSE = "\ue000", "\ue001"


def render_answer(answer: Answer, turn_id: int) -> str:
    """The answer with clickable `[n]` links to its sources and unsupported sentences marked."""
    return _render(answer.answer, turn_id, None, answer.unsupported_sentences,
                   answer.corrected_sentences)


def _render(text: str, turn_id: int, linked: set[int] | None, unsupported: Sequence[str],
            corrected: Sequence[str]) -> str:
    """`text` escaped (`escape_html`), its `[n]` markers linked to passage n's source (all of them, or those
    in `linked`), each unsupported sentence marked, and a note on what the check changed."""
    body = escape_html(text)
    for sentence in unsupported:
        body = _mark_unsupported(body, escape_html(sentence))
    body = _MARKER.sub(lambda m: (f'<a class="cite" href="#src-{turn_id}-{m.group(1)}">[{m.group(1)}]</a>'
                                  if linked is None or int(m.group(1)) in linked else m.group(0)), body)
    notes = []
    if corrected:
        notes.append(f"✎ {len(corrected)} sentence(s) the check found at odds with the notes "
                     "were replaced by the notes' own words.")
    if unsupported:
        notes.append(f"⚠ {len(unsupported)} sentence(s) no passage says: not from your notes.")
    if notes:
        body += "\n\n<small>" + "<br>".join(notes) + "</small>"
    return body


def _mark_unsupported(body: str, sentence: str) -> str:
    """Highlight an unsupported sentence even when markers sit inside it."""
    words = [re.escape(w) for w in sentence.split()]
    if not words:
        return body
    pattern = r"\s*(?:\[\d+\]\s*)*".join(words)
    return re.sub(f"({pattern})", r'<span class="unsupported" title="no passage says this">\1 ⚠</span>', body, count=1)


def render_stored_answer(text: str, citations: Sequence[Mapping[str, Any]], turn_id: int,
                         unsupported: Sequence[str] = (), corrected: Sequence[str] = ()) -> str:
    """An answer from the learner store as it was shown: links to its cited passages (those
    of the latest answer show in the sources panel, `render_stored_sources`), and the
    sentences the check flagged or corrected marked again."""
    return _render(text, turn_id, {c["n"] for c in citations}, unsupported, corrected)


def render_stored_sources(citations: Sequence[Mapping[str, Any]], turn_id: int) -> str:
    """The sentences an answer from the learner store cited: all that is kept of its passages."""
    parts = ["<p><small>From your last visit: the sentence each citation points to.</small></p>"]
    parts += [f'<div class="source" id="src-{turn_id}-{c["n"]}"><b>[{c["n"]}]</b> '
              f'{html.escape(c["section"])}<br><small>{html.escape(c["doc"])}</small>'
              f'<p><mark>{html.escape(c["span_text"])}</mark></p></div>' for c in citations]
    return "\n".join(parts)


def render_sources(answer: Answer | None, turn_id: int) -> str:
    if answer is None:
        return "<p>Sources of the latest answer appear here.</p>"
    if answer.refused:
        topics = ", ".join(html.escape(t) for t in answer.nearest_topics) or "none"
        return f"<p>No passage in the notes covers this question. Nearest topics: {topics}.</p>"
    cited = {c.n: c for c in answer.citations}
    parts = []
    for n, hit in enumerate(answer.contexts, 1):
        citation = cited.get(n)
        shown = render_passage(hit.chunk.text, citation.span if citation else None)
        rerank = hit.scores.rerank
        # Listwise-trained reranker scores rank passages; they are not probabilities of relevance.
        relevance = f"score {hit.score:.3f}" + (f", reranker {rerank:.2f}" if rerank is not None else "")
        status = "cited" if citation else "given, not cited"
        parts.append(
            f'<div class="source" id="src-{turn_id}-{n}"><b>[{n}] {html.escape(hit.chunk.title)}</b> — '
            f"{html.escape(hit.chunk.section)}<br><small>{html.escape(hit.chunk.doc)} · {relevance} · {status}</small>"
            f"<details{' open' if citation else ''}><summary>passage</summary>{shown}</details></div>"
        )
    return "\n".join(parts)


def render_passage(text: str, span: tuple[int, int] | None = None) -> str:
    """A passage's Markdown as HTML, the characters `span` covers highlighted."""
    if span is not None:
        s, e = span
        text = f"{text[:s]}{_OPEN}{text[s:e]}{_CLOSE}{text[e:]}"
    return _MARKDOWN.render(text).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
