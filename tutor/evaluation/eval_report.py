"""What a person reads after `tutor eval`: report.md with its plots, the console summary, and
the README's evaluation table (generated from the committed baseline, never typed in)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tutor.config import REPO_DIR
from tutor.evaluation.eval_gate import (
    THRESHOLDS,
    Check,
    Gate,
    Regression,
    Thresholds,
    load_thresholds,
    render_regressions,
)
from tutor.evaluation.eval_metrics import RESAMPLES, Metric, summarize
from tutor.evaluation.eval_records import BASELINE, RESULTS_DIR, CaseResult, Run, Summary, load_run
from tutor.evaluation.evaluate import GOLD_SETS, case_split
from tutor.evaluation.gold import LAST_PRE_SPLIT_ID, load_gold
from tutor.evaluation.published import README, replace_section

_SHOWN = ("hit_at_1", "hit_at_5", "mrr_at_10", "precision_at_5", "recall_at_10")
_HEADERS = ("hit@1", "hit@5", "MRR@10", "P@5", "R@10")


def _value(metric: Metric) -> str:
    return "not computed" if metric.value is None else f"{metric.value:.3f}"


def _interval(metric: Metric) -> str:
    # Summaries written before intervals were recorded (an older baseline) have none.
    return "" if metric.low is None or metric.high is None else f"{metric.low:.3f}–{metric.high:.3f}"


def _limits(gate: Gate) -> str:
    only = ", if its interval excludes 0" if gate.if_interval_excludes_zero else ""
    share = f", {gate.coverage:.0%} scored" if gate.coverage else ""
    return f"{gate.minimum:g} (n ≥ {gate.n}{share}{only})"


def _intervals_line(seed: int | None) -> str:
    seeded = f", seed {seed}" if seed is not None else ""
    return (f"Intervals: 95 % percentile bootstrap over the cases each metric rests on ({RESAMPLES} "
            f"resamples{seeded}); n counts what the metric averages over, \"k of m\" where m were tried "
            "and only k scored. A wide interval is what a small n can show.")


def _judge_line(summary: Summary) -> str:
    if summary.judge_id is None:
        return "No LLM-judged metrics in this run (no answered case in the LLM sample)."
    return (f"LLM-judged metrics: judged by **{summary.judge_name}** (judge id `{summary.judge_id}`); "
            "compare them only with runs judged by the same id.")


def _verdict(check: Check, metric: Metric) -> str:
    if not check.gated:
        return "not gated"
    why = check.note if check.note != metric.note else ""  # the metric's own note is in its row already
    return "✅" if check.passed else f"❌ {why}".rstrip()


def metrics_table(summary: Summary, checks: Sequence[Check] = ()) -> list[str]:
    gated = {c.metric: c for c in checks}
    lines = ["| group | metric | value | 95 % interval | n | minimum | what it measures |",
             "|---|---|---|---|---|---|---|"]
    for m in summary.metrics:
        check = gated.get(m.name)
        gate = "" if check is None else f"{_limits(check.gate)} {_verdict(check, m)}"
        about = m.about + ("" if m.higher_is_better else "; lower is better") + (f" ({m.note})" if m.note else "")
        lines.append(f"| {m.group} | `{m.name}` | {_value(m)} | {_interval(m)} | {m.count()} | {gate} | {about} |")
    return lines


def _ablation_table(summary: Summary) -> list[str]:
    lines = [f"| mode | {' | '.join(_HEADERS)} |", "|---" * (len(_HEADERS) + 1) + "|"]
    for row in summary.ablation:
        if row.scores is None:
            lines.append(f"| {row.mode} | {row.note} |" + " |" * (len(_HEADERS) - 1))
        else:
            cells = " | ".join(f"{getattr(row.scores, k):.3f}" for k in _SHOWN)
            lines.append(f"| {row.mode} | {cells} |")
    return lines


def render_report(run: Run, checks: Sequence[Check], notes: Sequence[str],
                  regressions: Sequence[Regression] | None = None, against: str = "") -> str:
    """The run's report; `regressions` (None: no `--diff` run) count against the gate."""
    s = run.summary
    failed = [c for c in checks if not c.passed]
    lines = [
        f"# Evaluation `{s.run}`", "",
        f"Gold set **{s.gold_set}** ({s.cases} cases, split {s.split}), retrieval mode **{s.mode}**, "
        f"started {s.started}.",
        f"Answers by: {s.answer_backend or 'no LLM call in this run'}.", _judge_line(s), "",
        f"What ran where: retrieval and non-LLM metrics on all {s.cases} cases; the full pipeline on "
        f"every case that should be refused (it calls the LLM only above the relevance floor) and on "
        f"{len(s.llm_cases)} answerable cases sampled with a fixed seed, which the judge then scored: "
        f"{', '.join(s.llm_cases) or 'none'}.", "",
        "Time (s): " + ", ".join(f"{k} {v:g}" for k, v in s.seconds.items()), "",
    ]
    if checks:
        gated = [c for c in checks if c.gated]
        skipped = f"; {len(checks) - len(gated)} not gated, see below" if len(gated) < len(checks) else ""
        worse = f"; {len(regressions)} metric(s) worse than {against} beyond tolerance" if regressions else ""
        lines += [f"**Gate: {'FAILED' if failed or regressions else 'passed'}** "
                  f"({len(gated) - len(failed)}/{len(gated)} thresholds met{skipped}{worse}).", ""]
        lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    if regressions is not None:
        lines += [render_regressions(regressions, against), ""]
    lines += ["## Metrics", "", _intervals_line(run.config.get("options", {}).get("seed")), "",
              *metrics_table(s, checks), ""]
    if s.ablation:
        lines += ["## Ablation", "", "Same gold cases, same index, one retrieval mode per row.", "",
                  *_ablation_table(s), "", "![ablation](ablation.png)", ""]
    lines += [f"Whole corpus in the prompt: {s.whole_corpus}.", ""]
    lines += ["## Per topic", "", f"| topic | n | {' | '.join(_HEADERS)} |", "|---" * (len(_HEADERS) + 2) + "|"]
    counts: dict[str, int] = {}
    for c in run.cases:
        if c.retrieval is not None:
            counts[c.topic] = counts.get(c.topic, 0) + 1
    for topic, scores in s.per_topic.items():
        cells = " | ".join(f"{getattr(scores, k):.3f}" for k in _SHOWN)
        lines.append(f"| {topic} | {counts.get(topic, 0)} | {cells} |")
    lines += ["", "![per topic](per_topic.png)", "", *_cases_to_read(run.cases)]
    return "\n".join(lines) + "\n"


