"""The evaluation gate: minimums from `eval/thresholds.toml` (`tutor eval --check`), and what
moved between two runs, per metric and per case (`tutor eval --diff baseline`).

A gate that cannot fail proves nothing, so `--check` fails when a gated metric is below its
minimum, rests on fewer cases than its declared minimum n (judge failures do not count as
cases), was scored on too small a share of the cases it was tried on, or dropped by more than
the stated tolerance against the run given with `--diff`; and it refuses a gold set that has
no thresholds at all.

LLM-judged numbers belong to their judge: thresholds for them are kept per judge id, and a
diff never compares judged numbers of two different judges.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tutor.errors import InputError
from tutor.evaluation.eval_metrics import Metric
from tutor.evaluation.eval_records import EVAL_DIR, CaseResult, Run, Summary
from tutor.evaluation.ragas_metrics import JUDGED_METRICS

THRESHOLDS = EVAL_DIR / "thresholds.toml"
_TOLERANCE = 1e-4  # changes smaller than the 4 decimals a summary keeps are not movement
_EPSILON = 1e-9  # float slack when a value equals its limit
_LOCATIONS = {"data_dir", "corpus_dir", "models_dir"}  # where files live differs per checkout: not a change
_SHARED = "tolerances"  # the table of tolerances, top level (every set) or inside a set's table


@dataclass(frozen=True, slots=True)
class Gate:
    """One gated metric, as `name = { minimum = 0.94, n = 100 }` in thresholds.toml."""

    minimum: float
    n: int  # computed on fewer (cases, answers, citations: the metric's unit) fails
    coverage: float = 0.0  # the share of attempted cases that must be scored (judge failures)
    if_interval_excludes_zero: bool = False  # gated only when the 95 % interval excludes 0


@dataclass(frozen=True, slots=True)
class Tolerances:
    """The most a metric may worsen against the `--diff` run before `--check` fails."""

    default: float
    per_metric: dict[str, float] = field(default_factory=dict)

    def of(self, metric: str) -> float:
        return self.per_metric.get(metric, self.default)


@dataclass(frozen=True, slots=True)
class Thresholds:
    gates: dict[str, Gate]  # metric -> its gate
    tolerances: Tolerances
    judged: dict[str, dict[str, Gate]] = field(default_factory=dict)  # judge id -> gates


@dataclass(frozen=True, slots=True)
class Check:
    metric: str
    gate: Gate
    value: float | None
    passed: bool
    note: str = ""
    gated: bool = True  # False: the gate did not apply to this run (the note says why)


def is_judged(metric: str) -> bool:
    return metric.removeprefix("whole_corpus_") in JUDGED_METRICS


def load_thresholds(path: Path, gold_set: str) -> Thresholds | None:
    """The gold set's thresholds, or None when the file has no table for it."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Cannot read the thresholds at {path}: {exc}.") from exc
    table = dict(tables.get(gold_set, {}))
    judged = table.pop("judged", {})
    own = table.pop(_SHARED, {})
    if not table and not judged:
        return None
    where = f"{path} [{gold_set}]"
    if not isinstance(own, dict) or not isinstance(tables.get(_SHARED, {}), dict):
        raise InputError(f"{where}: tolerances go in a table: [{_SHARED}] or [{gold_set}.{_SHARED}].")
    # The top-level [tolerances] serve every set; a set's own [<set>.tolerances] override them.
    tolerances = {**tables.get(_SHARED, {}), **own}
    if "default" not in tolerances:
        raise InputError(f"{where}: state how far a metric may drop against `--diff`: a `default` in "
                         f"[{_SHARED}] or [{gold_set}.{_SHARED}], and per-metric overrides there.")
    return Thresholds(
        gates={name: _gate(where, name, spec) for name, spec in table.items()},
        tolerances=Tolerances(_number(where, "tolerances.default", tolerances.pop("default")),
                              {k: _number(where, f"tolerances.{k}", v) for k, v in tolerances.items()}),
        judged={judge: {name: _gate(where, name, spec) for name, spec in gates.items()}
                for judge, gates in judged.items()},
    )


