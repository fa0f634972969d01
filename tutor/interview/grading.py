"""Grading a learner's free-form answer key point by key point, each verdict with its source.

For every key point of a bank question the grader decides `covered`, `partial`, `missed` or
`contradicted`, quotes the learner's sentence that earned the verdict, and cites a passage
retrieved from the index for that point (the bank names a file and section; the passage shown
is what the real retrieval pipeline finds for the point, preferring that section).

Four methods; every result names the one that graded it:

- `embedding` (no LLM, fastest): the answer is split into sentences and clauses, embedded
  with the bundled MiniLM together with the key points, and each point's best-matching clause
  decides covered / partial / missed by cosine similarity. MiniLM scores "X" and "not X"
  alike, so the clauses that match a point are also checked for cheap contradiction cues: a
  flipped negation, opposite direction words, a different number, or an absolute claim
  against a hedged point (`conflict`).
- `embedding+judge` (the default with nothing configured): the same similarity, and for every
  point it would give credit for, the embedded LLM is asked whether the learner's sentence
  agrees with the point (`llm_refutes`: yes, no, or neither). "No" makes it contradicted; a
  point the similarity does not credit gets the cues, as in `embedding`.
- `judge` (opt-in): MiniLM's cosine picks the learner's units closest to each key point, and
  our judge model (`tutor/judge/model.py`, trained on our notes to tell entails / contradicts /
  neither) reads each against the point and the note sentence behind it (`decide`). No LLM,
  no word lists; on the held-out learners it gives far fewer false "contradicted" verdicts
  than the cues but catches few real ones yet, so it is not the default (docs/judge.md).
- `llm` (the default when TUTOR_LLM_BASE_URL is set): the LLM reads the question, the key
  points and the numbered sentences of the answer and returns one verdict per point as
  schema-constrained JSON. Meant for a served model; the embedded 1.5B is too weak for it.

Score (0-10): each key point earns credit covered 1, partial 0.5, missed 0, contradicted -0.5
(a confidently wrong claim is worse than a gap); score = 10 * max(0, sum of credits) / number
of key points, rounded to one decimal. An answer that tries to instruct the grader has those
sentences removed before grading and its score capped at 9, so an injection never earns a 10.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tutor.answering.support import SupportChecker
from tutor.config import Settings
from tutor.interview.answer_units import Unit, answer_units
from tutor.interview.cues import conflict
from tutor.interview.grades import (
    INJECTION_CAP,
    Grade,
    PointGrade,
    Source,
    feedback,
    score,
)
from tutor.interview.grading_llm import llm_refutes, llm_verdicts
from tutor.interview.knowledge import KeyPoint, Question
from tutor.interview.screening import screen
from tutor.interview.verdicts import (
    PointEvidence,
    PointQuestion,
    Verdict,
    VerdictThresholds,
    decide,
    point_evidence,
)
from tutor.llm import LLM
from tutor.timing import ms_since

if TYPE_CHECKING:
    from tutor.retrieval.retrieve import Retriever
    from tutor.store.index import Index

log = logging.getLogger(__name__)

GradeMethod = Literal["embedding", "embedding+judge", "judge", "llm"]
GRADE_METHODS: tuple[GradeMethod, ...] = ("embedding", "embedding+judge", "judge", "llm")

# Flags after which nothing in the answer is graded: every point is missed.
_NOTHING_TO_GRADE: frozenset[str] = frozenset(
    {"empty", "gibberish", "copied-question", "repeat", "not-english", "skipped"}
)


# How many of a point's best-matching clauses the cues check for contradicting it, and how far
# below the best match one may be (method embedding).
_CONFLICT_CANDIDATES = 3
_CONFLICT_MARGIN = 0.1
# The learner's units (by cosine to a point) the judge reads for it, besides the window of
# the two closest sentences: a point is nearly always made there, and each unit costs the
# judge three pairs.
_CANDIDATE_UNITS = 4
_SOURCE_DEPTH = 10
_MAX_SOURCE_CHARS = 320

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

    def using(self, method: GradeMethod, *, llm: LLM | None = None) -> Grader:
        """A grader of the same notes by another method, sharing the sources and key-point
        vectors found so far: they do not depend on the method, and a question's sources
        cost a reranked retrieval per key point (scripts/eval_interview.py compares methods
        on the same questions)."""
        other = Grader(self.settings, self.index, llm=llm or self._llm, method=method)
        other._sources, other._points, other._lock = self._sources, self._points, self._lock
        return other

    @cached_property
    def retriever(self) -> Retriever:
        from tutor.retrieval.retrieve import Retriever

        return Retriever(self.settings, self.index)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from tutor.llm import get_llm

            self._llm = get_llm(self.settings)
        return self._llm

    @cached_property
    def _vocab(self) -> frozenset[str]:
        from tutor.retrieval.models import load_embedder

        vocab = load_embedder(self.settings).tokenizer.get_vocab()
        return frozenset(w for w in vocab if w.isalpha())

    # -- public --------------------------------------------------------------------------

    def grade(self, question: Question, answer: str, *, previous_answer: str | None = None,
              points: Sequence[int] | None = None, asked: str | None = None) -> Grade:
        """Grade `answer` against the question's key points, or only `points` for a follow-up
        aimed at some of them (`asked` is then the follow-up's text, to catch an answer that
        merely copies it). `previous_answer` is the learner's last answer, to catch one that
        is merely repeated."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        chosen = list(points) if points is not None else list(range(len(question.key_points)))
        checked = screen(answer, asked or question.question, previous_answer,
                         max_chars=self.settings.grade_max_answer_chars, vocab=self._vocab)
        sources = self.sources(question)
        timings["sources_ms"] = ms_since(started)
        graded_at = time.perf_counter()
        if _NOTHING_TO_GRADE & set(checked.flags):
            verdicts = _all_missed(question, chosen, sources)
        elif self.method == "llm":
            verdicts = self._grade_llm(question, checked.text, chosen, sources)
        elif self.method == "judge":
            verdicts = self._grade_judge(question, checked.text, chosen, sources)
        else:
            verdicts = self._grade_embedding(question, checked.text, chosen, sources)
        timings["grade_ms"] = ms_since(graded_at)
        cap = INJECTION_CAP if checked.grader_directed else 10.0
        result = Grade(
            question_id=question.id,
            score=score([v.verdict for v in verdicts], cap=cap),
            verdicts=verdicts,
            feedback=feedback(question, verdicts, checked.flags),
            method=self.method_name,
            flags=checked.flags,
        )
        timings["total_ms"] = ms_since(started)
        result.timings_ms = timings
        return result

    def skip(self, question: Question, *, points: Sequence[int] | None = None) -> Grade:
        """The grade of a question (or follow-up) the learner gave up on: every point missed."""
        chosen = list(points) if points is not None else list(range(len(question.key_points)))
        verdicts = _all_missed(question, chosen, self.sources(question))
        return Grade(question.id, 0.0, verdicts, feedback(question, verdicts, ["skipped"]),
                     self.method_name, ["skipped"])

    @property
    def method_name(self) -> str:
        """What grades, as written in every result: "embedding", "judge", or
        "embedding+judge: <LLM name>" / "llm: <LLM name>"."""
        if self.method in ("embedding", "judge"):
            return self.method
        return f"{self.method}: {self.llm.name}"

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
        # Deeper than an answer's top 5: the section the bank cites is usually in the first
        # few hits, but a neighbouring section that mentions the same terms can outrank it.
        hits = self.retriever.search(point.point, k=_SOURCE_DEPTH).hits
        if not hits:
            return None

        def in_bank(hit: Any) -> bool:
            return point.source.names(hit.chunk.doc, hit.chunk.section)

        best = next((h for h in hits if in_bank(h)), hits[0])
        text = best.chunk.text
        # The sentence of the passage that states the point, as the judge reads it.
        found = SupportChecker(self.settings).evidence([point.point], [text])[0].entailed_by
        span = found.text if found else text[:_MAX_SOURCE_CHARS].rsplit(" ", 1)[0] + " …"
        # Lines kept: a span from a table is its rows, which `quoting.as_prose` reads as
        # cells (joined into one line, the rule row "|---|" was shown as "--- · ---").
        lines = (" ".join(line.split()) for line in span.splitlines())
        return Source(best.chunk.id, best.chunk.doc, best.chunk.section,
                      "\n".join(line for line in lines if line), in_bank(best))

    def _point_vectors(self, question: Question) -> np.ndarray:
        with self._lock:
            cached = self._points.get(question.id)
        if cached is None:
            cached = self._encode([p.point for p in question.key_points])
            with self._lock:
                self._points[question.id] = cached
        return cached

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        from tutor.retrieval.models import embed

        return embed(self.settings, texts)

    def _matches(self, question: Question, text: str, chosen: Sequence[int]
                 ) -> tuple[list[str], list[list[tuple[Unit, float]]]]:
        """Per chosen point: the learner's units, best-matching first, with their cosines."""
        sentences, units = answer_units(text, question)
        if not units:
            return sentences, [[] for _ in chosen]
        sims = self._point_vectors(question)[list(chosen)] @ self._encode([u.text for u in units]).T
        order = np.argsort(-sims, axis=1)
        return sentences, [[(units[j], float(sims[k, j])) for j in row]
                           for k, row in enumerate(order)]

    def _grade_embedding(self, question: Question, text: str, chosen: Sequence[int],
                         sources: Sequence[Source | None]) -> list[PointGrade]:
        """Similarity decides how much of a point was made. Whether it was made wrongly is
        the LLM's call for every point the similarity would give credit for (method
        `embedding+judge`); otherwise, and for clauses too far from the point to earn credit,
        the contradiction cues decide."""
        s = self.settings
        judge = self.method == "embedding+judge"
        sentences, matches = self._matches(question, text, chosen)
        verdicts = []
        for i, ranked in zip(chosen, matches, strict=True):
            point = question.key_points[i].point
            unit, sim = ranked[0] if ranked else (None, 0.0)
            verdict: Verdict = "missed"
            if sim >= s.grade_covered_similarity:
                verdict = "covered"
            elif sim >= s.grade_partial_similarity:
                verdict = "partial"
            if judge and unit is not None and verdict != "missed":
                if llm_refutes(self.llm, point, sentences[unit.sentence]):
                    verdict = "contradicted"
            else:
                # Any clause about the point (close to the best match) may be the wrong claim:
                # "sinusoids are a fixed formula | so they extrapolate perfectly" is two units.
                for other, other_sim in ranked[:_CONFLICT_CANDIDATES]:
                    if other_sim >= max(s.grade_contradiction_similarity,
                                        sim - _CONFLICT_MARGIN) and conflict(point, other.text,
                                                                             other_sim):
                        verdict, unit = "contradicted", other
                        break
            said = sentences[unit.sentence] if unit is not None and verdict != "missed" else None
            verdicts.append(PointGrade(i, point, verdict, said, sim, sources[i]))
        return verdicts

    def evidence(self, question: Question, text: str, chosen: Sequence[int]
                 ) -> tuple[list[str], list[tuple[PointEvidence, list[Unit]]]]:
        """The answer's sentences and, per chosen point, what the judge says about it against
        the learner's closest units (which it read). Public for threshold tuning on the
        labelled learners (scripts/eval_interview.py --tune)."""
        from tutor.judge.model import load_judge

        judge = load_judge(self.settings)
        sources = self.sources(question)
        sentences, matches = self._matches(question, text, chosen)
        candidates, asked = [], []
        for i, ranked in zip(chosen, matches, strict=True):
            units = [u for u, _ in ranked[:_CANDIDATE_UNITS]]
            # The two closest whole sentences, in the answer's order, as one more unit: a
            # point is often made across two (the judge was trained on such windows,
            # judge_data.evidence_window).
            closest = list(dict.fromkeys(u.sentence for u, _ in ranked
                                         if u.text == sentences[u.sentence]))[:2]
            if len(closest) == 2:
                a, b = sorted(closest)
                units.append(Unit(f"{sentences[a]} {sentences[b]}", a))
            source = sources[i]
            candidates.append(units)
            asked.append(PointQuestion(question.key_points[i].point, source.text if source else None,
                                       [u.text for u in units],
                                       part_unit=len(units) - 1 if len(closest) == 2 else 0))
        return sentences, list(zip(point_evidence(judge, asked), candidates, strict=True))

    def _grade_judge(self, question: Question, text: str, chosen: Sequence[int],
                     sources: Sequence[Source | None]) -> list[PointGrade]:
        """`decide` turns the judge's probabilities for each point into its verdict."""
        s = self.settings
        at = VerdictThresholds(s.grade_covered_at, s.grade_partial_at, s.grade_contradicted_at)
        sentences, judged = self.evidence(question, text, chosen)
        verdicts = []
        for i, (evidence, units) in zip(chosen, judged, strict=True):
            verdict, k = decide(evidence, at)
            said = sentences[units[k].sentence] if k is not None else None
            verdicts.append(PointGrade(i, question.key_points[i].point, verdict, said,
                                       evidence.states, sources[i]))
        return verdicts

    def _grade_llm(self, question: Question, text: str, chosen: Sequence[int],
                   sources: Sequence[Source | None]) -> list[PointGrade]:
        sentences, matches = self._matches(question, text, chosen)
        if not sentences:
            return _all_missed(question, chosen, sources)
        judged = llm_verdicts(self.llm, question, chosen, sentences)
        verdicts = []
        for i, ranked, (n, verdict) in zip(chosen, matches, judged, strict=True):
            unit, sim = ranked[0] if ranked else (None, 0.0)
            said: str | None = None
            if verdict != "missed":
                # The judge's sentence number when it gave one, else the closest sentence.
                said = sentences[n - 1] if n else (sentences[unit.sentence] if unit else None)
            verdicts.append(PointGrade(i, question.key_points[i].point, verdict, said, sim,
                                       sources[i]))
        return verdicts


def _all_missed(question: Question, chosen: Sequence[int], sources: Sequence[Source | None]
                ) -> list[PointGrade]:
    return [PointGrade(i, question.key_points[i].point, "missed", None, 0.0, sources[i])
            for i in chosen]


def resolve_method(settings: Settings) -> GradeMethod:
    """`auto`: a configured endpoint grades (`llm`); with nothing configured, similarity
    with the embedded LLM as contradiction judge (`embedding+judge`). The trained judge
    (`judge`) is opt-in until it beats that on the held-out learners (docs/judge.md)."""
    if settings.grade_method != "auto":
        return settings.grade_method
    return "llm" if settings.llm_base_url else "embedding+judge"
