"""`tutor eval`: the gold-set evaluation, its gate (`--check`) and its diff against a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tutor.config import RETRIEVAL_MODES, Settings
from tutor.errors import InputError


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.evaluation.eval_gate import (
        check,
        diff,
        ensure_comparable,
        load_thresholds,
        missing_thresholds,
        regressions,
        render_checks,
        render_diff,
        render_regressions,
    )
    from tutor.evaluation.eval_records import BASELINE, RESULTS_DIR, load_run, run_folder, write_run
    from tutor.evaluation.eval_report import console_summary, update_readme, write_report
    from tutor.evaluation.evaluate import EvalOptions, Evaluation

    if args.baseline and (args.run or args.gold_set != "gold"):
        raise InputError("--baseline writes the gold set's run to eval/results/baseline: drop --run / --set.")
    # Everything that can refuse the run does so before the long part: a wrong run name, a
    # run over other cases, a set the gate has no thresholds for.
    old = load_run(run_folder(args.diff)) if args.diff else None
    if old is not None:
        ensure_comparable(old.summary, args.gold_set, args.split)
    thresholds = load_thresholds(args.thresholds, args.gold_set)
    if args.check and thresholds is None:
        raise InputError(missing_thresholds(args.thresholds, args.gold_set))
    llm_cases = settings.eval_llm_cases if args.llm_cases is None else args.llm_cases
    evaluation = Evaluation(settings, EvalOptions(
        gold_set=args.gold_set, split=args.split, mode=args.mode, ablation=args.ablation,
        llm_cases=None if llm_cases == "all" else int(llm_cases),
        run_name=BASELINE if args.baseline else args.run, judged=tuple(args.judged)))
    run = evaluation.run()
    folder = RESULTS_DIR / run.summary.run
    checks, notes = check(run.summary, thresholds) if thresholds else ([], [])
    worse = regressions(old.summary, run.summary, thresholds.tolerances) if old and thresholds else None
    write_run(run, folder)
    report = write_report(run, folder, checks, notes, worse, args.diff or "")
    print(console_summary(run.summary))
    if old is not None:
        text = render_diff(diff(old, run))
        (folder / "diff.md").write_text(text, encoding="utf-8")
        print("\n" + text)
    if args.baseline:
        update_readme()
        print("README.md evaluation table regenerated from the new baseline.")
    print(f"\nReport: {report}")
    if not args.check:
        return 0
    print("\n" + render_checks(checks, notes))
    if worse is not None:
        print("\n" + render_regressions(worse, args.diff))
    failed = [c.metric for c in checks if not c.passed]
    if failed:
        print(f"\nBelow threshold: {', '.join(failed)} ({args.thresholds}).", file=sys.stderr)
    if worse:
        print(f"\nWorse than {args.diff} beyond tolerance: {', '.join(r.metric for r in worse)} "
              f"({args.thresholds}).", file=sys.stderr)
    return 1 if failed or worse else 0


def _llm_cases(text: str) -> str | int:
    if text == "all":
        return text
    if not text.isdigit():
        raise argparse.ArgumentTypeError("expected a number of cases or 'all'")
    return int(text)



def add_eval_command(sub: Any) -> None:
    """The subcommand, on the `tutor` parser's subparsers."""
    from tutor.evaluation.eval_gate import THRESHOLDS
    from tutor.evaluation.evaluate import GOLD_SETS, SPLITS
    from tutor.evaluation.ragas_metrics import JUDGED_METRICS

    p = sub.add_parser("eval", help="measure the tutor on a gold set (retrieval, refusals, citations, RAGAS)",
                       description="Run the real pipeline over a gold set: retrieval metrics and refusals "
                       "on every case, LLM answers judged with RAGAS on a seeded sample. Writes "
                       "eval/results/RUN/{config.json,per_case.jsonl,summary.json,report.md}.")
    p.add_argument("--set", dest="gold_set", choices=list(GOLD_SETS), default="gold",
                   help="gold set (source-pages needs ../shared/source-pages)")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="cases to run: dev (tuned on), test (never tuned on) or all")
    p.add_argument("--mode", choices=RETRIEVAL_MODES, default=None,
                   help="retrieval mode of the pipeline (default TUTOR_MODE)")
    p.add_argument("--ablation", action="store_true",
                   help="also score every retrieval mode on the same cases, and the whole-corpus baseline")
    p.add_argument("--llm-cases", type=_llm_cases, default=None, metavar="N|all",
                   help="answerable cases answered and judged (default TUTOR_EVAL_LLM_CASES=10)")
    p.add_argument("--judged", nargs="+", choices=JUDGED_METRICS, default=list(JUDGED_METRICS),
                   metavar="METRIC", help="RAGAS LLM metrics to compute on the answered sample "
                   f"(default all: {', '.join(JUDGED_METRICS)})")
    p.add_argument("--run", default=None, help="run name (default: time stamp and set)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a gated metric is below its minimum or rests on too few cases, "
                   "or (with --diff) any metric is worse than that run beyond its tolerance")
    p.add_argument("--thresholds", type=Path, default=THRESHOLDS, help="thresholds file")
    p.add_argument("--diff", metavar="RUN", default=None,
                   help="show what moved against an earlier run, e.g. baseline (with --check: fail on a "
                   "regression)")
    p.add_argument("--baseline", action="store_true",
                   help="write the run to eval/results/baseline and regenerate the README table")
    p.set_defaults(handler=cmd_eval)
