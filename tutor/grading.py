"""Grading a learner's free-form answer key point by key point, each verdict with its source.

For every key point of a bank question the grader decides `covered`, `partial`, `missed` or
`contradicted`, quotes the learner's sentence that earned the verdict, and cites a passage
retrieved from the index for that point (the bank names a file and section; the passage shown
is what the real retrieval pipeline finds for the point, preferring that section).

Two methods, named in every result:

- `embedding` (the offline default, no LLM): the answer is split into sentences and clauses,
  embedded with the bundled MiniLM together with the key points, and each point's best-matching
  clause decides the verdict by cosine similarity. MiniLM cannot tell "X" from "not X", and no
  NLI model ships (MODELS.md), so a matched clause is also checked for cheap contradiction cues
  against the point: opposite polarity, opposite direction words, a different number, or an
  absolute claim against a hedged point (`_conflicts`).
- `llm`: the configured LLM reads the question, the key points and the numbered sentences of
  the answer, and returns one verdict per point as schema-constrained JSON. Chosen
  automatically when an OpenAI-compatible endpoint is configured (a served model is a better
  judge than similarity); with the embedded 1.5B model it works but is slow on a CPU.

Score (0-10): each key point earns credit covered 1, partial 0.5, missed 0, contradicted -0.5
(a confidently wrong claim is worse than a gap); score = 10 * max(0, sum of credits) / number
of key points, rounded to one decimal. An answer that tries to instruct the grader has those
sentences removed before grading and its score capped at 9, so an injection never earns a 10.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from rapidfuzz import fuzz

from tutor.citations import best_support, split_sentences
from tutor.config import Settings
from tutor.guard import strip_overrides
from tutor.knowledge import KeyPoint, Question
from tutor.llm import LLM, prompt_messages
from tutor.prompts import load_prompt

if TYPE_CHECKING:
    from tutor.index import Index
    from tutor.retrieve import Retriever

log = logging.getLogger(__name__)

Verdict = Literal["covered", "partial", "missed", "contradicted"]
GradeMethod = Literal["embedding", "llm"]
VERDICTS: tuple[Verdict, ...] = ("covered", "partial", "missed", "contradicted")
CREDIT: dict[Verdict, float] = {"covered": 1.0, "partial": 0.5, "missed": 0.0, "contradicted": -0.5}
INJECTION_CAP = 9.0

Flag = Literal[
    "empty", "gibberish", "copied-question", "repeat", "not-english",
    "instructions-removed", "truncated", "skipped",
]
# Flags after which nothing in the answer is graded: every point is missed.
_NOTHING_TO_GRADE: frozenset[str] = frozenset(
    {"empty", "gibberish", "copied-question", "repeat", "not-english", "skipped"}
)


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """The passage from the index that backs one key point."""

    chunk_id: str
    doc: str
    section: str
    text: str  # the passage's sentence(s) that best support the key point
    in_bank_section: bool  # the bank cites this section for the point

    def to_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk_id, "doc": self.doc, "section": self.section,
                "text": self.text, "in_bank_section": self.in_bank_section}


@dataclass(frozen=True, slots=True)
class PointGrade:
    """The verdict on one key point."""

    index: int  # position of the key point in the bank question (0-based)
    point: str
    verdict: Verdict
    learner_sentence: str | None  # what the learner said about it, if anything
    similarity: float  # cosine of the point and the learner's best clause
    source: Source | None  # None only when the index has nothing for the point

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "point": self.point, "verdict": self.verdict,
                "learner_sentence": self.learner_sentence,
                "similarity": round(self.similarity, 3),
                "source": self.source.to_dict() if self.source else None}


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One question aimed at a key point the learner missed or got wrong."""

    question: str
    point: int  # index of the targeted key point
    written_by: str  # the LLM's name, or "template"

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "key_point": self.point, "written_by": self.written_by}


