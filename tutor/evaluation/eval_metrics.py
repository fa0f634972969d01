"""The evaluation's metrics: each group turns the per-case results of a run into named,
described numbers (or says why a number could not be computed).

The report, the thresholds and the diff handle every metric by name, so a new group (the
mock interview's agreement with reference grades, say) is one function added to
`METRIC_GROUPS`. Every metric carries how many cases it rests on and a 95 % bootstrap
interval over those cases, so 8 judged answers read as what they are. Gated metrics are
higher-is-better (a threshold is a minimum); the one lower-is-better number, answer time, is
only compared against a baseline, where a rise is the regression.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from statistics import fmean, median, quantiles
from typing import TYPE_CHECKING, TypeVar

from tutor.config import RETRIEVAL_MODES
from tutor.evaluation.ragas_metrics import CONTEXT_METRICS, JUDGED_METRICS, Score

if TYPE_CHECKING:
    from tutor.evaluation.eval_records import AnswerRecord, CaseResult
    from tutor.evaluation.gold import RetrievalScores

T = TypeVar("T")

# Resamples per interval. 1000 is the usual floor for a 95 % percentile interval; 2000 keeps
# the ends steady to the third decimal the report shows (baseline MRR@10's lower end over 30
# seeds: s.d. 0.0016 at 1000, 0.0011 at 2000), and every metric of the baseline takes 0.6 s.
RESAMPLES = 2000


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    group: str
    value: float | None  # None: not computed, `note` says why
    n: int  # how many cases (or citations) it averages over
    about: str
    note: str = ""
    # The fields below came with the gate's statistics: a summary written before them (the
    # committed baseline, say) reads with these defaults.
    attempted: int | None = None  # cases it was tried on, judge failures included; None: n
    low: float | None = None  # 95 % bootstrap interval, resampling cases (seeded)
    high: float | None = None
    unit: str = ""  # what n counts: cases, answers, citations, markers ("": not recorded)
    higher_is_better: bool = True

    @property
    def tried(self) -> int:
        return self.n if self.attempted is None else self.attempted

    def count(self) -> str:
        """What the number rests on: "8 answers", or "1 of 8 answers" where some failed."""
        tried = f" of {self.tried}" if self.tried != self.n else ""
        return f"{self.n}{tried} {self.unit}".rstrip()


def bootstrap(rows: Sequence[T], statistic: Callable[[Sequence[T]], float], seed: str) -> tuple[float, float]:
    """The 95 % percentile interval of `statistic` over `rows` resampled with replacement.

    Rows are whole cases, so a paired statistic (one mode against another on the same case)
    or a ratio of sums (citations per answer) keeps each case's parts together.
    """
    rng = random.Random(seed)  # a str seed hashes the same on every run and machine
    draws = [statistic(rng.choices(rows, k=len(rows))) for _ in range(RESAMPLES)]
    cuts = quantiles(draws, n=40, method="inclusive")  # 2.5 %, 5 %, ..., 97.5 %
    return round(cuts[0], 4), round(cuts[-1], 4)


def _estimate(rows: Sequence[T], statistic: Callable[[Sequence[T]], float], name: str, group: str,
              about: str, seed: int, n: int, unit: str) -> Metric:
    low, high = bootstrap(rows, statistic, f"{seed}:{name}")  # seeded per name: a new metric moves no other
    return Metric(name, group, round(statistic(rows), 4), n, about, low=low, high=high, unit=unit)


def _missing(name: str, group: str, about: str, why: str, unit: str = "cases") -> Metric:
    return Metric(name, group, None, 0, about, f"not computed: {why}", unit=unit)


def _mean(values: Sequence[float], name: str, group: str, about: str, empty: str, seed: int,
          unit: str = "cases", statistic: Callable[[Sequence[float]], float] = fmean) -> Metric:
    if not values:
        return _missing(name, group, about, empty, unit)
    return _estimate(values, statistic, name, group, about, seed, len(values), unit)


def _ratio_of_sums(rows: Sequence[tuple[int, int]]) -> float:
    return sum(part for part, _ in rows) / sum(whole for _, whole in rows)


def _ratio(rows: Sequence[tuple[int, int]], name: str, group: str, about: str, empty: str, seed: int,
           unit: str = "cases") -> Metric:
    """sum(part) / sum(whole), each row one case's (part, whole), resampled by case."""
    counted = [r for r in rows if r[1]]  # a case with nothing to count adds to neither side
    whole = sum(w for _, w in counted)
    if whole == 0:
        return _missing(name, group, about, empty, unit)
    return _estimate(counted, _ratio_of_sums, name, group, about, seed, whole, unit)


