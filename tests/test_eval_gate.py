"""The evaluation gate can fail: one test per way a run must not pass `tutor eval --check`.

Every test here runs on synthetic per-case rows and summaries, so the gate's logic is checked
in well under a second. The metrics come from the real `eval_metrics` functions; the CLI
tests replace only the evaluation run itself (15+ minutes with the LLM; test_evaluate.py runs
the real one on a tiny gold set and CI runs it on gold), so argument handling, thresholds,
the diff and the exit code are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tutor.evaluation.eval_records as eval_records
import tutor.evaluation.evaluate as evaluate
from tutor.cli.main import main
from tutor.config import REPO_DIR, Settings
from tutor.errors import InputError
from tutor.evaluation.eval_gate import (
    THRESHOLDS,
    Gate,
    Thresholds,
    Tolerances,
    check,
    load_thresholds,
    regressions,
    render_checks,
)
from tutor.evaluation.eval_metrics import (
    Metric,
    ablation_metrics,
    bootstrap,
    judged_metrics,
    summarize,
)
from tutor.evaluation.eval_records import (
    AnswerRecord,
    CaseResult,
    Run,
    Summary,
    load_run,
    write_run,
)
from tutor.evaluation.eval_report import metrics_table, render_report
from tutor.evaluation.evaluate import EvalOptions, Evaluation, GoldSet
from tutor.evaluation.gold import RetrievalScores
from tutor.evaluation.ragas_metrics import Score

JUDGE = "embedded/judge"
SEED = 13


def case(i: int, *, judged: dict[str, Score] | None = None, mrr: dict[str, float] | None = None) -> CaseResult:
    """An answerable case: retrieval found its passage first; answered and judged when `judged`."""
    hit = RetrievalScores(1.0, 1.0, 1.0, 0.4, 1.0)
    record = None
    if judged is not None:
        record = AnswerRecord(refused=False, llm_called=True, answer="An answer [1].", context_ids=["a#0"],
                              citations=["[1] a#0"], valid_citations=1, relevant_citations=1, markers=1,
                              dropped_citations=0, unsupported_sentences=[], seconds=10.0 + i, judged=judged)
    modes = {m: RetrievalScores(1.0, 1.0, v, 0.4, 1.0) for m, v in (mrr or {}).items()}
    return CaseResult(id=f"c-{i:03}", kind="in_scope", topic="rag", level="applied", question="What is RAG?",
                      should_refuse=False, ranked=["a#0"], first_relevant=1, cleared_floor=True, retrieval=hit,
                      context={}, in_llm_sample=judged is not None, modes=modes, pipeline=record)


def summary(*metrics: Metric, judge: str | None = JUDGE, gold_set: str = "gold", split: str = "all",
            run: str = "new") -> Summary:
    return Summary(run=run, gold_set=gold_set, mode="hybrid+rerank", started="2026-12-06 12:00 UTC", cases=100,
                   llm_cases=[], answer_backend=None, judge_id=judge, judge_name=judge, metrics=list(metrics),
                   ablation=[], whole_corpus="not run", per_topic={}, seconds={}, split=split)


def gate(minimum: float, n: int = 1, **more: Any) -> Thresholds:
    return Thresholds({"metric": Gate(minimum, n, **more)}, Tolerances(0.02))


def failures(s: Summary, thresholds: Thresholds) -> dict[str, str]:
    checks, _ = check(s, thresholds)
    return {c.metric: c.note for c in checks if not c.passed}


# -- the failure modes ----------------------------------------------------------------------

def test_a_judge_failing_on_most_answers_fails_instead_of_averaging_the_rest() -> None:
    failed = Score.missing("judge failed (APITimeoutError: Request timed out.)")
    cases = [case(0, judged={"faithfulness": Score(1.0)})] + [case(i, judged={"faithfulness": failed})
                                                              for i in range(1, 8)]
    faith = next(m for m in judged_metrics(cases, SEED) if m.name == "faithfulness")
    assert (faith.value, faith.n, faith.attempted) == (1.0, 1, 8)  # the one score is perfect...
    assert "7 of 8 answers not computed" in faith.note
    thresholds = Thresholds({}, Tolerances(0.02), {JUDGE: {"faithfulness": Gate(0.4, 6, coverage=0.75)}})
    notes = failures(summary(faith), thresholds)
    assert notes == {"faithfulness": "computed on 1 of 8 answers, needs ≥ 6"}  # ...and still fails


def test_a_judge_failing_on_most_of_a_large_sample_fails_on_coverage() -> None:
    """With `--llm-cases all`, 40 scored answers clear n, but 60 failures of 100 do not."""
    faith = Metric("faithfulness", "judged", 0.9, 40, "", "60 of 100 answers not computed, e.g. judge failed",
                   attempted=100, low=0.85, high=0.95, unit="answers")
    notes = failures(summary(faith), Thresholds({"faithfulness": Gate(0.4, 6, coverage=0.75)}, Tolerances(0.02)))
    assert notes["faithfulness"].startswith("scored on 40 of 100 answers, needs ≥ 75% of them")


def test_a_metric_on_fewer_cases_than_its_minimum_n_fails() -> None:
    """`TUTOR_EVAL_LLM_CASES=1`: one supported answer is a perfect rate, and proves nothing."""
    one = Metric("metric", "answers", 1.0, 1, "", low=1.0, high=1.0, unit="answers")
    assert failures(summary(one), gate(0.37, n=7)) == {"metric": "computed on 1 of 1 answers, needs ≥ 7"}
    assert failures(summary(Metric("metric", "answers", 1.0, 7, "", unit="answers")), gate(0.37, n=7)) == {}


def test_a_judged_metric_the_run_did_not_ask_for_is_skipped_and_says_so() -> None:
    """CI's gate judges faithfulness only; answer relevancy's gate holds in the full evaluation."""
    faith = Metric("faithfulness", "judged", 0.7, 6, "", unit="answers")
    s = summary(faith)
    s.judged = ["faithfulness"]
    both = Thresholds({}, Tolerances(0.02), judged={JUDGE: {"faithfulness": Gate(0.4, 4),
                                                           "answer_relevancy": Gate(0.35, 4)}})
    checks, _ = check(s, both)
    skipped = next(c for c in checks if c.metric == "answer_relevancy")
    assert skipped.passed and not skipped.gated and "not asked for" in skipped.note
    assert next(c for c in checks if c.metric == "faithfulness").gated
    s.judged = ["faithfulness", "answer_relevancy"]  # asked for, and missing: fails
    assert failures(s, both)["answer_relevancy"].startswith("not computed")


def test_check_refuses_a_set_without_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text("[tolerances]\ndefault = 0.02\n[gold]\nhit_at_5 = { minimum = 0.9, n = 100 }\n", encoding="utf-8")
    assert load_thresholds(path, "source-pages") is None
    code = main(["eval", "--set", "source-pages", "--check", "--thresholds", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "No thresholds for gold set `source-pages`" in err
    assert "add a [source-pages] table" in err and "(it has tables for: gold)" in err


def test_check_refuses_a_renamed_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text("[tolerances]\ndefault = 0.02\n[gold-v1]\nhit_at_5 = { minimum = 0.9, n = 100 }\n",
                    encoding="utf-8")
    assert main(["eval", "--check", "--thresholds", str(path)]) == 1
    assert "No thresholds for gold set `gold`" in capsys.readouterr().err


def test_an_ungated_metric_dropping_beyond_tolerance_is_a_regression() -> None:
    old = summary(Metric("precision_at_5", "retrieval", 0.40, 143, ""), Metric("hit_at_5", "retrieval", 0.95, 143, ""))
    new = summary(Metric("precision_at_5", "retrieval", 0.37, 143, ""), Metric("hit_at_5", "retrieval", 0.94, 143, ""))
    found = regressions(old, new, Tolerances(0.02))
    assert [(r.metric, r.old, r.new) for r in found] == [("precision_at_5", 0.40, 0.37)]
    assert regressions(old, new, Tolerances(0.02, {"precision_at_5": 0.05})) == []  # a stated override


def test_regressions_follow_each_metric_direction() -> None:
    """Answer time is lower-is-better: its rise is the regression, its fall is not."""
    def seconds(value: float) -> Metric:
        return Metric("answer_seconds_p50", "answers", value, 10, "", unit="answers", higher_is_better=False)

    assert [r.metric for r in regressions(summary(seconds(17.0)), summary(seconds(40.0)), Tolerances(0.02, {
        "answer_seconds_p50": 18.0}))] == ["answer_seconds_p50"]
    assert regressions(summary(seconds(17.0)), summary(seconds(5.0)), Tolerances(0.02)) == []


def test_a_metric_the_new_run_no_longer_computes_is_a_regression() -> None:
    old = summary(Metric("citation_relevance", "answers", 0.64, 11, ""), Metric("faithfulness", "judged", 0.7, 8, ""))
    new = summary(Metric("citation_relevance", "answers", None, 0, "", "not computed: no answered case"),
                  Metric("faithfulness", "judged", 0.1, 8, ""), judge="another/judge")
    found = regressions(old, new, Tolerances(0.02))
    assert [(r.metric, r.new, r.note) for r in found] == [
        ("citation_relevance", None, "not computed: no answered case")]  # another judge: not compared


def test_a_judged_metric_the_new_run_did_not_ask_for_is_not_compared() -> None:
    """CI's `--judged faithfulness answer_relevancy` leaves out the ungated LLM context
    precision; an asked-for metric the judge could not score is still a regression."""
    old = summary(Metric("llm_context_precision", "judged", 0.8, 8, ""), Metric("faithfulness", "judged", 0.7, 8, ""))
    new = summary(Metric("faithfulness", "judged", None, 0, "", "not computed: judge failed"))
    new.judged = ["faithfulness", "answer_relevancy"]
    assert [(r.metric, r.note) for r in regressions(old, new, Tolerances(0.02))] == [
        ("faithfulness", "not computed: judge failed")]
    cases = [case(i, judged={"faithfulness": Score(1.0), "answer_relevancy": Score(0.8)}) for i in range(3)]
    assert [m.name for m in judged_metrics(cases, SEED)] == ["faithfulness", "answer_relevancy"]


def test_runs_over_other_cases_are_not_compared() -> None:
    with pytest.raises(InputError, match="over the dev split with one over the all split"):
        regressions(summary(split="dev"), summary(split="all"), Tolerances(0.02))
    with pytest.raises(InputError, match="source-pages run with a gold run"):
        regressions(summary(gold_set="source-pages"), summary(), Tolerances(0.02))


# -- the rerank margin: gated only where its interval excludes zero --------------------------

def _margin(low: float, high: float, value: float) -> Summary:
    return summary(Metric("metric", "ablation", value, 143, "", low=low, high=high))


def test_the_rerank_margin_is_gated_only_when_its_interval_excludes_zero() -> None:
    only_if_clear = gate(0.0, n=100, if_interval_excludes_zero=True)
    checks, _ = check(_margin(-0.027, 0.037, 0.009), only_if_clear)
    assert checks[0].passed and not checks[0].gated and "includes zero" in checks[0].note
    assert failures(_margin(0.01, 0.05, 0.03), only_if_clear) == {}
    assert "metric" in failures(_margin(-0.05, -0.01, -0.03), only_if_clear)  # clearly behind: fails
    assert "skip metric" in render_checks(*check(_margin(-0.027, 0.037, 0.009), only_if_clear))


def test_the_margin_interval_is_a_paired_bootstrap_over_cases() -> None:
    """Each case's four modes resample together: a reranker one rank ahead on every case is
    ahead on every resample, though each mode's own MRR varies from case to case."""
    singles = {"bm25": 0.4, "dense": 0.2, "hybrid": 0.4}
    cases = [case(i, mrr={**{m: v * (1 + i % 2) for m, v in singles.items()}, "hybrid+rerank": 0.4 * (1 + i % 2) + 0.1})
             for i in range(40)]
    margin = ablation_metrics(cases, SEED)[0]
    assert margin.name == "rerank_margin_mrr_at_10" and margin.value == pytest.approx(0.1)
    assert margin.low == pytest.approx(0.1) and margin.high == pytest.approx(0.1)