@dataclass(slots=True)
class Grade:
    question_id: str
    score: float
    verdicts: list[PointGrade]
    feedback: str
    method: str  # "embedding" or "llm: <backend name>"
    flags: list[Flag] = field(default_factory=list)
    follow_up: FollowUp | None = None  # written by the interviewer (tutor.interview)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def target(self) -> int | None:
        """The key point a follow-up should aim at (see `follow_up_target`)."""
        return follow_up_target([v.verdict for v in self.verdicts])

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (README: "tutor grade --json")."""
        return {
            "question_id": self.question_id,
            "score": self.score,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "feedback": self.feedback,
            "follow_up": self.follow_up.to_dict() if self.follow_up else None,
            "method": self.method,
            "flags": list(self.flags),
            "timings_ms": self.timings_ms,
        }


# --------------------------------------------------------------------------------------
# Score, follow-up target, feedback: pure functions of the verdicts
# --------------------------------------------------------------------------------------


def score(verdicts: Sequence[Verdict], *, cap: float = 10.0) -> float:
    """10 * max(0, sum of CREDIT) / number of points, capped, one decimal."""
    if not verdicts:
        return 0.0
    raw = 10.0 * max(0.0, sum(CREDIT[v] for v in verdicts)) / len(verdicts)
    return round(min(raw, cap), 1)


def follow_up_target(verdicts: Sequence[Verdict]) -> int | None:
    """The most important point to follow up on: a contradiction first (a wrong belief
    costs more in an interview than a gap), then a miss, then a partial answer; among
    equals the earliest, because the bank lists a question's central point first."""
    for wanted in ("contradicted", "missed", "partial"):
        for i, v in enumerate(verdicts):
            if v == wanted:
                return i
    return None


_FLAG_FEEDBACK: dict[str, str] = {
    "empty": "No answer given: say what you know, even if it is only part of the answer.",
    "gibberish": "I could not read that as an answer: write a few sentences in plain English.",
    "copied-question": "That repeats the question rather than answering it.",
    "repeat": "That is the same answer you gave last time: answer this question on its own.",
    "not-english": "I can only grade answers in English: please answer in English.",
    "skipped": "Skipped.",
}


def feedback(question: Question, verdicts: Sequence[PointGrade], flags: Sequence[str]) -> str:
    """One to three sentences: the overall picture, the worst error, what is still missing.

    Missing points are named by their section in the notes, not spelled out, so the
    follow-up question still tests them.
    """
    for flag in flags:
        if flag in _FLAG_FEEDBACK:
            return _FLAG_FEEDBACK[flag]
    n = len(verdicts)
    covered = sum(v.verdict == "covered" for v in verdicts)
    partial = sum(v.verdict == "partial" for v in verdicts)
    wrong = [v for v in verdicts if v.verdict == "contradicted"]
    if covered == n:
        opening = f"Complete: you covered all {n} key points."
    elif covered + partial == 0:
        opening = f"None of the {n} key points came through yet."
    else:
        half = f" and touched on {partial} more" if partial else ""
        opening = f"You covered {covered} of {n} key points{half}."
    sentences = [opening]
    if wrong:
        said = wrong[0].learner_sentence or ""
        where = _where(wrong[0])
        sentences.append(f"Careful: “{_clip(said, 120)}” contradicts the notes{where}.")
    gaps = [v for v in verdicts if v.verdict == "missed"]
    topics = list(dict.fromkeys(_section_name(question.key_points[v.index]) for v in gaps))
    if topics:
        sentences.append("Still missing: " + "; ".join(topics[:3]) + ".")
    if "instructions-removed" in flags:
        sentences.append("Instructions to the grader were ignored.")
    return " ".join(sentences[:3])


def _section_name(point: KeyPoint) -> str:
    return point.source.section


def _where(grade: PointGrade) -> str:
    if grade.source is None:
        return ""
    return f" ({grade.source.section.split(' > ')[-1]})"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# --------------------------------------------------------------------------------------
# Screening the raw answer
# --------------------------------------------------------------------------------------

