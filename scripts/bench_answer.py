"""Answer benchmark (not a test): the configured LLM backend end to end on gold questions.

    .venv/bin/python scripts/bench_answer.py [--n 12] [--evidence-tokens 250 0] [--lengths standard deeper]
                                             [--llm-check on off]

Time to first token and full answer (p50 / p95), the share of answer sentences supported
by their cited passages (a faithfulness proxy), citation validity (shown citations that
point at a passage given to the model), and refusals on in-scope vs out-of-scope questions.
Each value of `--evidence-tokens`, each answer length of `--lengths` and each `--llm-check`
setting is one column, so the default is measured beside the configuration it replaced (or
the shorter / deeper answers a learner can ask for, or the answer check without the LLM's
yes / no), on the same questions and machine. Writes the "answer" section of bench/results.md
and of the README ("answer-lengths" when lengths are compared, "answer-check" when the check is).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tutor  # noqa: F401
from tutor.answering.answer import Tutor
from tutor.config import ANSWER_LENGTHS, REPO_DIR, AnswerLength, Settings
from tutor.evaluation.benchmarks import machine, peak_rss_mb, percentile, stamp
from tutor.evaluation.gold import GoldCase, load_gold
from tutor.evaluation.published import publish
from tutor.sentences import split_sentences
from tutor.store.index import open_index
from tutor.store.ingest import Ingestor


@dataclass
class Measured:
    first: list[float] = field(default_factory=list)  # ms, answered questions
    check: list[float] = field(default_factory=list)  # ms, the answer check of each answer
    total: list[float] = field(default_factory=list)  # ms, every in-scope question
    sentences: int = 0
    supported: int = 0
    corrected: int = 0
    shown: int = 0
    valid: int = 0
    refused_in: int = 0
    refused_out: int = 0


def measure(tutor_: Tutor, in_scope: list[GoldCase], out_scope: list[GoldCase],
            length: AnswerLength) -> Measured:
    tutor_.ask(in_scope[0].question, length=length)  # warm-up: model start and prompt-prefix cache
    m = Measured()
    for case in in_scope:
        started = time.perf_counter()
        answer = tutor_.ask(case.question, length=length)
        m.total.append((time.perf_counter() - started) * 1000)
        if answer.refused:
            m.refused_in += 1
            continue
        m.first.append(answer.timings_ms.get("first_token_ms", float("nan")))
        m.check.append(answer.timings_ms.get("check_ms", float("nan")))
        given = {h.chunk.id for h in answer.contexts}
        m.shown += len(answer.citations)
        m.valid += sum(c.chunk_id in given for c in answer.citations)
        checked = [s for s in split_sentences(answer.answer) if not s.is_code and len(s.text.split()) >= 3]
        m.sentences += len(checked)
        m.supported += len(checked) - len(answer.unsupported_sentences)
        m.corrected += len(answer.corrected_sentences)
    m.refused_out = sum(tutor_.ask(g.question, length=length).refused for g in out_scope)
    return m


def _seconds(values: list[float]) -> str:
    return f"{percentile(values, 50) / 1000:.1f} s / {percentile(values, 95) / 1000:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=12, help="in-scope questions to answer with the LLM")
    parser.add_argument("--evidence-tokens", type=int, nargs="+", default=[250, 0], metavar="T",
                        help="TUTOR_EVIDENCE_TOKENS values to compare, one column each "
                        "(0 = whole passages, the default before excerpts)")
    parser.add_argument("--lengths", nargs="+", choices=ANSWER_LENGTHS, default=["standard"],
                        help="answer lengths to compare, one column each with every --evidence-tokens")
    parser.add_argument("--llm-check", nargs="+", choices=["on", "off"], default=["on"],
                        help="TUTOR_SUPPORT_LLM_CHECK settings to compare, one column each")
    args = parser.parse_args()

    gold = load_gold(REPO_DIR / "eval" / "gold.jsonl")
    rng = random.Random(5)
    in_scope = rng.sample([g for g in gold if g.kind == "in_scope"], args.n)
    out_scope = [g for g in gold if g.kind == "out_of_scope"]
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="tutor-bench-answer-")))
    index = open_index(settings)
    Ingestor(settings, index).run([settings.corpus_dir], progress=False)
    runs: dict[tuple[int, AnswerLength, str], Measured] = {}
    for tokens in args.evidence_tokens:
        for check in args.llm_check:
            tutor_ = Tutor(settings.model_copy(update={"evidence_tokens": tokens,
                                                       "support_llm_check": check == "on"}), index=index)
            for length in args.lengths:
                runs[(tokens, length, check)] = measure(tutor_, in_scope, out_scope, length)
    index.close()

    def row(name: str, cell: Callable[[Measured], str]) -> str:
        return f"| {name} | " + " | ".join(cell(m) for m in runs.values()) + " |"

    heads = [(f"{t} tokens of excerpts" if t else "whole passages") + ("" if length == "standard" else f", {length}")
             + ("" if check == "on" else ", no LLM check") for t, length, check in runs]
    lines = [
        f"Measured {stamp()} on {machine()}; backend: {tutor_.llm.name}; the same "
        f"{len(in_scope)} in-scope and {len(out_scope)} out-of-scope gold questions per column "
        "(`TUTOR_EVIDENCE_TOKENS`, the answer length `TUTOR_ANSWER_LENGTH` and "
        "`TUTOR_SUPPORT_LLM_CHECK`; the first column is the default)."
        + (" Later columns ask the same questions again, so the LLM server's prompt cache "
           "serves much of their prefill: compare their first-token times with care, and the "
           "answer check's own time as measured." if len(runs) > 1 else ""), "",
        "| metric | " + " | ".join(heads) + " |", "|---|" + "---|" * len(runs),
        row("time to first token, p50 / p95", lambda m: _seconds(m.first)),
        row("full answer, p50 / p95", lambda m: _seconds(m.total)),
        row("of which the answer check (judge, and the LLM's yes / no), p50 / p95", lambda m: _seconds(m.check)),
        row("sentences per answer, mean", lambda m: f"{m.sentences / max(len(m.first), 1):.1f}"),
        row("supported sentences (faithfulness proxy)",
            lambda m: f"{m.supported}/{m.sentences} = {m.supported / max(m.sentences, 1):.0%}"),
        row("sentences replaced by the notes' own (the check disagreed)", lambda m: str(m.corrected)),
        row("citation validity (shown citations that point at a given passage)",
            lambda m: f"{m.valid}/{m.shown} = {m.valid / max(m.shown, 1):.0%}"),
        row("in-scope questions refused", lambda m: f"{m.refused_in}/{len(in_scope)}"),
        row("out-of-scope questions refused", lambda m: f"{m.refused_out}/{len(out_scope)}"),
        f"\nPeak RSS of this process (embedded LLM included): {peak_rss_mb():.0f} MB.",
    ]
    # Comparing answer lengths is a table of its own, so the default's comparison with the
    # configuration it replaced stays published beside it.
    if len(args.llm_check) > 1:
        publish("answer-check", "The answer check with and without the LLM", lines)
    elif args.lengths == ["standard"]:
        publish("answer", "Answers", lines)
    else:
        publish("answer-lengths", "Answer lengths", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