# -- the statistics shown -------------------------------------------------------------------

def test_intervals_are_seeded_and_narrow_with_n() -> None:
    values = [1.0, 0.0, 1.0, 1.0]
    assert bootstrap(values, lambda v: sum(v) / len(v), "13:x") == bootstrap(values, lambda v: sum(v) / len(v), "13:x")
    few = summarize([case(i) for i in range(8)], SEED)
    hit = next(m for m in few if m.name == "hit_at_1")
    assert (hit.value, hit.low, hit.high, hit.n) == (1.0, 1.0, 1.0, 8)
    small = bootstrap([1.0, 0.0] * 4, lambda v: sum(v) / len(v), "13:x")
    large = bootstrap([1.0, 0.0] * 70, lambda v: sum(v) / len(v), "13:x")
    assert small[0] < large[0] < 0.5 < large[1] < small[1]


def test_the_report_shows_each_metric_with_its_interval_and_what_it_rests_on() -> None:
    faith = Metric("faithfulness", "judged", 0.708, 6, "RAGAS Faithfulness", "2 of 8 answers not computed, e.g. x",
                   attempted=8, low=0.375, high=0.958, unit="answers")
    s = summary(faith)
    checks, notes = check(s, Thresholds({"faithfulness": Gate(0.4, 6)}, Tolerances(0.02)))
    row = metrics_table(s, checks)[2]
    assert "| 0.708 | 0.375–0.958 | 6 of 8 answers | 0.4 (n ≥ 6) ✅ |" in row
    report = render_report(Run({"options": {"seed": SEED}}, s, []), checks, notes, [], "baseline")
    assert "95 % percentile bootstrap" in report and "seed 13" in report
    assert "No metric worsened beyond its tolerance against baseline." in report