# Sentences aimed at the grader rather than the question. `guard.is_override` catches
# generic prompt injection ("ignore previous instructions"); these are the grading-specific
# ones ("ignore the rubric", "give me 10", "mark this as correct").
_GRADER_DIRECTED = re.compile(
    r"\b(ignore|disregard|forget|skip|bypass)\b[^.?!\n]{0,30}\b(rubric|key ?points?|grading|grader|"
    r"criteria|reference|marking)"
    r"|\b(give|award|assign)\s+(me|this|it|my answer)\b[^.?!\n]{0,25}"
    r"\b(10|ten|full|perfect|maximum|max|top|100)\b"
    r"|\b(mark|grade|score|rate)\s+(this|me|it|my answer)\b[^.?!\n]{0,25}"
    r"\b(correct|covered|10|ten|full|perfect)\b"
    r"|\byou (are|must|should|will)\b[^.?!\n]{0,30}\b(grade|score|mark|rate)\b",
    re.IGNORECASE,
)
_SENTENCE_PIECE = re.compile(r"[^.?!\n]+[.?!]?|\n")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# English function words: an English answer of a few sentences always has several.
_FUNCTION_WORDS = frozenset(
    """a an the is are was were be been being of to in on at by for with from as that this these
    those it its and or but not no so if then than because which who what when where why how do
    does did can could will would should may might must has have had there their they them we
    you i he she one each all any some more most less only also just into over under about""".split()
)


@dataclass(frozen=True, slots=True)
class _Screened:
    text: str  # what is left to grade
    flags: list[Flag]
    grader_directed: bool


def _strip_grader_directed(text: str) -> tuple[str, int]:
    kept, removed = [], 0
    for match in _SENTENCE_PIECE.finditer(text):
        piece = match.group(0)
        if _GRADER_DIRECTED.search(piece):
            removed += 1
        else:
            kept.append(piece)
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(), removed


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _language_flags(text: str, vocab: frozenset[str]) -> list[Flag]:
    """`gibberish` for keyboard mash and word salad, `not-english` for another language.

    Word salad has no grammar: no function words, or the same few words over and over.
    Another language keeps its grammar but its words are not English function words.
    """
    words = _WORD.findall(text.lower())
    if not words:
        return ["gibberish"]
    non_latin = sum(not w.isascii() for w in words) / len(words)
    function = sum(w in _FUNCTION_WORDS for w in words) / len(words)
    known = sum(w in vocab for w in words) / len(words)
    distinct = len(set(words)) / len(words)
    if non_latin > 0.5 or (len(words) >= 6 and function < 0.05 and known >= 0.5 and distinct > 0.7
                           and _foreign_grammar(words)):
        return ["not-english"]
    if known < 0.5 or (len(words) >= 4 and function == 0) or (len(words) >= 6 and distinct < 0.5):
        return ["gibberish"]
    return []


# Frequent function words of the languages a learner here is likeliest to switch to; enough
# to tell "another language" from "English word salad".
_FOREIGN_FUNCTION_WORDS = frozenset(
    """le la les un une des du de et est sont dans pour que qui pas avec sur par au aux ce
    der die das und ist sind ein eine nicht mit den dem zu von auf für auch
    el los las y es son en por con para del al lo una unos se su
    il gli e sono di che per con non una della
    o os as um uma é são em do da não com para""".split()
)


def _foreign_grammar(words: Sequence[str]) -> bool:
    return sum(w in _FOREIGN_FUNCTION_WORDS for w in words) / len(words) >= 0.1


def screen(answer: str, question: Question, previous: str | None, *, max_chars: int,
           vocab: frozenset[str]) -> _Screened:
    """Decide what of the raw answer is gradable, and flag the bad cases (issue item 5)."""
    flags: list[Flag] = []
    text = answer.strip()
    if len(text) > max_chars:
        # Cut at a sentence end inside the limit: a wall of text must not cost minutes.
        cut = text[:max_chars]
        end = max(cut.rfind(". "), cut.rfind("\n"))
        text = cut[: end + 1] if end > max_chars // 2 else cut
        flags.append("truncated")
    text, overrides = strip_overrides(text)
    text, directed = _strip_grader_directed(text)
    if overrides or directed:
        flags.append("instructions-removed")
    if not text:
        flags.append("empty")
        return _Screened("", flags, bool(overrides or directed))
    norm = _normal(text)
    if previous and fuzz.ratio(norm, _normal(previous)) >= 90:
        flags.append("repeat")
    elif fuzz.token_set_ratio(norm, _normal(question.question)) >= 90 and len(norm) <= 1.3 * len(
        _normal(question.question)
    ):
        flags.append("copied-question")
    else:
        flags.extend(_language_flags(text, vocab))
    return _Screened(text, flags, bool(overrides or directed))


