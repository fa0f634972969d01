"""Which passage sentence entails a claim, and which contradicts it: the judge over sentences.

Answers use it to check each sentence against the passages the model was given (and attach
the citation of the passage that entails it, and its sentence as the highlighted span);
grading uses it to find the sentence of a note that states a key point. MiniLM's cosine only
narrows the candidates (a pair of sentences costs the judge a few ms, and most passage
sentences are about something else); the judge decides.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tutor.config import Settings
from tutor.judge.model import Judgment, load_judge
from tutor.llm.base import LLM, prompt_messages
from tutor.prompts import load_prompt
from tutor.retrieval.models import embed
from tutor.sentences import split_sentences

# Candidate evidence per claim, by cosine: the entailing sentence was among the top 4 for
# every supported sentence of eval/answer_support.yaml's dev split.
CANDIDATES = 4
_MARKERS = re.compile(r"\s*\[\d+\]")
_MIN_WORDS = 3


@dataclass(frozen=True, slots=True)
class Span:
    """A sentence (or two neighbouring ones) of passage `passage`: text[start:end]."""

    passage: int  # index into the passages given
    start: int
    end: int
    text: str


SupportLabel = Literal["supported", "contradicted", "unsupported"]
# The LLM's one-word answer to a fact / statement prompt (`llm_reply`).
Reply = Literal["yes", "no", "other"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """The judge's best entailing and best contradicting span for one claim, and the span
    nearest to it by MiniLM's cosine."""

    entailed_by: Span | None
    entails: float  # the judge's probability for that span
    contradicted_by: Span | None
    contradicts: float
    nearest: Span | None = None
    similarity: float = 0.0  # MiniLM's cosine of the claim and `nearest`
    # The nearest span of the passages the answer itself cited for the claim, if it cited any.
    cited_nearest: Span | None = None
    cited_similarity: float = 0.0

    def read(self) -> str:
        """The spans the judge found closest to the claim (entailing, nearest, contradicting),
        each once, in passage order, as one text: what the LLM check reads."""
        spans: list[Span] = []
        for span in (self.entailed_by, self.nearest, self.contradicted_by):
            if span is not None and not any(span.passage == o.passage and span.start < o.end
                                            and o.start < span.end for o in spans):
                spans.append(span)
        return " ".join(" ".join(s.text.split()) for s in sorted(spans, key=lambda s: (s.passage, s.start)))


@dataclass(frozen=True, slots=True)
class SupportThresholds:
    """When a claim counts as supported or contradicted by the passages (the `support_*`
    settings, chosen on eval/answer_support.yaml's dev split by scripts/eval_judge.py --tune)."""

    entails: float
    contradicts: float
    similar: float

    @classmethod
    def of(cls, settings: Settings) -> SupportThresholds:
        return cls(settings.support_entails_at, settings.support_contradicts_at,
                   settings.support_similar_at)


def verdict(evidence: Evidence, at: SupportThresholds) -> SupportLabel:
    """How the answer check reads the evidence. A contradiction needs high confidence and must
    outweigh the best entailment (calling a faithful sentence false is the worse error).
    Supported: the judge is sure a span entails the claim, or the claim is a near restatement
    of a span by MiniLM's cosine. The two together beat the judge alone: it under-calls
    paraphrases at a sure threshold and entails contradicting sentences at a loose one
    (docs/judge.md, session 18)."""
    if evidence.contradicts >= at.contradicts and evidence.contradicts > evidence.entails:
        return "contradicted"
    return "supported" if evidence.entails >= at.entails or evidence.similarity >= at.similar \
        else "unsupported"


def supporting_span(evidence: Evidence, at: SupportThresholds) -> Span | None:
    """The span a supported claim is cited to: the answer's own citation when its passage
    supports the claim (a correct citation is kept rather than moved to a passage the judge is
    marginally surer of; two passages often say the same thing), else the span the judge
    entails it by, else (a near restatement) the nearest span."""
    entailed = evidence.entailed_by if evidence.entails >= at.entails else None
    if entailed is not None and evidence.cited_nearest is not None \
            and entailed.passage == evidence.cited_nearest.passage:
        return entailed
    if evidence.cited_nearest is not None and evidence.cited_similarity >= at.similar:
        return evidence.cited_nearest
    return entailed or evidence.nearest


def llm_agrees(llm: LLM, fact: str, statement: str) -> bool:
    """The LLM's yes / no: does `statement` agree with `fact` (the `agrees` prompt)? "no" means
    the fact shows it false. Where the judge gives credit this is the second opinion: MiniLM
    scores "X" and "not X" alike, and the judge entails many polarity and number flips
    (docs/judge.md). Any reply but "no" counts as agreement, so a confused reply never turns a
    true statement into a wrong one."""
    return llm_reply(llm, "agrees", fact, statement) != "no"


def llm_reply(llm: LLM, prompt: str, fact: str, statement: str) -> Reply:
    """The LLM's one-word reply to a fact / statement prompt: "no" (the fact shows the statement
    false), "other" (the `refutes` prompt's third answer: the fact neither confirms nor refutes
    it), else "yes", so a confused reply never turns a true statement into a wrong one."""
    messages = prompt_messages(load_prompt(prompt))
    messages.append({"role": "user", "content": f"Fact: {fact}\nLearner: {statement}"})
    word = llm.complete(messages, max_tokens=2, temperature=0.0).strip().lower()
    return "no" if word.startswith("no") else "other" if word.startswith("other") else "yes"


