"""The evaluation's metrics: each group turns the per-case results of a run into named,
described numbers (or says why a number could not be computed).

The report, the thresholds and the diff handle every metric by name, so a new group (the
mock interview's agreement with reference grades, say) is one function added to
`METRIC_GROUPS`. Every metric is higher-is-better, so every threshold is a minimum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING

from tutor.config import RETRIEVAL_MODES
from tutor.gold import mean_scores
from tutor.ragas_metrics import CONTEXT_METRICS, JUDGED_METRICS, Score

if TYPE_CHECKING:
    from tutor.evaluate import AnswerRecord, CaseResult


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    group: str
    value: float | None  # None: not computed, `note` says why
    n: int  # how many cases (or citations) it averages over
    about: str
    note: str = ""


def _mean(values: Sequence[float], name: str, group: str, about: str, empty: str) -> Metric:
    if not values:
        return Metric(name, group, None, 0, about, f"not computed: {empty}")
    return Metric(name, group, round(fmean(values), 4), len(values), about)


def _ratio(part: int, whole: int, name: str, group: str, about: str, empty: str) -> Metric:
    if whole == 0:
        return Metric(name, group, None, 0, about, f"not computed: {empty}")
    return Metric(name, group, round(part / whole, 4), whole, about)


_RETRIEVAL_ABOUT = {
    "hit_at_1": "a reference passage ranked first",
    "hit_at_5": "a reference passage in the top 5",
    "mrr_at_10": "mean reciprocal rank of the first reference passage (top 10)",
    "precision_at_5": "share of the top 5 hits from reference passages",
    "recall_at_10": "share of a case's reference passages found in the top 10",
}


def retrieval_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    rows = [c.retrieval for c in cases if c.retrieval is not None]
    if not rows:
        return [Metric(n, "retrieval", None, 0, a, "not computed: no case has reference passages")
                for n, a in _RETRIEVAL_ABOUT.items()]
    means = mean_scores(rows)
    return [Metric(n, "retrieval", getattr(means, n), len(rows), a) for n, a in _RETRIEVAL_ABOUT.items()]


_CONTEXT_ABOUT = {
    "id_context_precision": "RAGAS IDBasedContextPrecision: passages given to the LLM that are reference chunks",
    "id_context_recall": "RAGAS IDBasedContextRecall: reference chunks among the passages given to the LLM",
    "nonllm_context_precision": "RAGAS NonLLMContextPrecisionWithReference (string similarity)",
    "nonllm_context_recall": "RAGAS NonLLMContextRecall (string similarity)",
}


def _score_metrics(scores: Sequence[dict[str, Score]], names: Sequence[str], about: dict[str, str],
                   group: str, prefix: str = "") -> list[Metric]:
    out = []
    for name in names:
        got = [s[name] for s in scores if name in s]
        values = [s.value for s in got if s.value is not None]
        failed = [s.note for s in got if s.value is None]
        metric = _mean(values, prefix + name, group, about[name],
                       failed[0] if failed else "no case to score")
        if values and failed:  # partly computed: say how many failed and why
            metric = Metric(metric.name, group, metric.value, metric.n, metric.about,
                            f"{len(failed)} of {len(got)} cases not computed, e.g. {failed[0]}")
        out.append(metric)
    return out


def context_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    return _score_metrics([c.context for c in cases if c.retrieval is not None], CONTEXT_METRICS,
                          _CONTEXT_ABOUT, "ragas (no LLM)")


def refusal_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    group = "refusals"
    ran = [c for c in cases if c.pipeline is not None]
    off = [c.pipeline.refused for c in ran if c.kind == "out_of_scope" and c.pipeline]
    injections = [c.pipeline.refused for c in ran if c.kind == "adversarial" and c.should_refuse and c.pipeline]
    answerable = [c for c in cases if not c.should_refuse]
    sampled = [not c.pipeline.refused for c in ran if c.in_llm_sample and c.pipeline]
    correct = [c.pipeline.refused == c.should_refuse for c in ran if c.pipeline]
    return [
        _ratio(sum(off), len(off), "refusal_out_of_scope", group,
               "out-of-scope questions the tutor refused", "no out-of-scope case"),
        _ratio(sum(injections), len(injections), "refusal_injection", group,
               "pure prompt injections (no question in scope) the tutor refused", "no such case"),
        _ratio(sum(c.cleared_floor for c in answerable), len(answerable), "answerable_above_floor", group,
               "answerable questions whose retrieval clears the relevance floor (not refused outright)",
               "no answerable case"),
        _ratio(sum(sampled), len(sampled), "answered_in_sample", group,
               "answerable questions of the LLM sample the full pipeline answered", "no LLM cases"),
        _ratio(sum(correct), len(correct), "refusal_accuracy", group,
               "right answer-or-refuse decisions of the full pipeline (every case it ran on)",
               "the full pipeline ran on no case"),
    ]


def _answer_metrics(records: Sequence[AnswerRecord], group: str, prefix: str) -> list[Metric]:
    answered = [r for r in records if not r.refused]
    cited = sum(len(r.citations) for r in answered)
    markers = sum(r.markers for r in answered)
    dropped = sum(r.dropped_citations for r in answered)
    empty = "no answered case" if not answered else "no answer cited a passage"
    return [
        _ratio(sum(r.valid_citations for r in answered), cited, prefix + "citation_validity", group,
               "shown citations naming a passage the LLM was given, span taken from it", empty),
        _ratio(markers, markers + dropped, prefix + "model_citation_validity", group,
               "[n] markers the model wrote that named a given passage (others are dropped)", empty),
        _ratio(sum(bool(r.citations) for r in answered), len(answered), prefix + "cited_answer_rate",
               group, "answers citing at least one passage", "no answered case"),
        _ratio(sum(r.relevant_citations for r in answered), cited, prefix + "citation_relevance", group,
               "citations pointing at a reference passage of the case", empty),
        _ratio(sum(not r.unsupported_sentences for r in answered), len(answered),
               prefix + "supported_answer_rate", group,
               "answers with no sentence flagged by the lexical support check", "no answered case"),
    ]


_JUDGED_ABOUT = {
    "faithfulness": "RAGAS Faithfulness: answer statements supported by the passages",
    "answer_relevancy": "RAGAS AnswerRelevancy: question regenerated from the answer vs the question",
    "llm_context_precision": "RAGAS ContextPrecision (LLM, against the reference answer)",
}


def answer_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    return _answer_metrics([c.pipeline for c in cases if c.in_llm_sample and c.pipeline], "answers", "")


def judged_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    scores = [c.pipeline.judged for c in cases if c.in_llm_sample and c.pipeline and not c.pipeline.refused]
    return _score_metrics(scores, JUDGED_METRICS, _JUDGED_ABOUT, "judged")


def ablation_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    """How far hybrid+rerank is ahead of the best single mode (negative: behind)."""
    rows = [c.modes for c in cases if c.modes]
    if not rows:
        return []
    about = "MRR@10 of hybrid+rerank minus the best of bm25, dense and hybrid"
    if any(set(r) != set(RETRIEVAL_MODES) for r in rows):
        return [Metric("rerank_margin_mrr_at_10", "ablation", None, 0, about,
                       "not computed: some retrieval modes could not run")]
    mrr = {m: fmean(r[m].mrr_at_10 for r in rows) for m in RETRIEVAL_MODES}
    best_single = max(v for m, v in mrr.items() if m != "hybrid+rerank")
    return [Metric("rerank_margin_mrr_at_10", "ablation", round(mrr["hybrid+rerank"] - best_single, 4),
                   len(rows), about)]


def whole_corpus_metrics(cases: Sequence[CaseResult]) -> list[Metric]:
    records = [c.whole_corpus for c in cases if c.whole_corpus]
    if not records:
        return []
    group = "whole corpus in the prompt"
    answered = [r.judged for r in records if not r.refused]
    return (_answer_metrics(records, group, "whole_corpus_")
            + _score_metrics(answered, JUDGED_METRICS, _JUDGED_ABOUT, group, "whole_corpus_"))


METRIC_GROUPS: tuple[Callable[[Sequence[CaseResult]], list[Metric]], ...] = (
    retrieval_metrics, context_metrics, refusal_metrics, answer_metrics, judged_metrics,
    ablation_metrics, whole_corpus_metrics,
)


def summarize(cases: Sequence[CaseResult]) -> list[Metric]:
    return [m for group in METRIC_GROUPS for m in group(cases)]