# --------------------------------------------------------------------------------------
# Units of an answer: sentences, and the clauses of long sentences
# --------------------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(
    r"[,;:]\s+|\s+[-–—]\s+|\s+(?:and|but|while|whereas|because|since|so|although|though)\s+",
    re.IGNORECASE,
)
_MIN_CLAUSE_WORDS = 4


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    sentence: int  # index of the sentence it comes from


def answer_units(text: str, question: Question) -> tuple[list[str], list[_Unit]]:
    """The answer's sentences, and the units matched against key points: each sentence and,
    for sentences that pack several claims, each clause of four words or more (a clause
    matches its own point better than the whole sentence does). Sentences that merely
    restate the question are left out: they would match its key points for free."""
    question_norm = _normal(question.question)
    sentences = [s.text for s in split_sentences(text) if not s.is_code and s.text.strip()]
    sentences = [s for s in sentences if fuzz.token_set_ratio(_normal(s), question_norm) < 90]
    units = [_Unit(s, i) for i, s in enumerate(sentences)]
    for i, sentence in enumerate(sentences):
        clauses = [c.strip() for c in _CLAUSE_BREAK.split(sentence)
                   if len(c.split()) >= _MIN_CLAUSE_WORDS]
        if len(clauses) > 1:
            units.extend(_Unit(c, i) for c in clauses)
    return sentences, units


# --------------------------------------------------------------------------------------
# Contradiction cues (embedding method)
# --------------------------------------------------------------------------------------

_NEGATION = re.compile(
    r"\b(not|no|never|cannot|without|nothing|none|neither|nor|nowhere)\b|n['’]t\b", re.IGNORECASE
)
# Direction words that make two otherwise similar claims incompatible.
_OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(a.split()), frozenset(b.split()))
    for a, b in (
        ("increase increases increasing raise raises grow grows growing larger bigger higher "
         "longer more quadruples quadruple multiplies expensive slower",
         "decrease decreases reduce reduces reducing shrink shrinks smaller lower shorter fewer "
         "less cheaper faster"),
        ("linear linearly", "quadratic quadratically square squared"),
        ("before pre-ln", "after post-ln"),
        ("zero", "random randomly"),
        ("same sharing shared only", "any whatever different another"),
        ("self-supervised self-supervision unlabelled unlabeled", "labelled labeled human-labelled "
         "supervised"),
        ("top-k few subset", "all every"),
        ("worse", "better equally"),
    )
)
# Absolute claims; against a hedged point they are the typical confidently wrong answer.
_ABSOLUTE = frozenset("completely entirely perfectly always exactly fully guaranteed".split())
_HEDGE = frozenset("not but can may might often usually only still although rather".split())
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(re.sub(r"(\d)\s*[x×]\s*(\d)", r"\1 \2", text))}


def conflict(point: str, claim: str) -> str | None:
    """The cue by which `claim` seems to say the opposite of `point`, or None.

    Both are already about the same thing (their embeddings are close). Each cue alone is
    weak; the grader applies them only to the learner's clause that best matches the point.
    """
    if bool(_NEGATION.search(point)) != bool(_NEGATION.search(claim)):
        return "polarity"
    p_words = set(_TOKEN.findall(point.lower()))
    c_words = set(_TOKEN.findall(claim.lower()))
    for a, b in _OPPOSITES:
        for mine, theirs in ((a, b), (b, a)):
            if c_words & mine and p_words & theirs and not p_words & mine and not c_words & theirs:
                return f"opposite: {sorted(c_words & mine)[0]} / {sorted(p_words & theirs)[0]}"
    p_numbers, c_numbers = _numbers(point), _numbers(claim)
    if p_numbers and c_numbers - p_numbers and not c_numbers & p_numbers - {"1", "2"}:
        return "number"
    if c_words & _ABSOLUTE - p_words and p_words & _HEDGE:
        return "absolute"
    return None


# --------------------------------------------------------------------------------------
# The grader
# --------------------------------------------------------------------------------------

_GRADE_SCHEMA_ITEM = {
    "type": "object",
    "properties": {
        "sentence": {"type": "integer", "minimum": 0},
        "verdict": {"type": "string", "enum": list(VERDICTS)},
    },
    "required": ["sentence", "verdict"],
    "additionalProperties": False,
}