# A line break inside a paragraph, where the notes are hard-wrapped: not before a list item,
# a table row, a heading, a quote or a blank line, and not after a blank line.
_WRAP = re.compile(r"(?<=\S)\n(?=[^\s|#>*+\-\d])")


def passage_sentences(text: str, passage: int) -> list[Span]:
    """A passage's sentences of three words or more, code and headings left out, in order."""
    # Same length as `text`, so every span's offsets stay valid in the original.
    unwrapped = _WRAP.sub(" ", text)
    # Each span's text is the original's slice (line breaks kept), so a citation's span_text
    # is exactly passage[start:end]; the judge's tokenizer reads a line break as a space.
    return [Span(passage, s.start, s.end, text[s.start:s.end]) for s in split_sentences(unwrapped)
            if not s.is_code and not _is_title(text, s.text, s.start, s.end)
            and len(s.text.split()) >= _MIN_WORDS]


def _is_title(text: str, sentence: str, start: int, end: int) -> bool:
    """A heading: a Markdown one, or the bare heading line the chunker puts before each later
    part of a long section (a line of its own, no full stop, a blank line after it). Either
    would otherwise be quoted as what the notes say ("the notes say “T5 relative position
    bias”")."""
    return sentence.startswith("#") or (
        not text[:start].strip() and text.startswith("\n\n", end) and not sentence.endswith((".", "!", "?", ":")))


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def passage_spans(text: str, passage: int) -> list[Span]:
    """A passage's sentences, and each pair of neighbours in one paragraph (a claim often
    merges two; across a paragraph break the pair ran a fact into the notes' next
    "**Interview angle:**" line, and a quote or highlight of it showed both)."""
    sentences = passage_sentences(text, passage)
    pairs = [Span(passage, a.start, b.end, text[a.start:b.end])
             for a, b in zip(sentences, sentences[1:], strict=False)
             if not _BLANK_LINE.search(text, a.end, b.start)]
    return sentences + pairs


# "No: ..." / "Yes, ..." answer the learner's question; the claim is what follows.
_ANSWER_WORD = re.compile(r"^(?:yes|no|not quite|not exactly|correct|right)\s*[,:;.!-]\s*",
                          re.IGNORECASE)


def gives_verdict(sentence: str) -> bool:
    """Whether a sentence opens by answering a yes / no question ("Yes, …", "No: …")."""
    return _ANSWER_WORD.match(_MARKERS.sub("", sentence).strip()) is not None


def claim_text(sentence: str) -> str:
    """A sentence as a claim: its citation markers and any leading yes / no removed."""
    claim = _ANSWER_WORD.sub("", _MARKERS.sub("", sentence).strip())
    return claim[:1].upper() + claim[1:]


class SupportChecker:
    """Finds, for each claim, the passage spans that entail and contradict it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def evidence(self, claims: Sequence[str], passages: Sequence[str],
                 cited: Sequence[Collection[int]] = ()) -> list[Evidence]:
        """The judge's evidence for each claim. `cited[i]` holds the passages (0-based) the
        answer itself cited for claim i: when one of them entails the claim, its span is the
        one returned, so a correct citation is kept rather than moved to a passage the judge
        is marginally surer of (two passages often say the same thing)."""
        spans = [span for n, text in enumerate(passages) for span in passage_spans(text, n)]
        if not claims:
            return []
        if not spans:
            return [Evidence(None, 0.0, None, 0.0) for _ in claims]
        cited = list(cited) or [()] * len(claims)
        sims = embed(self.settings, list(claims)) @ embed(self.settings, [s.text for s in spans]).T
        chosen = [_candidates(row, spans, own) for row, own in zip(sims, cited, strict=True)]
        pairs = [(spans[j].text, claim) for claim, row in zip(claims, chosen, strict=True) for j in row]
        judged = iter(load_judge(self.settings).judge(pairs))
        out = []
        for row, own, similarities in zip(chosen, cited, sims, strict=True):
            scored: list[tuple[Span, Judgment]] = [(spans[j], next(judged)) for j in row]
            entail = max(scored, key=lambda sj: sj[1].entails)
            mine = [sj for sj in scored if sj[0].passage in own
                    and sj[1].entails >= self.settings.support_entails_at]
            if mine:
                entail = max(mine, key=lambda sj: sj[1].entails)
            contra = max(scored, key=lambda sj: sj[1].contradicts)
            nearest = row[0]  # the candidates come nearest first
            own_spans = [j for j in row if spans[j].passage in own]
            closest_own = max(own_spans, key=lambda j: similarities[j]) if own_spans else None
            out.append(Evidence(
                entail[0], entail[1].entails, contra[0], contra[1].contradicts,
                spans[nearest], float(similarities[nearest]),
                None if closest_own is None else spans[closest_own],
                0.0 if closest_own is None else float(similarities[closest_own])))
        return out


def _candidates(sims: np.ndarray, spans: Sequence[Span], cited: Collection[int]) -> list[int]:
    """The spans the judge reads for one claim: the CANDIDATES nearest by cosine, plus the
    nearest of each passage the answer cited for it (so its own citation is always checked)."""
    order = [int(j) for j in np.argsort(-sims)]
    chosen = order[:CANDIDATES]
    for n in cited:
        own = next((j for j in order if spans[j].passage == n), None)
        if own is not None and own not in chosen:
            chosen.append(own)
    return chosen
