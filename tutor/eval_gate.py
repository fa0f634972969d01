"""The evaluation gate: minimums from `eval/thresholds.toml` (`tutor eval --check`), and what
moved between two runs, per metric and per case (`tutor eval --diff baseline`).

LLM-judged numbers belong to their judge: thresholds for them are kept per judge id, and a
diff never compares judged numbers of two different judges.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tutor.errors import InputError
from tutor.evaluate import EVAL_DIR, CaseResult, Run, Summary
from tutor.ragas_metrics import JUDGED_METRICS

THRESHOLDS = EVAL_DIR / "thresholds.toml"
_TOLERANCE = 1e-4  # changes smaller than the 4 decimals a summary keeps are not movement
_LOCATIONS = {"data_dir", "corpus_dir", "models_dir"}  # where files live differs per checkout: not a change


@dataclass(frozen=True, slots=True)
class Thresholds:
    minimums: dict[str, float]  # metric -> lowest passing value
    judged: dict[str, dict[str, float]] = field(default_factory=dict)  # judge id -> minimums


@dataclass(frozen=True, slots=True)
class Check:
    metric: str
    minimum: float
    value: float | None
    passed: bool
    note: str = ""


def is_judged(metric: str) -> bool:
    return metric.removeprefix("whole_corpus_") in JUDGED_METRICS


def load_thresholds(path: Path, gold_set: str) -> Thresholds:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get(gold_set, {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Cannot read the thresholds at {path}: {exc}.") from exc
    judged = table.pop("judged", {})
    try:
        return Thresholds({k: float(v) for k, v in table.items()},
                          {j: {k: float(v) for k, v in m.items()} for j, m in judged.items()})
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: every threshold under [{gold_set}] must be a number ({exc}).") from exc


def check(summary: Summary, thresholds: Thresholds) -> tuple[list[Check], list[str]]:
    """Every thresholded metric checked, and notes on thresholds that did not apply.

    A metric that was not computed fails: a gate cannot vouch for a number it does not have.
    """
    wanted = dict(thresholds.minimums)
    notes = []
    for judge, minimums in thresholds.judged.items():
        if summary.judge_id is None or judge == summary.judge_id:
            wanted.update(minimums)
        else:
            notes.append(f"thresholds for judge {judge} not applied: this run was judged by "
                         f"{summary.judge_id}")
    checks = []
    for name, minimum in wanted.items():
        metric = summary.metric(name)
        if metric is None or metric.value is None:
            why = metric.note if metric else "not computed: this run has no such metric"
            checks.append(Check(name, minimum, None, False, why))
        else:
            checks.append(Check(name, minimum, metric.value, metric.value >= minimum - 1e-9))
    return checks, notes


def render_checks(checks: Sequence[Check], notes: Sequence[str]) -> str:
    lines = []
    for c in checks:
        shown = "not computed" if c.value is None else f"{c.value:.4f}"
        status = "ok  " if c.passed else "FAIL"
        lines.append(f"{status} {c.metric}: {shown} (minimum {c.minimum:g}){' - ' + c.note if c.note else ''}")
    return "\n".join(lines + [f"note: {n}" for n in notes])


# -- diff ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MetricChange:
    name: str
    old: float | None
    new: float | None
    note: str = ""


@dataclass(slots=True)
class Diff:
    old: str
    new: str
    metrics: list[MetricChange]
    cases: dict[str, list[str]]  # case id -> what moved
    config: list[str]  # settings, prompts, corpus or gold set that differ


def diff(old: Run, new: Run) -> Diff:
    if old.summary.gold_set != new.summary.gold_set:
        raise InputError(f"Cannot compare a {old.summary.gold_set} run with a {new.summary.gold_set} run.")
    same_judge = old.summary.judge_id == new.summary.judge_id
    changes = []
    for metric in new.summary.metrics:
        before = old.summary.metric(metric.name)
        old_value = before.value if before else None
        if is_judged(metric.name) and not same_judge and old.summary.judge_id and new.summary.judge_id:
            changes.append(MetricChange(metric.name, old_value, metric.value,
                                        f"not compared: judged by {old.summary.judge_id} vs {new.summary.judge_id}"))
        elif old_value is None or metric.value is None:
            if old_value != metric.value:
                why = (f"before: {before.note if before else 'no such metric'}" if old_value is None
                       else f"now {metric.note}")
                changes.append(MetricChange(metric.name, old_value, metric.value, why))
        elif abs(metric.value - old_value) > _TOLERANCE:
            changes.append(MetricChange(metric.name, old_value, metric.value))
    old_cases = {c.id: c for c in old.cases}
    moved = {}
    for case in new.cases:
        if case.id not in old_cases:
            moved[case.id] = ["new case"]
            continue
        what = _case_changes(old_cases[case.id], case, same_judge)
        if what:
            moved[case.id] = what
    for gone in sorted(set(old_cases) - {c.id for c in new.cases}):
        moved[gone] = ["case removed from the gold set"]
    return Diff(old.summary.run, new.summary.run, changes, moved, _config_changes(old, new))


def _case_changes(old: CaseResult, new: CaseResult, same_judge: bool) -> list[str]:
    what = []
    if old.first_relevant != new.first_relevant:
        what.append(f"first reference passage at rank {_rank(old.first_relevant)} → {_rank(new.first_relevant)}")
    if old.cleared_floor != new.cleared_floor:
        what.append("retrieval now " + ("clears" if new.cleared_floor else "falls below") + " the relevance floor")
    if old.pipeline and new.pipeline:
        a, b = old.pipeline, new.pipeline
        if a.refused != b.refused:
            what.append("now refused" if b.refused else "now answered")
        if (a.valid_citations, len(a.citations)) != (b.valid_citations, len(b.citations)):
            what.append(f"valid citations {a.valid_citations}/{len(a.citations)} → "
                        f"{b.valid_citations}/{len(b.citations)}")
        if len(a.unsupported_sentences) != len(b.unsupported_sentences):
            what.append(f"flagged sentences {len(a.unsupported_sentences)} → {len(b.unsupported_sentences)}")
        if same_judge:
            for name in JUDGED_METRICS:
                x, y = a.judged.get(name), b.judged.get(name)
                before = x.value if x else None
                after = y.value if y else None
                if before != after and (before is None or after is None or abs(before - after) > _TOLERANCE):
                    what.append(f"{name} {_value(before)} → {_value(after)}")
    elif bool(old.pipeline) != bool(new.pipeline):
        what.append("answered by the LLM only in the " + ("new" if new.pipeline else "old") + " run")
    return what


def _config_changes(old: Run, new: Run) -> list[str]:
    out = []
    for part in ("settings", "prompts", "corpus"):
        a, b = old.config.get(part, {}), new.config.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key) and key not in _LOCATIONS:
                out.append(f"{part}.{key}: {a.get(key)!r} → {b.get(key)!r}")
    if old.config.get("gold_file") != new.config.get("gold_file"):
        out.append("the gold set file changed")
    return out


def _rank(rank: int | None) -> str:
    return "none in top 10" if rank is None else str(rank)


def _value(value: float | None) -> str:
    return "not computed" if value is None else f"{value:.3f}"


def render_diff(d: Diff) -> str:
    lines = [f"## What moved: {d.old} → {d.new}", ""]
    if d.config:
        lines += ["Configuration changes:", "", *[f"- {c}" for c in d.config], ""]
    if d.metrics:
        lines += ["| metric | before | after | change |", "|---|---|---|---|"]
        for m in d.metrics:
            delta = m.note or (f"{m.new - m.old:+.4f}" if m.old is not None and m.new is not None else "")
            lines.append(f"| {m.name} | {_value(m.old)} | {_value(m.new)} | {delta} |")
    else:
        lines.append("No metric moved.")
    lines += ["", f"{len(d.cases)} case(s) moved." if d.cases else "No case moved."]
    lines += [f"- {case}: {'; '.join(what)}" for case, what in sorted(d.cases.items())]
    return "\n".join(lines) + "\n"