def _gate(where: str, name: str, spec: Any) -> Gate:
    if not isinstance(spec, dict) or "minimum" not in spec or "n" not in spec:
        raise InputError(f"{where}: give {name} its minimum and the fewest cases it may rest on, "
                         f"e.g. {name} = {{ minimum = 0.9, n = 100 }}.")
    known = {f.name for f in fields(Gate)}
    if set(spec) - known:
        raise InputError(f"{where}: {name} has unknown keys {sorted(set(spec) - known)}; "
                         f"known: {', '.join(sorted(known))}.")
    if not isinstance(spec["n"], int) or spec["n"] < 1:
        raise InputError(f"{where}: {name}.n must be a whole number of cases, at least 1.")
    return Gate(_number(where, f"{name}.minimum", spec["minimum"]), spec["n"],
                _number(where, f"{name}.coverage", spec.get("coverage", 0.0)),
                bool(spec.get("if_interval_excludes_zero", False)))


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {key} must be a number, not {value!r}.")
    return float(value)


def missing_thresholds(path: Path, gold_set: str) -> str:
    """Why `--check` refuses a set without thresholds, and how to give it some."""
    try:
        sets = [name for name in tomllib.loads(path.read_text(encoding="utf-8")) if name != _SHARED]
    except (OSError, tomllib.TOMLDecodeError):
        sets = []
    have = f" (it has tables for: {', '.join(sets)})" if sets else ""
    return (f"No thresholds for gold set `{gold_set}` in {path}{have}, so `--check` has nothing to gate: "
            f"add a [{gold_set}] table with a line per gated metric, e.g. `hit_at_5 = {{ minimum = 0.9, n = 20 }}` "
            "(a run's summary.json value minus a margin, and the fewest cases it may rest on), "
            "or run without --check.")


def check(summary: Summary, thresholds: Thresholds) -> tuple[list[Check], list[str]]:
    """Every gated metric checked, and notes on thresholds that did not apply.

    A metric that was not computed, or rests on too few cases, fails: a gate cannot vouch for
    a number it does not have, nor for one that a single case decides.
    """
    wanted = dict(thresholds.gates)
    notes = []
    for judge, gates in thresholds.judged.items():
        if summary.judge_id is None or judge == summary.judge_id:
            wanted.update(gates)
        else:
            notes.append(f"thresholds for judge {judge} not applied: this run was judged by "
                         f"{summary.judge_id}")
    return [_check(name, gate, summary.metric(name)) if _asked(name, summary)
            else Check(name, gate, None, True, "not asked for: the run judged only "
                       f"{', '.join(summary.judged) or 'nothing'} (--judged)", gated=False)
            for name, gate in wanted.items()], notes


def _asked(metric: str, summary: Summary) -> bool:
    """Whether the run computed `metric` if it could: every metric but a judged one left out
    with `--judged` (CI judges faithfulness only; the full evaluation judges all three)."""
    return not is_judged(metric) or metric.removeprefix("whole_corpus_") in summary.judged


def _check(name: str, gate: Gate, metric: Metric | None) -> Check:
    if metric is None:
        hint = " (it needs --ablation)" if name.startswith("rerank_margin") else ""
        return Check(name, gate, None, False, f"not computed: this run has no such metric{hint}")
    if metric.value is None:
        return Check(name, gate, None, False, metric.note)
    value = metric.value
    if not metric.higher_is_better:
        return Check(name, gate, value, False, "lower is better, so a minimum cannot gate it: "
                     "a rise is caught by --diff's tolerance")
    counted = f"{metric.n} of {metric.tried} {metric.unit}".rstrip()
    if metric.n < gate.n:
        return Check(name, gate, value, False, f"computed on {counted}, needs ≥ {gate.n}")
    if metric.n < gate.coverage * metric.tried - _EPSILON:
        return Check(name, gate, value, False, f"scored on {counted}, needs ≥ {gate.coverage:.0%} of them"
                     f"{'; ' + metric.note if metric.note else ''}")
    if gate.if_interval_excludes_zero and (metric.low is None or metric.high is None
                                           or metric.low <= 0 <= metric.high):
        shown = "not recorded" if metric.low is None else f"[{metric.low:g}, {metric.high:g}] includes zero"
        return Check(name, gate, value, True, f"not gated: its 95 % interval {shown}", gated=False)
    return Check(name, gate, value, value >= gate.minimum - _EPSILON)