def test_a_summary_written_before_intervals_still_loads_and_compares(tmp_path: Path) -> None:
    """The committed baseline predates n-attempted, intervals, direction and split."""
    old = Run({}, summary(Metric("hit_at_5", "retrieval", 0.958, 143, ""), run="old"), [])
    write_run(old, tmp_path)
    raw = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    del raw["split"]
    for metric in raw["metrics"]:
        for key in ("attempted", "low", "high", "unit", "higher_is_better"):
            del metric[key]
    (tmp_path / "summary.json").write_text(json.dumps(raw), encoding="utf-8")
    loaded = load_run(tmp_path).summary
    assert loaded.split == "all" and loaded.metrics[0].tried == 143 and loaded.metrics[0].low is None
    new = summary(Metric("hit_at_5", "retrieval", 0.90, 143, "", low=0.85, high=0.94))
    assert [r.metric for r in regressions(loaded, new, Tolerances(0.02))] == ["hit_at_5"]


# -- thresholds.toml ----------------------------------------------------------------------

def test_a_gated_metric_must_declare_its_minimum_n(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    for body, message in (("hit_at_5 = 0.9", "its minimum and the fewest cases"),
                          ("hit_at_5 = { minimum = 0.9, n = 100, min = 1 }", "unknown keys"),
                          ("hit_at_5 = { minimum = 'high', n = 100 }", "must be a number")):
        path.write_text(f"[tolerances]\ndefault = 0.02\n[gold]\n{body}\n", encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_thresholds(path, "gold")
    path.write_text("[gold]\nhit_at_5 = { minimum = 0.9, n = 100 }\n", encoding="utf-8")
    with pytest.raises(InputError, match="may drop against `--diff`"):
        load_thresholds(path, "gold")


def test_the_committed_thresholds_gate_metrics_that_exist() -> None:
    """A misspelt name in eval/thresholds.toml would fail every run as 'no such metric'."""
    baseline = load_run(REPO_DIR / "eval" / "results" / "baseline")
    names = {m.name for m in summarize(baseline.cases, SEED)}
    for gold_set in evaluate.GOLD_SETS:
        thresholds = load_thresholds(THRESHOLDS, gold_set)
        assert thresholds is not None, gold_set
        gated = set(thresholds.gates) | {n for gates in thresholds.judged.values() for n in gates}
        assert gated <= names, gated - names
        assert set(thresholds.tolerances.per_metric) <= names
    gold = load_thresholds(THRESHOLDS, "gold")
    assert gold is not None and {"supported_answer_rate", "model_citation_validity", "citation_relevance",
                                 "refusal_accuracy", "hit_at_1", "rerank_margin_mrr_at_10"} <= set(gold.gates)


# -- the CLI: --check with --diff, and --split ----------------------------------------------

class _Finished:
    """Stands in for `Evaluation`: the run it returns is given, not measured."""

    result: Summary

    def __init__(self, settings: Settings, options: EvalOptions) -> None:
        self.options = options

    def run(self) -> Run:
        self.result.run = self.options.run_name or "new"
        return Run({"options": {"split": self.options.split, "seed": SEED}}, self.result, [])


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(eval_records, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(evaluate, "Evaluation", _Finished)
    write_run(Run({}, summary(Metric("precision_at_5", "retrieval", 0.40, 143, ""),
                              Metric("hit_at_5", "retrieval", 0.96, 143, ""), run="old"), []),
              tmp_path / "results" / "old")
    (tmp_path / "t.toml").write_text("[tolerances]\ndefault = 0.02\n[gold]\nhit_at_5 = { minimum = 0.9, n = 100 }\n",
                                     encoding="utf-8")
    return tmp_path


def _eval(results: Path, new: Summary, *extra: str) -> int:
    _Finished.result = new
    return main(["--data-dir", str(results / "data"), "eval", "--run", "new", "--check", "--thresholds",
                 str(results / "t.toml"), *extra])


def test_cli_check_fails_on_a_regression_of_an_ungated_metric(results: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    new = summary(Metric("precision_at_5", "retrieval", 0.30, 143, ""), Metric("hit_at_5", "retrieval", 0.96, 143, ""))
    assert _eval(results, new, "--diff", "old") == 1
    out = capsys.readouterr()
    assert "ok   hit_at_5" in out.out and "- precision_at_5: 0.4000 → 0.3000 (-0.1000), tolerance 0.02" in out.out
    assert "Worse than old beyond tolerance: precision_at_5" in out.err
    assert "**Gate: FAILED**" in (results / "results" / "new" / "report.md").read_text(encoding="utf-8")


def test_cli_check_passes_within_thresholds_and_tolerance(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = summary(Metric("precision_at_5", "retrieval", 0.39, 143, ""), Metric("hit_at_5", "retrieval", 0.95, 143, ""))
    assert _eval(results, new, "--diff", "old") == 0
    assert "No metric worsened beyond its tolerance against old." in capsys.readouterr().out


def test_cli_refuses_a_diff_over_another_split_before_running(results: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval(results, summary(split="test"), "--split", "test", "--diff", "old") == 1
    assert "over the all split with one over the test split" in capsys.readouterr().err
    assert not (results / "results" / "new").exists()


def test_split_filters_the_gold_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": f"g-{i}", "question": "What is a KV cache?", "topic": "rag", "level": "applied",
             "kind": "out_of_scope", **({"split": "test"} if i % 2 else {})} for i in range(4)]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setitem(evaluate.GOLD_SETS, "gold", GoldSet("gold", gold, tmp_path))
    settings = Settings(data_dir=tmp_path / "data")
    picked = {s: [c.id for c in Evaluation(settings, EvalOptions(split=s)).cases] for s in ("dev", "test", "all")}
    assert picked == {"dev": ["g-0", "g-2"], "test": ["g-1", "g-3"], "all": ["g-0", "g-1", "g-2", "g-3"]}
