"""Grading benchmark (not a test): how long grading one answer takes, per method.

    .venv/bin/python scripts/bench_grading.py [--data-dir DIR] [--llm-cases 5]

Grades the simulated learners of eval/interview_cases*.yaml. `judge` (the default, our judge
model) grades all of them; `llm` (the embedded LLM) a spread sample of the correct / partial /
wrong ones, since each costs seconds of CPU. Without --data-dir the corpus is ingested into
a temporary folder first. Writes the "grading" section of bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import tutor  # noqa: F401
from tutor.config import REPO_DIR, Settings
from tutor.evaluation.benchmarks import ingest_corpus, machine, peak_rss_mb, percentile, stamp
from tutor.evaluation.learners import LearnerCase, load_cases
from tutor.evaluation.published import publish
from tutor.interview.grading import GradeMethod
from tutor.interview.interviewer import Interviewer
from tutor.interview.knowledge import load_questions
from tutor.llm import EmbeddedLLM
from tutor.store.index import open_index


def sample(cases: list[LearnerCase], n: int) -> list[LearnerCase]:
    """`n` content answers spread over the learners and questions (correct ones cost most)."""
    content = [c for c in cases if c.kind in ("correct", "partial", "wrong")]
    step = max(1, len(content) // n)
    return content[::step][:n]


def row(name: str, took_ms: list[float], note: str = "") -> str:
    return (f"| {name} | {len(took_ms)} | {percentile(took_ms, 50) / 1000:.2f} | "
            f"{percentile(took_ms, 95) / 1000:.2f} | {max(took_ms) / 1000:.2f} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help="an ingested data folder")
    parser.add_argument("--llm-cases", type=int, default=5)
    args = parser.parse_args()

    work = None
    if args.data_dir is None:
        work = ingest_corpus("tutor-bench-grading-")
    settings = Settings(data_dir=args.data_dir or work, follow_up_writer="llm")
    # The joined model file is a cache; use the repo's copy whatever the data folder.
    llm = EmbeddedLLM(Settings(data_dir=REPO_DIR / ".tutor"))
    bank = load_questions(settings.corpus_dir)
    by_id = {q.id: q for q in bank}
    cases, _ = load_cases(bank)
    index = open_index(settings)
    try:
        lines = [f"Measured {stamp()} on {machine()}; load average at start "
                 f"{os.getloadavg()[0]:.1f} (the machine is shared: other jobs ran alongside).", "",
                 "Seconds to grade one answer (sources already retrieved unless said otherwise).",
                 "", "| method | answers | p50 s | p95 s | max s | note |", "|---|---|---|---|---|---|"]
        interviewer = Interviewer(settings, index, llm=llm, method="judge")
        grader = interviewer.grader  # one grader throughout: its sources cache is shared
        grader.grade(bank[0], "warm-up: load the models")
        cold = []
        for question_id in dict.fromkeys(c.question_id for c in cases):
            started = time.perf_counter()
            grader.sources(by_id[question_id])
            cold.append((time.perf_counter() - started) * 1000)
        warm = [grader.grade(by_id[c.question_id], c.answer,
                             previous_answer=c.previous_answer).timings_ms["total_ms"] for c in cases]
        lines += [row("judge", warm, "all simulated learners"),
                  row("sources of a new question", cold, "one retrieval per key point (default "
                      "mode); the interview does this while the learner types")]

        started = time.perf_counter()
        llm.start()
        llm_start_s = time.perf_counter() - started
        methods: list[tuple[GradeMethod, int]] = [("llm", args.llm_cases)]
        for method, n in methods:
            if n <= 0:
                continue
            grader.method = method
            took = [grader.grade(by_id[c.question_id], c.answer).timings_ms["total_ms"]
                    for c in sample(cases, n)]
            lines.append(row(method, took, "embedded 1.5B on the CPU; correct/partial/wrong sample"))

        grader.method = "judge"
        follow = []
        for case in sample(cases, 5):
            grade = grader.grade(by_id[case.question_id], case.answer)
            started = time.perf_counter()
            interviewer.follow_up(by_id[case.question_id], grade)
            follow.append((time.perf_counter() - started) * 1000)
        lines += [row("writing a follow-up (LLM)", follow, "after grading"), "",
                  f"Embedded LLM start: {llm_start_s:.1f} s (once per process; the interview "
                  "starts it in the background). Peak RSS of this benchmark: "
                  f"{peak_rss_mb():.0f} MB."]
    finally:
        index.close()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    # The README quotes these numbers in its "Mock interview" section, next to the agreement.
    publish("grading", "Grading", lines, readme=False)


if __name__ == "__main__":
    main()