def _share(flags: Sequence[bool], name: str, group: str, about: str, empty: str, seed: int,
           unit: str = "cases") -> Metric:
    return _ratio([(int(f), 1) for f in flags], name, group, about, empty, seed, unit)


_RETRIEVAL_ABOUT = {
    "hit_at_1": "a reference passage ranked first",
    "hit_at_5": "a reference passage in the top 5",
    "mrr_at_10": "mean reciprocal rank of the first reference passage (top 10)",
    "precision_at_5": "share of the top 5 hits from reference passages",
    "recall_at_10": "share of a case's reference passages found in the top 10",
}


def retrieval_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    rows = [c.retrieval for c in cases if c.retrieval is not None]
    return [_mean([getattr(r, name) for r in rows], name, "retrieval", about, "no case has reference passages",
                  seed) for name, about in _RETRIEVAL_ABOUT.items()]


_CONTEXT_ABOUT = {
    "id_context_precision": "RAGAS IDBasedContextPrecision: passages given to the LLM that are reference chunks",
    "id_context_recall": "RAGAS IDBasedContextRecall: reference chunks among the passages given to the LLM",
    "nonllm_context_precision": "RAGAS NonLLMContextPrecisionWithReference (string similarity)",
    "nonllm_context_recall": "RAGAS NonLLMContextRecall (string similarity)",
}


def _score_metrics(scores: Sequence[dict[str, Score]], names: Sequence[str], about: dict[str, str],
                   group: str, seed: int, prefix: str = "", unit: str = "cases") -> list[Metric]:
    """Each metric over the cases that were scored, and `attempted` = every case handed over:
    a case the judge failed on (or never returned) counts against the metric's coverage
    instead of vanishing from its mean."""
    out = []
    for name in names:
        got = [s.get(name, Score.missing("no score returned")) for s in scores]
        values = [g.value for g in got if g.value is not None]
        failed = [g.note for g in got if g.value is None]
        metric = _mean(values, prefix + name, group, about[name], failed[0] if failed else "no case to score",
                       seed, unit)
        if values and failed:  # partly computed: say how many failed and why
            metric = replace(metric, note=f"{len(failed)} of {len(scores)} {unit} not computed, e.g. {failed[0]}")
        out.append(replace(metric, attempted=len(scores)))
    return out


def context_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    return _score_metrics([c.context for c in cases if c.retrieval is not None], CONTEXT_METRICS,
                          _CONTEXT_ABOUT, "ragas (no LLM)", seed)


def refusal_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    group = "refusals"
    ran = [(c, c.pipeline) for c in cases if c.pipeline is not None]
    answerable = [c for c in cases if not c.should_refuse]
    return [
        _share([p.refused for c, p in ran if c.kind == "out_of_scope"], "refusal_out_of_scope", group,
               "out-of-scope questions the tutor refused", "no out-of-scope case", seed),
        _share([p.refused for c, p in ran if c.kind == "adversarial" and c.should_refuse], "refusal_injection",
               group, "pure prompt injections (no question in scope) the tutor refused", "no such case", seed),
        _share([c.cleared_floor for c in answerable], "answerable_above_floor", group,
               "answerable questions whose retrieval clears the relevance floor (not refused outright)",
               "no answerable case", seed),
        _share([not p.refused for c, p in ran if c.in_llm_sample], "answered_in_sample", group,
               "answerable questions of the LLM sample the full pipeline answered", "no LLM cases", seed),
        _share([p.refused == c.should_refuse for c, p in ran], "refusal_accuracy", group,
               "right answer-or-refuse decisions of the full pipeline (every case it ran on)",
               "the full pipeline ran on no case", seed),
    ]