class Grader:
    """Grades answers to bank questions. Sources per question are retrieved once and kept."""

    def __init__(self, settings: Settings, index: Index, *, llm: LLM | None = None,
                 method: GradeMethod | None = None) -> None:
        self.settings = settings
        self.index = index
        self._llm = llm
        self.method: GradeMethod = method or resolve_method(settings)
        self._sources: dict[str, list[Source | None]] = {}
        self._points: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @cached_property
    def retriever(self) -> Retriever:
        from tutor.retrieve import Retriever

        return Retriever(self.settings, self.index)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from tutor.llm import get_llm

            self._llm = get_llm(self.settings)
        return self._llm

    @cached_property
    def _vocab(self) -> frozenset[str]:
        from tutor.models import load_embedder

        vocab = load_embedder(self.settings).tokenizer.get_vocab()
        return frozenset(w for w in vocab if w.isalpha())

    # -- public --------------------------------------------------------------------------

    def grade(self, question: Question, answer: str, *, previous_answer: str | None = None,
              points: Sequence[int] | None = None) -> Grade:
        """Grade `answer` against the question's key points (or only `points`, for a
        follow-up aimed at some of them). `previous_answer` is the learner's last answer,
        to catch one that is merely repeated."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        chosen = list(points) if points is not None else list(range(len(question.key_points)))
        checked = screen(answer, question, previous_answer,
                         max_chars=self.settings.grade_max_answer_chars, vocab=self._vocab)
        sources = self.sources(question)
        timings["sources_ms"] = _ms(started)
        graded_at = time.perf_counter()
        if _NOTHING_TO_GRADE & set(checked.flags):
            verdicts = [PointGrade(i, question.key_points[i].point, "missed", None, 0.0, sources[i])
                        for i in chosen]
            method = self.method if self.method == "embedding" else f"llm: {self.llm.name}"
        elif self.method == "llm":
            verdicts = self._grade_llm(question, checked.text, chosen, sources)
            method = f"llm: {self.llm.name}"
        else:
            verdicts = self._grade_embedding(question, checked.text, chosen, sources)
            method = "embedding"
        timings["grade_ms"] = _ms(graded_at)
        cap = INJECTION_CAP if checked.grader_directed else 10.0
        result = Grade(
            question_id=question.id,
            score=score([v.verdict for v in verdicts], cap=cap),
            verdicts=verdicts,
            feedback=feedback(question, verdicts, checked.flags),
            method=method,
            flags=checked.flags,
        )
        timings["total_ms"] = _ms(started)
        result.timings_ms = timings
        return result

    def sources(self, question: Question) -> list[Source | None]:
        """For each key point, the passage the index returns for it: the best hit from the
        section the bank cites, else the best hit. Cached per question (retrieval with
        reranking costs a few hundred ms per point on a CPU)."""
        with self._lock:
            cached = self._sources.get(question.id)
        if cached is not None:
            return cached
        found = [self._source(p) for p in question.key_points]
        with self._lock:
            self._sources[question.id] = found
        return found

    # -- steps ---------------------------------------------------------------------------

    def _source(self, point: KeyPoint) -> Source | None:
        hits = self.retriever.search(point.point).hits
        if not hits:
            return None

        def in_bank(hit: Any) -> bool:
            doc = hit.chunk.doc
            cited = doc == point.source.file or doc.endswith("/" + point.source.file)
            return cited and hit.chunk.section.split(" > ")[-1] == point.source.section

        best = next((h for h in hits if in_bank(h)), hits[0])
        support = best_support(point.point, best.chunk.text)
        span = best.chunk.text[support.start:support.end].strip() or best.chunk.text
        return Source(best.chunk.id, best.chunk.doc, best.chunk.section, span, in_bank(best))

    def _point_vectors(self, question: Question) -> np.ndarray:
        with self._lock:
            cached = self._points.get(question.id)
        if cached is None:
            cached = self._encode([p.point for p in question.key_points])
            with self._lock:
                self._points[question.id] = cached
        return cached

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        from tutor.models import load_embedder

        return np.asarray(load_embedder(self.settings).encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False))

    def _matches(self, question: Question, text: str, chosen: Sequence[int]
                 ) -> tuple[list[str], list[tuple[_Unit | None, float]]]:
        """Per chosen point: the learner's best-matching unit and its cosine similarity."""
        sentences, units = answer_units(text, question)
        if not units:
            return sentences, [(None, 0.0) for _ in chosen]
        sims = self._point_vectors(question)[list(chosen)] @ self._encode([u.text for u in units]).T
        best = sims.argmax(axis=1)
        return sentences, [(units[j], float(sims[k, j])) for k, j in enumerate(best)]

    def _grade_embedding(self, question: Question, text: str, chosen: Sequence[int],
                         sources: Sequence[Source | None]) -> list[PointGrade]:
        s = self.settings
        sentences, matches = self._matches(question, text, chosen)
        verdicts = []
        for i, (unit, sim) in zip(chosen, matches, strict=True):
            point = question.key_points[i].point
            verdict: Verdict
            if unit is None or sim < s.grade_partial_similarity:
                verdict = "missed"
            else:
                verdict = "covered" if sim >= s.grade_covered_similarity else "partial"
            if unit is not None and sim >= s.grade_contradiction_similarity and conflict(
                point, unit.text
            ):
                verdict = "contradicted"
            said = sentences[unit.sentence] if unit is not None and verdict != "missed" else None
            verdicts.append(PointGrade(i, point, verdict, said, sim, sources[i]))
        return verdicts

    def _grade_llm(self, question: Question, text: str, chosen: Sequence[int],
                   sources: Sequence[Source | None]) -> list[PointGrade]:
        sentences, matches = self._matches(question, text, chosen)
        if not sentences:
            return [PointGrade(i, question.key_points[i].point, "missed", None, 0.0, sources[i])
                    for i in chosen]
        points = "\n".join(f"{n}. {question.key_points[i].point}" for n, i in enumerate(chosen, 1))
        numbered = "\n".join(f"[{n}] {s}" for n, s in enumerate(sentences, 1))
        messages = prompt_messages(load_prompt("grade"))
        messages.append({"role": "user", "content": (
            f"Question: {question.question}\nKey points:\n{points}\n"
            f"Learner's answer:\n<answer>\n{numbered}\n</answer>")})
        schema = {
            "type": "object",
            "properties": {"points": {"type": "array", "items": _GRADE_SCHEMA_ITEM,
                                      "minItems": len(chosen), "maxItems": len(chosen)}},
            "required": ["points"],
            "additionalProperties": False,
        }
        raw = self.llm.complete(messages, max_tokens=24 * len(chosen) + 24, temperature=0.0,
                                json_schema=schema)
        judged = _parse_llm_verdicts(raw, len(chosen), len(sentences))
        verdicts = []
        for i, (unit, sim), (n, verdict) in zip(chosen, matches, judged, strict=True):
            said: str | None = None
            if verdict != "missed":
                # The judge's sentence number when it gave one, else the closest sentence.
                said = sentences[n - 1] if n else (sentences[unit.sentence] if unit else None)
            verdicts.append(PointGrade(i, question.key_points[i].point, verdict, said, sim,
                                       sources[i]))
        return verdicts


def _parse_llm_verdicts(raw: str, n_points: int, n_sentences: int) -> list[tuple[int, Verdict]]:
    """The judge's (sentence number, verdict) per point; anything unreadable counts as missed
    (a grader that cannot read its judge must not give credit)."""
    try:
        items = json.loads(raw).get("points", [])
    except (json.JSONDecodeError, AttributeError):
        log.warning("the LLM judge returned unreadable JSON; every point counts as missed")
        items = []
    out: list[tuple[int, Verdict]] = []
    for k in range(n_points):
        item = items[k] if k < len(items) and isinstance(items[k], dict) else {}
        verdict = item.get("verdict")
        n = item.get("sentence")
        n = n if isinstance(n, int) and 0 <= n <= n_sentences else 0
        out.append((n, verdict if verdict in VERDICTS else "missed"))
    return out


def resolve_method(settings: Settings) -> GradeMethod:
    """`auto`: a configured endpoint grades (`llm`); with nothing configured, `embedding`."""
    if settings.grade_method != "auto":
        return settings.grade_method
    return "llm" if settings.llm_base_url else "embedding"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