def render_checks(checks: Sequence[Check], notes: Sequence[str]) -> str:
    lines = []
    for c in checks:
        shown = "not computed" if c.value is None else f"{c.value:.4f}"
        status = "skip" if not c.gated else "ok  " if c.passed else "FAIL"
        limits = f"minimum {c.gate.minimum:g}, n ≥ {c.gate.n}"
        lines.append(f"{status} {c.metric}: {shown} ({limits}){' - ' + c.note if c.note else ''}")
    return "\n".join(lines + [f"note: {n}" for n in notes])


# -- regressions against an earlier run --------------------------------------------------

@dataclass(frozen=True, slots=True)
class Regression:
    metric: str
    old: float
    new: float | None
    tolerance: float
    note: str = ""


def ensure_comparable(old: Summary, gold_set: str, split: str) -> None:
    """Numbers of two runs compare only over the same cases."""
    if old.gold_set != gold_set:
        raise InputError(f"Cannot compare a {old.gold_set} run with a {gold_set} run.")
    if old.split != split:
        raise InputError(f"Cannot compare a run over the {old.split} split with one over the {split} split: "
                         f"diff against a run of the {split} split.")


def _compared(metric: str, old: Summary, new: Summary) -> bool:
    """Whether `new` can be held to `old` on this metric: judged numbers only under the same
    judge, and only for the judged metrics `new` asked for (CI leaves out the ungated one)."""
    if not is_judged(metric):
        return True
    same_judge = not (old.judge_id and new.judge_id and old.judge_id != new.judge_id)
    return same_judge and _asked(metric, new)


def regressions(old: Summary, new: Summary, tolerances: Tolerances) -> list[Regression]:
    """Every metric of `old`, gated or not, that worsened by more than its tolerance in `new`
    (a drop; a rise for lower-is-better ones), or that `new` no longer computes."""
    ensure_comparable(old, new.gold_set, new.split)
    out = []
    for before in old.metrics:
        if before.value is None or not _compared(before.name, old, new):
            continue
        after = new.metric(before.name)
        allowed = tolerances.of(before.name)
        if after is None or after.value is None:
            out.append(Regression(before.name, before.value, None, allowed,
                                  after.note if after else "not in this run"))
            continue
        worse = before.value - after.value if after.higher_is_better else after.value - before.value
        if worse > allowed + _EPSILON:
            out.append(Regression(before.name, before.value, after.value, allowed))
    return out


def render_regressions(found: Sequence[Regression], against: str) -> str:
    if not found:
        return f"No metric worsened beyond its tolerance against {against}."
    lines = [f"Worse than {against} beyond tolerance (eval/thresholds.toml):"]
    for r in found:
        now = (r.note or "not computed") if r.new is None else f"{r.new:.4f} ({r.new - r.old:+.4f})"
        lines.append(f"- {r.metric}: {r.old:.4f} → {now}, tolerance {r.tolerance:g}")
    return "\n".join(lines)


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
    ensure_comparable(old.summary, new.summary.gold_set, new.summary.split)
    same_judge = old.summary.judge_id == new.summary.judge_id
    changes = []
    for metric in new.summary.metrics:
        before = old.summary.metric(metric.name)
        old_value = before.value if before else None
        if not _compared(metric.name, old.summary, new.summary):
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