def _answer_metrics(records: Sequence[AnswerRecord], group: str, prefix: str, seed: int) -> list[Metric]:
    answered = [r for r in records if not r.refused]
    empty = "no answered case" if not answered else "no answer cited a passage"
    # The median, not the mean: one answer slowed by a busy machine is not the tutor's speed.
    seconds = _mean([r.seconds for r in records if r.llm_called], prefix + "answer_seconds_p50", group,
                    "median seconds from question to full answer, where the LLM was called",
                    "the LLM answered no case", seed, "answers", median)
    return [
        _ratio([(r.valid_citations, len(r.citations)) for r in answered], prefix + "citation_validity", group,
               "shown citations naming a passage the LLM was given, span taken from it", empty, seed,
               "citations"),
        _ratio([(r.markers, r.markers + r.dropped_citations) for r in answered], prefix + "model_citation_validity",
               group, "[n] markers the model wrote that named a given passage (others are dropped)", empty, seed,
               "markers"),
        _share([bool(r.citations) for r in answered], prefix + "cited_answer_rate", group,
               "answers citing at least one passage", "no answered case", seed, "answers"),
        _ratio([(r.relevant_citations, len(r.citations)) for r in answered], prefix + "citation_relevance",
               group, "citations pointing at a reference passage of the case", empty, seed, "citations"),
        _share([not r.unsupported_sentences for r in answered], prefix + "supported_answer_rate", group,
               "answers every sentence of which a given passage entails (the judge), after corrections",
               "no answered case", seed, "answers"),
        _share([not r.corrected_sentences for r in answered], prefix + "uncorrected_answer_rate", group,
               "answers with no cited falsehood for the judge to replace by the passage's words",
               "no answered case", seed, "answers"),
        replace(seconds, higher_is_better=False),
    ]


_JUDGED_ABOUT = {
    "faithfulness": "RAGAS Faithfulness: answer statements supported by the passages",
    "answer_relevancy": "RAGAS AnswerRelevancy: question regenerated from the answer vs the question",
    "llm_context_precision": "RAGAS ContextPrecision (LLM, against the reference answer)",
}


def answer_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    return _answer_metrics([c.pipeline for c in cases if c.in_llm_sample and c.pipeline], "answers", "", seed)


def _asked(scores: Sequence[dict[str, Score]]) -> tuple[str, ...]:
    """The judged metrics a run asked for (`tutor eval --judged`): every asked metric has a
    score or a reason in each judged answer. With no answer judged, all of them (not computed)."""
    asked = tuple(n for n in JUDGED_METRICS if any(n in s for s in scores))
    return asked or JUDGED_METRICS


def judged_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    scores = [c.pipeline.judged for c in cases if c.in_llm_sample and c.pipeline and not c.pipeline.refused]
    return _score_metrics(scores, _asked(scores), _JUDGED_ABOUT, "judged", seed, unit="answers")


def _rerank_margin(rows: Sequence[dict[str, RetrievalScores]]) -> float:
    mrr = {m: fmean(r[m].mrr_at_10 for r in rows) for m in RETRIEVAL_MODES}
    return mrr["hybrid+rerank"] - max(v for m, v in mrr.items() if m != "hybrid+rerank")


def ablation_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    """How far hybrid+rerank is ahead of the best single mode (negative: behind), with a
    paired bootstrap interval: each resample keeps a case's four modes together and picks the
    best single mode again, so the interval says whether the reranker's lead is more than luck."""
    rows = [c.modes for c in cases if c.modes]
    if not rows:
        return []
    name, group = "rerank_margin_mrr_at_10", "ablation"
    about = "MRR@10 of hybrid+rerank minus the best of bm25, dense and hybrid"
    if any(set(r) != set(RETRIEVAL_MODES) for r in rows):
        return [_missing(name, group, about, "some retrieval modes could not run")]
    return [_estimate(rows, _rerank_margin, name, group, about, seed, len(rows), "cases")]


def whole_corpus_metrics(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    records = [c.whole_corpus for c in cases if c.whole_corpus]
    if not records:
        return []
    group = "whole corpus in the prompt"
    answered = [r.judged for r in records if not r.refused]
    return (_answer_metrics(records, group, "whole_corpus_", seed)
            + _score_metrics(answered, _asked(answered), _JUDGED_ABOUT, group, seed, "whole_corpus_",
                             "answers"))


METRIC_GROUPS: tuple[Callable[[Sequence[CaseResult], int], list[Metric]], ...] = (
    retrieval_metrics, context_metrics, refusal_metrics, answer_metrics, judged_metrics,
    ablation_metrics, whole_corpus_metrics,
)


def summarize(cases: Sequence[CaseResult], seed: int) -> list[Metric]:
    """Every metric of a run; `seed` (TUTOR_EVAL_SEED) makes the intervals reproducible."""
    return [m for group in METRIC_GROUPS for m in group(cases, seed)]
