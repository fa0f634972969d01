"""Simulated-learner evaluation of the grader: verdict agreement with the labels of
eval/interview_cases.yaml, follow-up targeting, score bands, per method.

    .venv/bin/python scripts/eval_interview.py [--method embedding embedding+judge llm]
                                               [--data-dir DIR] [--check]

Writes eval/results/interview-METHOD/{config.json,per_case.jsonl,summary.json,report.md}
and prints the table; --check exits 1 below the thresholds in the cases file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import tutor  # noqa: F401
from tutor.benchmarks import ingest_corpus
from tutor.config import REPO_DIR, Settings
from tutor.grading import GRADE_METHODS, GradeMethod, Grader
from tutor.index import Index
from tutor.knowledge import load_questions
from tutor.learners import CASES, KINDS, Agreement, evaluate, load_cases
from tutor.llm import EmbeddedLLM, get_llm
from tutor.prompts import prompt_versions

RESULTS = REPO_DIR / "eval" / "results"


def write(result: Agreement, settings: Settings, folder: Path) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    content = ("correct", "partial", "wrong")
    summary: dict[str, object] = {
        "method": result.method,
        "agreement": round(result.agreement(), 4),
        "agreement_content_learners": round(result.agreement(content), 4),
        "agreement_held_out": round(result.agreement(content, held_out=True), 4),
        "agreement_by_learner": {k: round(result.agreement((k,)), 4) for k in KINDS},
        "follow_up_target": round(result.follow_up_rate(), 4),
        "follow_up_target_content_learners": round(result.follow_up_rate(content), 4),
        "out_of_band": [[r.case.question_id, r.case.kind, r.grade.score, list(r.case.band)]
                        for r in result.out_of_band()],
        "confusion": {f"{label}->{verdict}": n for (label, verdict), n in
                      sorted(result.confusion().items())},
    }
    config = {"settings": json.loads(settings.model_dump_json()), "prompts": prompt_versions(),
              "cases": str(CASES.relative_to(REPO_DIR))}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n",
                                        encoding="utf-8")
    with (folder / "per_case.jsonl").open("w", encoding="utf-8") as out:
        for r in result.results:
            out.write(json.dumps({"question": r.case.question_id, "learner": r.case.kind,
                                  "held_out": r.case.held_out, "labels": list(r.case.verdicts),
                                  "band": list(r.case.band), **r.grade.to_dict()},
                                 ensure_ascii=False) + "\n")
    (folder / "report.md").write_text(result.markdown() + "\n", encoding="utf-8")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", nargs="+", default=["embedding"], choices=GRADE_METHODS)
    parser.add_argument("--data-dir", type=Path, default=None, help="an ingested data folder")
    parser.add_argument("--check", action="store_true", help="exit 1 below the thresholds")
    args = parser.parse_args()

    work = None
    if args.data_dir is None:
        work = ingest_corpus("tutor-eval-interview-")
    settings = Settings(data_dir=args.data_dir or work)
    # A configured endpoint judges; otherwise the embedded model from the repo's cache.
    llm = get_llm(settings) if settings.llm_base_url else EmbeddedLLM(
        Settings(data_dir=REPO_DIR / ".tutor"))
    bank = load_questions(settings.corpus_dir)
    cases, thresholds = load_cases(bank)
    index = Index(settings)
    failed = False
    try:
        for method in args.method:
            chosen: GradeMethod = method
            result = evaluate(Grader(settings, index, llm=llm, method=chosen), bank, cases)
            summary = write(result, settings, RESULTS / f"interview-{method.replace('+', '-')}")
            print(result.markdown() + "\n")
            below = (summary["agreement"] < thresholds.agreement  # type: ignore[operator]
                     or summary["follow_up_target"] < thresholds.follow_up_target)  # type: ignore[operator]
            failed = failed or below
    finally:
        index.close()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
