"""Answer benchmark (not a test): the configured LLM backend end to end on gold questions.

    .venv/bin/python scripts/bench_answer.py [--n 12]

Time to first token and full answer (p50 / p95), the share of answer sentences supported
by their cited passages (a faithfulness proxy), citation validity (shown citations that
point at a passage given to the model), and refusals on in-scope vs out-of-scope questions.
Writes the "answer" section of bench/results.md and of the README.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import tutor  # noqa: F401
from tutor.answer import Tutor
from tutor.benchmarks import (
    machine,
    peak_rss_mb,
    percentile,
    publish,
    stamp,
)
from tutor.citations import split_sentences
from tutor.config import REPO_DIR, Settings
from tutor.gold import load_gold
from tutor.index import Index
from tutor.ingest import Ingestor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=12, help="in-scope questions to answer with the LLM")
    args = parser.parse_args()

    gold = load_gold(REPO_DIR / "eval" / "gold.jsonl")
    rng = random.Random(5)
    in_scope = rng.sample([g for g in gold if g.kind == "in_scope"], args.n)
    out_scope = [g for g in gold if g.kind == "out_of_scope"]
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="tutor-bench-answer-")))
    index = Index(settings)
    Ingestor(settings, index).run([settings.corpus_dir], progress=False)
    tutor_ = Tutor(settings, index=index)
    tutor_.ask(in_scope[0].question)  # warm-up: model start and prompt-prefix cache

    first, total, sentences, supported, shown, valid = [], [], 0, 0, 0, 0
    refused_in = 0
    for case in in_scope:
        started = time.perf_counter()
        answer = tutor_.ask(case.question)
        total.append((time.perf_counter() - started) * 1000)
        if answer.refused:
            refused_in += 1
            continue
        first.append(answer.timings_ms.get("first_token_ms", float("nan")))
        given = {h.chunk.id for h in answer.contexts}
        shown += len(answer.citations)
        valid += sum(c.chunk_id in given for c in answer.citations)
        checked = [s for s in split_sentences(answer.answer) if not s.is_code and len(s.text.split()) >= 3]
        sentences += len(checked)
        supported += len(checked) - len(answer.unsupported_sentences)
    refused_out = sum(tutor_.ask(g.question).refused for g in out_scope)
    index.close()

    lines = [
        f"Measured {stamp()} on {machine()}; backend: {tutor_.llm.name}.", "",
        "| metric | value |", "|---|---|",
        f"| time to first token, p50 / p95 | {percentile(first, 50) / 1000:.1f} s / {percentile(first, 95) / 1000:.1f} s |",
        f"| full answer, p50 / p95 | {percentile(total, 50) / 1000:.1f} s / {percentile(total, 95) / 1000:.1f} s |",
        f"| supported sentences (faithfulness proxy) | {supported}/{sentences} = {supported / max(sentences, 1):.0%} |",
        f"| citation validity (shown citations that point at a given passage) | {valid}/{shown} = {valid / max(shown, 1):.0%} |",
        f"| in-scope questions refused | {refused_in}/{len(in_scope)} |",
        f"| out-of-scope questions refused | {refused_out}/{len(out_scope)} |",
        f"| peak RSS of this process (embedded LLM included) | {peak_rss_mb():.0f} MB |",
    ]
    publish("answer", "Answers", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
