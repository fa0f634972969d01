"""Simulated-learner evaluation of the grader: verdict agreement with the labels of
eval/interview_cases*.yaml, `contradicted` precision and recall, score outcomes, follow-up
targeting, per method, on the dev and held-out splits.

    .venv/bin/python scripts/eval_interview.py [--method judge llm] [--data-dir DIR] [--check]
    .venv/bin/python scripts/eval_interview.py --tune   # choose the judge's thresholds on dev

Writes eval/results/interview-METHOD/{config.json,per_case.jsonl,summary.json,report.md}
and prints the table; --check exits 1 below the thresholds in the cases file. --tune reads
only the dev questions the judge was not trained on (never the held-out ones) and prints the
thresholds that agree best with their labels while keeping `contradicted` precision at 0.95
or more.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import tutor  # noqa: F401
from tutor.config import REPO_DIR, Settings
from tutor.evaluation.benchmarks import ingest_corpus, machine, stamp
from tutor.evaluation.learners import (
    CASES,
    SUBSTANTIVE,
    TEST_CASES,
    Agreement,
    LearnerCase,
    evaluate,
    load_cases,
)
from tutor.evaluation.published import publish
from tutor.interview.grading import GRADE_METHODS, GradeMethod, Grader
from tutor.interview.knowledge import load_questions
from tutor.interview.verdicts import PointEvidence, VerdictThresholds, decide
from tutor.judge.data import learner_half
from tutor.llm import EmbeddedLLM, get_llm
from tutor.prompts import prompt_versions
from tutor.records import to_json
from tutor.store.index import open_index

RESULTS = REPO_DIR / "eval" / "results"
# The methods whose tables the README shows: bench section, and what one grading costs.
_PUBLISHED = {"judge": ("grading-agreement", "the judge; no LLM"),
              "embedding+judge": ("grading-default", "MiniLM, and one LLM call per credited point")}


def write(result: Agreement, settings: Settings, folder: Path) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    kinds = sorted({r.case.kind for r in result.results})
    summary: dict[str, object] = {
        "method": result.method,
        "agreement": round(result.agreement(), 4),
        "dev": result.summary(held_out=False),
        "held_out": result.summary(held_out=True),
        "all": result.summary(),
        "agreement_by_learner": {k: round(result.agreement((k,)), 4) for k in kinds},
        "follow_up_target": round(result.follow_up_rate(), 4),
        "follow_up_target_substantive": round(result.follow_up_rate(SUBSTANTIVE), 4),
        "grade_ms_p50": _p50([r.grade.timings_ms.get("grade_ms", 0.0) for r in result.results
                              if r.case.kind in SUBSTANTIVE]),
        "out_of_band": [[r.case.question_id, r.case.kind, r.grade.score, list(r.case.band)]
                        for r in result.out_of_band()],
        "confusion": {f"{label}->{verdict}": n for (label, verdict), n in
                      sorted(result.confusion().items())},
    }
    config = {"settings": json.loads(settings.model_dump_json()), "prompts": prompt_versions(),
              "cases": [str(p.relative_to(REPO_DIR)) for p in (CASES, TEST_CASES)]}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n",
                                        encoding="utf-8")
    with (folder / "per_case.jsonl").open("w", encoding="utf-8") as out:
        for r in result.results:
            out.write(json.dumps({"question": r.case.question_id, "learner": r.case.kind,
                                  "held_out": r.case.held_out, "labels": list(r.case.verdicts),
                                  "band": list(r.case.band), **to_json(r.grade)},
                                 ensure_ascii=False) + "\n")
    (folder / "report.md").write_text(result.markdown() + "\n", encoding="utf-8")
    return summary


def _p50(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 1) if ordered else float("nan")


def tune(grader: Grader, bank: dict[str, object], cases: list[LearnerCase]) -> VerdictThresholds:
    """Grid-search the judge's thresholds on the dev learners' key points, the half of them
    the judge was not trained on (`judge_data.learner_half`)."""
    dev = [c for c in cases if not c.held_out and c.kind in SUBSTANTIVE
           and learner_half(c.question_id) == "tune"]
    points: list[tuple[PointEvidence, str]] = []
    for case in dev:
        question = bank[case.question_id]
        _, judged = grader.evidence(question, case.answer,  # type: ignore[arg-type]
                                    range(len(case.verdicts)))
        points.extend((e, label) for (e, _), label in zip(judged, case.verdicts, strict=True))
    grid = [x / 100 for x in range(5, 100, 5)]
    best: tuple[float, float, VerdictThresholds] | None = None
    for c in grid:
        for p in (x for x in grid if x < c):
            for k in [*grid, 0.97, 0.99]:
                at = VerdictThresholds(c, p, k)
                verdicts = [decide(e, at)[0] for e, _ in points]
                agree = sum(v == label for v, (_, label) in zip(verdicts, points, strict=True))
                given = sum(v == "contradicted" for v in verdicts)
                right = sum(v == label == "contradicted"
                            for v, (_, label) in zip(verdicts, points, strict=True))
                precision = right / given if given else 1.0
                key = (float(precision >= 0.95), agree / len(points), at)
                if best is None or key[:2] > best[:2]:
                    best = key
    assert best is not None
    print(f"dev key points: {len(points)}; best agreement {best[1]:.3f} at {best[2]}")
    return best[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", nargs="+", default=["judge"], choices=GRADE_METHODS)
    parser.add_argument("--tune", action="store_true", help="choose the judge's thresholds on dev")
    parser.add_argument("--data-dir", type=Path, default=None, help="an ingested data folder")
    parser.add_argument("--check", action="store_true", help="exit 1 below the thresholds")
    args = parser.parse_args()

    work = None
    if args.data_dir is None:
        work = ingest_corpus("tutor-eval-interview-")
    settings = Settings(data_dir=args.data_dir or work)
    # A configured endpoint grades with --method llm; otherwise the embedded model from the
    # repo's cache (started only if that method is asked for).
    llm = get_llm(settings) if settings.llm_base_url else EmbeddedLLM(
        Settings(data_dir=REPO_DIR / ".tutor"))
    bank = load_questions(settings.corpus_dir)
    cases, thresholds = load_cases(bank)
    index = open_index(settings)
    grader = Grader(settings, index, llm=llm, method="judge")
    failed = False
    try:
        if args.tune:
            tune(grader, {q.id: q for q in bank}, cases)
            return 0
        for method in args.method:
            chosen: GradeMethod = method
            result = evaluate(grader.using(chosen), bank, cases)
            summary = write(result, settings, RESULTS / f"interview-{method.replace('+', '-')}")
            if method in _PUBLISHED:
                section, cost = _PUBLISHED[method]
                publish(section, f"Grading the simulated learners (eval/interview_cases*.yaml), method {method}", [
                    f"Measured {stamp()} on {machine()}: `scripts/eval_interview.py`, method "
                    f"`{result.method}`; grading p50 {summary['grade_ms_p50']} ms per substantive "
                    f"answer ({cost}).", "", result.markdown()])
            else:
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
