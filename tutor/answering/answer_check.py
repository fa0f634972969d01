"""What a learner is shown of a written answer: every sentence read against the passages.

Each sentence of the LLM's answer goes to the judge with the passages the model was given
(`tutor/answering/support.py`). A sentence a passage entails is cited to that passage, the entailing
sentence as its span, once the LLM, asked yes / no, agrees that those passage sentences say it
(the judge alone cites polarity and number flips of a note sentence: docs/judge.md). One a
passage contradicts, or the LLM says they do not say, is never shown: the passage's own
sentence, quoted and cited, stands in its place. One no passage entails is shown uncited and
flagged. `Tutor` turns an answer none of whose sentences is entailed into a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.answering.support import (
    Span,
    SupportChecker,
    SupportThresholds,
    claim_text,
    gives_verdict,
    llm_agrees,
    supporting_span,
    verdict,
)
from tutor.config import Settings
from tutor.llm import LLM
from tutor.records import Hit
from tutor.sentences import Sentence

# Fewer words than this is not a claim to check ("See [2].").
_MIN_WORDS = 3


@dataclass(frozen=True, slots=True)
class Citation:
    n: int  # the passage number shown in the answer
    chunk_id: str
    doc: str
    section: str
    span: tuple[int, int]  # [start, end) of the passage sentence that entails the claim
    span_text: str


@dataclass(slots=True)
class CheckedAnswer:
    """An answer after the check: the text to show and what the check did to it."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # shown uncited and flagged
    corrected: list[str] = field(default_factory=list)  # replaced by the passage's own sentence
    backed: int = 0  # claims a passage supports, or entails at least loosely (support_refuse_below)
    claims: int = 0  # claims checked, the corrected ones left out


def check_answer(settings: Settings, llm: LLM, text: str, sentences: Sequence[Sentence],
                 contexts: Sequence[Hit]) -> CheckedAnswer:
    """`text` (whose sentences are `sentences`) rewritten so that what is shown is what the
    passages `contexts` say (see the module doc)."""
    texts = [(s, claim_text(s.text)) for s in sentences if not s.is_code]
    claims = [(s, t) for s, t in texts if len(t.split()) >= _MIN_WORDS]
    found = SupportChecker(settings).evidence(
        [t for _, t in claims], [h.chunk.text for h in contexts],
        cited=[{n - 1 for n in s.citations} for s, _ in claims])
    out = CheckedAnswer(text)
    thresholds = SupportThresholds.of(settings)
    best: dict[int, tuple[float, Citation]] = {}
    edits: list[tuple[Sentence, str]] = []
    quotes: set[tuple[int, int]] = set()  # (passage, start) of the spans quoted so far
    for (sentence, claim), evidence in zip(claims, found, strict=True):
        label = verdict(evidence, thresholds)
        supported_by = supporting_span(evidence, thresholds)
        out.backed += label == "supported" or evidence.entails >= settings.support_refuse_below
        wrong = evidence.contradicted_by if label == "contradicted" else None
        if label == "supported" and settings.support_llm_check \
                and not llm_agrees(llm, evidence.read(), claim):
            wrong = supported_by
        if wrong is not None:
            out.corrected.append(claim)
            # Where a sentence the passages contradict stood: the passage's own words, once (a
            # second sentence corrected by the same span is dropped, not quoted twice). As the
            # reply to a yes / no question ("did GPT-1 invent transfer learning?" "Yes, …") it
            # is a correction.
            lead = "Not quite: the notes say" if sentence is claims[0][0] \
                and gives_verdict(sentence.text) else "The notes say"
            quoted = (wrong.passage, wrong.start) in quotes
            quotes.add((wrong.passage, wrong.start))
            edits.append((sentence, "" if quoted else _quoted(wrong.text, wrong.passage + 1, lead=lead)))
            _cite(best, contexts, wrong, evidence.contradicts)
        elif label == "supported" and supported_by is not None:
            edits.append((sentence, _with_marker(claim, supported_by.passage + 1)))
            _cite(best, contexts, supported_by, max(evidence.entails, evidence.similarity))
        else:
            out.unsupported.append(claim)
            edits.append((sentence, claim))  # shown uncited: no passage says it
    out.claims = len(claims) - len(out.corrected)
    out.text = _apply(text, edits)
    out.citations = [best[n][1] for n in sorted(best)]
    return out


def _cite(best: dict[int, tuple[float, Citation]], contexts: Sequence[Hit], span: Span,
          score: float) -> None:
    """Keep, per passage, the span the judge was surest of."""
    n = span.passage + 1
    if n in best and best[n][0] >= score:
        return
    c = contexts[span.passage].chunk
    best[n] = (score, Citation(n, c.id, c.doc, c.section, (span.start, span.end), span.text))


_END = re.compile(r"([.!?:;]*)$")


def _with_marker(claim: str, n: int) -> str:
    """The claim cited to passage n: "... works [2]." (marker before the final stop)."""
    m = _END.search(claim)
    assert m is not None
    return f"{claim[:m.start()].rstrip()} [{n}]{m.group(1) or '.'}"


def _quoted(passage_sentence: str, n: int, *, lead: str) -> str:
    """The passage's own words, quoted and cited to passage n, after `lead`."""
    # Markdown that frames a sentence in the notes (a quote block, bold) is not its words.
    said = re.sub(r"^>\s*", "", " ".join(passage_sentence.split())).replace("**", "").rstrip(".")
    return f"{lead} “{said}” [{n}]."


def _apply(text: str, edits: Sequence[tuple[Sentence, str]]) -> str:
    """`text` with each edited sentence's span replaced (spans never overlap); a sentence
    replaced by nothing takes the spaces after it along."""
    out, last = [], 0
    for sentence, new in sorted(edits, key=lambda e: e[0].start):
        out.append(text[last:sentence.start])
        out.append(new)
        last = sentence.end
        if not new:
            while last < len(text) and text[last] == " ":
                last += 1
    out.append(text[last:])
    shown = "".join(out)
    return shown.rstrip() + text[len(text.rstrip()):]  # a dropped last sentence leaves no space
