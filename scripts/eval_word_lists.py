"""Ablation: the word-list grader the judge replaced, on today's labelled learners.

The `embedding` method of commit a4e07db (MiniLM similarity plus negation-parity, opposite-word,
number and "absolute word" cues) grades every substantive learner of eval/interview_cases*.yaml;
the result is published as the `bench:grading-word-lists` section beside the judge's.

    git worktree add /tmp/word-lists a4e07db
    .venv/bin/python scripts/eval_word_lists.py /tmp/word-lists --data-dir .tutor

The old grader is imported from that checkout in a subprocess (its `tutor` package shadows
ours there); this process scores its verdicts with today's `tutor.evaluation.learners`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import tutor  # noqa: F401
from tutor.evaluation.benchmarks import machine, stamp
from tutor.evaluation.learners import SUBSTANTIVE, Agreement, CaseResult, load_cases
from tutor.evaluation.published import publish
from tutor.interview.grades import Grade, PointGrade
from tutor.interview.knowledge import load_questions

COMMIT = "a4e07db"
_GRADE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tutor.config import Settings
from tutor.interview.grading import Grader
from tutor.store.index import Index, open_index
from tutor.interview.knowledge import load_questions
settings = Settings(data_dir=sys.argv[2])
bank = {q.id: q for q in load_questions(settings.corpus_dir)}
grader = Grader(settings, open_index(settings), method="embedding")
for line in sys.stdin:
    case = json.loads(line)
    grade = grader.grade(bank[case["question"]], case["answer"])
    print(json.dumps({"verdicts": [v.verdict for v in grade.verdicts], "score": grade.score,
                      "ms": grade.timings_ms.get("grade_ms", 0.0)}), flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path, help=f"a checkout of commit {COMMIT}")
    parser.add_argument("--data-dir", type=Path, required=True, help="an ingested data folder")
    args = parser.parse_args()
    bank = load_questions(Path(tutor.__file__).parent.parent / "corpus")
    cases = [c for c in load_cases(bank)[0] if c.kind in SUBSTANTIVE]
    stdin = "".join(json.dumps({"question": c.question_id, "answer": c.answer}) + "\n" for c in cases)
    done = subprocess.run([sys.executable, "-c", _GRADE, str(args.tree), str(args.data_dir)],
                          input=stdin, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    results = []
    for case, row in zip(cases, rows, strict=True):
        verdicts = [PointGrade(i, "", v, None, 0.0, None) for i, v in enumerate(row["verdicts"])]
        results.append(CaseResult(case, Grade(case.question_id, row["score"], verdicts, "",
                                              "embedding", timings_ms={"grade_ms": row["ms"]})))
    result = Agreement(f"embedding (word lists, commit {COMMIT})", results)
    publish("grading-word-lists", "The word-list grader the judge replaced", [
        f"Measured {stamp()} on {machine()}: `scripts/eval_word_lists.py`, the `embedding` "
        f"method of commit {COMMIT} on today's labels.", "", result.markdown()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