def _cases_to_read(cases: Sequence[CaseResult]) -> list[str]:
    missed = [c for c in cases if c.retrieval is not None and c.retrieval.hit_at_5 == 0]
    wrong = [c for c in cases if c.pipeline and c.pipeline.refused != c.should_refuse]
    lines = ["## Cases to read", ""]
    lines += [f"Reference passage not in the top 5 ({len(missed)}):", ""]
    lines += [f"- `{c.id}` ({c.topic}) {c.question} → first at rank "
              f"{c.first_relevant or 'none in top 10'}" for c in missed] or ["- none"]
    lines += ["", f"Wrong answer-or-refuse decisions ({len(wrong)}):", ""]
    lines += [f"- `{c.id}` ({c.kind}) {c.question} → {'refused' if c.pipeline and c.pipeline.refused else 'answered'}"
              for c in wrong] or ["- none"]
    sampled = [c for c in cases if c.in_llm_sample and c.pipeline]
    if sampled:
        lines += ["", "LLM sample:", "",
                  "| case | refused | valid citations | flagged sentences | faithfulness | relevancy | ctx precision | s |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in sampled:
            p = c.pipeline
            assert p is not None
            judged = [p.judged.get(n) for n in ("faithfulness", "answer_relevancy", "llm_context_precision")]
            cells = [("—" if j is None else "n/c" if j.value is None else f"{j.value:.2f}") for j in judged]
            lines.append(f"| `{c.id}` | {'yes' if p.refused else 'no'} | {p.valid_citations}/{len(p.citations)} | "
                         f"{len(p.unsupported_sentences)} | {' | '.join(cells)} | {p.seconds:.0f} |")
        lines += ["", "n/c = not computed (per_case.jsonl holds the reason)."]
    return lines


def write_report(run: Run, folder: Path, checks: Sequence[Check], notes: Sequence[str],
                 regressions: Sequence[Regression] | None = None, against: str = "") -> Path:
    _plot_topics(run.summary, folder / "per_topic.png")
    if run.summary.ablation:
        _plot_ablation(run.summary, folder / "ablation.png")
    path = folder / "report.md"
    path.write_text(render_report(run, checks, notes, regressions, against), encoding="utf-8")
    return path


def _plot_topics(summary: Summary, path: Path) -> None:
    from matplotlib.figure import Figure

    topics = list(summary.per_topic)
    if not topics:
        return
    fig = Figure(figsize=(8, 0.32 * len(topics) + 1.4))
    ax = fig.subplots()
    y = range(len(topics))
    for offset, key, label in ((-0.2, "hit_at_5", "hit@5"), (0.2, "mrr_at_10", "MRR@10")):
        ax.barh([i + offset for i in y], [getattr(summary.per_topic[t], key) for t in topics], 0.4, label=label)
    ax.set_yticks(list(y), topics)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title(f"Retrieval per topic ({summary.mode}, {summary.gold_set})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _plot_ablation(summary: Summary, path: Path) -> None:
    from matplotlib.figure import Figure

    rows = [r for r in summary.ablation if r.scores is not None]
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    width = 0.8 / max(len(rows), 1)
    for i, row in enumerate(rows):
        xs = [k + (i - (len(rows) - 1) / 2) * width for k in range(len(_SHOWN))]
        ax.bar(xs, [getattr(row.scores, k) for k in _SHOWN], width, label=row.mode)
    ax.set_xticks(range(len(_SHOWN)), _HEADERS)
    ax.set_ylim(0, 1)
    ax.set_title(f"Retrieval ablation ({summary.gold_set})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def console_summary(summary: Summary) -> str:
    width = max(len(m.name) for m in summary.metrics)
    lines = [f"{m.name:<{width}}  {_value(m):>12}  {_interval(m):>11}  n={m.count()}{'  ' + m.note if m.note else ''}"
             for m in summary.metrics]
    if summary.ablation:
        lines.append("")
        lines += [f"{r.mode:<14} " + ("  ".join(f"{h}={getattr(r.scores, k):.3f}" for h, k in zip(_HEADERS, _SHOWN, strict=True))
                                      if r.scores else r.note) for r in summary.ablation]
    return "\n".join(lines + ["", _judge_line(summary).replace("**", "")])


def split_metrics(run: Run) -> dict[str, dict[str, Metric]]:
    """The run's metrics recomputed on each part of its gold set's split (eval/README.md): the
    test split, the part of it written after the split was made (the cleanest held-out
    estimate), and dev. A set without splits (source-pages) has no parts."""
    # The gold file the run itself read (its config records it), not whatever file the set's
    # name points at in this process.
    recorded = run.config.get("gold_file", {}).get("path")
    gold = load_gold(REPO_DIR / recorded if recorded else GOLD_SETS[run.summary.gold_set].file)
    split = {c.id: case_split(c) for c in gold}
    late = {c.id for c in gold if c.split == "test" and c.id > LAST_PRE_SPLIT_ID}  # ids are g-NNN
    parts = {"test": lambda c: split.get(c.id) == "test",
             "test, written after the split": lambda c: c.id in late,
             "dev": lambda c: split.get(c.id) == "dev"}
    seed = int(run.config.get("options", {}).get("seed", 13))
    out = {}
    for name, keep in parts.items():
        cases = [c for c in run.cases if keep(c)]
        if cases and len(cases) < len(run.cases):
            out[name] = {m.name: m for m in summarize(cases, seed)}
    return out


def _cell(metric: Metric | None) -> str:
    if metric is None or metric.value is None:
        return "—"
    interval = _interval(metric)
    return f"{metric.value:.3f}{f' ({interval})' if interval else ''}, n {metric.n}"


def readme_table(run: Run, thresholds: Thresholds | None) -> str:
    """The README's evaluation section body, from the committed baseline: every metric on the
    test split first (the headline: nothing was tuned on it), then its post-split part, dev and
    the whole set, each with its 95 % interval and n."""
    summary = run.summary
    gates = {} if thresholds is None else {**thresholds.gates, **thresholds.judged.get(summary.judge_id or "", {})}
    parts = split_metrics(run)
    headers = [*parts, "whole set"]
    lines = [
        f"Baseline `{(RESULTS_DIR / BASELINE).relative_to(RESULTS_DIR.parents[1])}/` (run {summary.started}; "
        f"{summary.cases} gold cases, mode {summary.mode}, {len(summary.llm_cases)} answered by the LLM; "
        f"judge: {summary.judge_name or 'none'}). Generated from its `summary.json` and `per_case.jsonl`: "
        "each cell is the value (95 % bootstrap interval), n. The CI gate holds the whole set.", "",
        f"| metric | {' | '.join(headers)} | CI minimum |", "|---" * (len(headers) + 2) + "|",
    ]
    for m in summary.metrics:
        gate = gates.get(m.name)
        cells = [_cell(part.get(m.name)) for part in parts.values()] + [_cell(m)]
        lines.append(f"| `{m.name}` | {' | '.join(cells)} | {'' if gate is None else _limits(gate)} |")
    if any(m.value is not None and m.low is None for m in summary.metrics):
        lines += ["", "This baseline predates recorded intervals: the next `tutor eval --baseline` adds them."]
    if summary.ablation:
        lines += ["", *_ablation_table(summary)]
    lines += ["", f"Whole corpus in the prompt: {summary.whole_corpus}."]
    return "\n".join(lines)


def baseline_readme_table() -> str:
    run = load_run(RESULTS_DIR / BASELINE)
    return readme_table(run, load_thresholds(THRESHOLDS, run.summary.gold_set))


def update_readme() -> None:
    """Rewrite the README's `<!-- eval:table -->` section from the committed baseline."""
    replace_section(README, "table", baseline_readme_table(), kind="eval")
