"""The `tutor` command line.

Heavy libraries (torch, qdrant, llama-index) are imported inside the commands, so
`tutor --help` answers at once. Every `TutorError` becomes one line on stderr with the fix;
a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import tutor  # noqa: F401  (keeps the libraries offline before anything else is imported)
from tutor.cli_progress import add_progress_commands
from tutor.config import RETRIEVAL_MODES, Settings, load_settings
from tutor.errors import InputError, TutorError
from tutor.quoting import as_prose, clip

if TYPE_CHECKING:
    from tutor.index import Index

Handler = Callable[[argparse.Namespace, Settings], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


@contextmanager
def _open_index(settings: Settings, *, copy_if_locked: bool = True) -> Iterator[Index]:
    """The index for one command; all but ingest and serve may work on a copy of a shard the
    running app holds (see `open_index`)."""
    from tutor.index import open_index

    index = open_index(settings, copy_if_locked=copy_if_locked)
    try:
        yield index
    finally:
        index.close()


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.ingest import Ingestor

    paths = args.paths or [settings.corpus_dir]
    with _open_index(settings, copy_if_locked=False) as index:
        report = Ingestor(settings, index).run(paths, rebuild=args.rebuild)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.summary())
    nothing_usable = report.rejected and not (report.added or report.updated or report.unchanged)
    return 1 if nothing_usable else 0


def _read_questions(path: Path) -> list[dict[str, str]]:
    """`{"id", "question"}` per line; a malformed line is an error that names the line."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON lines.") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = row["question"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(
                f'{path}:{number}: expected a JSON object like {{"id": "q1", "question": "…"}}.'
            ) from exc
        if not isinstance(question, str):  # never search for the text "None" or "['a', 'b']"
            raise InputError(f'{path}:{number}: "question" must be a string, not {type(question).__name__}.')
        rows.append({"id": str(row.get("id", number)), "question": question})
    if not rows:
        raise InputError(f'{path} holds no questions: write one JSON object per line, like {{"question": "…"}}.')
    return rows


def _positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1 (`--k 0` must not silently mean the default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def cmd_retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.retrieve import Retriever

    if (args.question is None) == (args.file is None):
        raise InputError("Give either a QUESTION or --file questions.jsonl, not both or neither.")
    questions = _read_questions(args.file) if args.file else [{"id": "", "question": args.question}]
    with _open_index(settings) as index:
        retriever = Retriever(settings, index)
        for row in questions:
            result = retriever.search(row["question"], mode=args.mode, k=args.k)
            if args.json:
                out = {
                    "question": result.question, "mode": result.mode, "relevant": result.relevant,
                    "hits": [h.to_dict() for h in result.hits], "timings_ms": result.timings_ms,
                }
                print(json.dumps({"id": row["id"], **out} if args.file else out, ensure_ascii=False))
                continue
            print(f"Q: {result.question}   [{result.mode}]")
            if not result.relevant:
                print("  (nothing in the index clears the relevance floor)")
            for rank, hit in enumerate(result.hits, 1):
                sc = hit.scores
                parts = [f"{n}={v:.3f}" for n, v in
                         (("bm25", sc.bm25), ("dense", sc.dense), ("fused", sc.fused), ("rerank", sc.rerank))
                         if v is not None]
                print(f"{rank:>2}. {hit.chunk.section}  ({hit.chunk.id})\n    {' '.join(parts)}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.answer import Tutor

    if (args.question is None) == (args.file is None):
        raise InputError("Give either a QUESTION or --file questions.jsonl, not both or neither.")
    questions = _read_questions(args.file) if args.file else [{"id": "", "question": args.question}]
    with _open_index(settings) as index:
        tutor_ = Tutor(settings, index=index)
        for row in questions:
            if args.json:
                out = tutor_.ask(row["question"]).to_dict()
                print(json.dumps({"id": row["id"], **out} if args.file else out, ensure_ascii=False),
                      flush=True)
                continue
            _print_streamed(tutor_, row["question"])
    return 0


def _print_streamed(tutor_: Any, question: str) -> None:
    streamed = ""
    for event in tutor_.stream(question):
        if event.kind == "sources":
            print("Sources: " + "; ".join(f"[{i}] {h.chunk.section}" for i, h in enumerate(event.hits, 1)))
            print()
        elif event.kind == "delta":
            streamed += event.text
            print(event.text, end="", flush=True)
        elif event.answer is not None:
            answer = event.answer
            if answer.refused:
                print(answer.answer)
            elif answer.answer != streamed:
                # The judge cited, corrected or flagged sentences: show what it let through.
                print(f"\n\nChecked against the notes:\n{answer.answer}")
            print()
            for c in answer.citations:
                print(f"  [{c.n}] {c.doc} — {c.section}\n      “{clip(as_prose(c.span_text))}”")
            for sentence in answer.unsupported_sentences:
                print(f"  ⚠ no passage says: {sentence}")
            for sentence in answer.corrected_sentences:
                print(f"  ✎ the notes say otherwise: {sentence}")
            if answer.suggestions:
                print("Next you could ask: " + " | ".join(answer.suggestions))
            print(f"({answer.backend}; {answer.timings_ms.get('total_ms', 0) / 1000:.1f} s)")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.app import serve

    with _open_index(settings, copy_if_locked=False) as index:
        index.require()  # a clear "run tutor ingest" before the server starts, not in the page
    print(f"Starting the tutor on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    serve(settings, host=args.host, port=args.port)
    return 0


def _cloze_count(value: str) -> int | None:
    return None if value == "all" else int(value)


def cmd_train_reranker(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.reranker import export, train

    if args.export:
        groups, cases = export(settings, args.export, seed=args.seed, cloze_per_chunk=args.cloze,
                               held_out=args.held_out, max_queries=args.max_queries)
        print(f"Training groups written to {groups}, held-out cases to {cases}")
        return 0
    out = train(settings, output=args.output, epochs=args.epochs, seed=args.seed, layers=args.layers,
                max_queries=args.max_queries, cloze_per_chunk=args.cloze, device=args.device,
                batch_groups=args.batch_groups)
    print(f"Reranker written to {out}")
    return 0


def cmd_train_judge(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.judge import train

    result = train(settings, args.output, epochs=args.epochs, seed=args.seed, device=args.device)
    last = result["per_epoch"][-1]
    print(f"Judge written to {args.output} (held-out accuracy: rule-made pairs "
          f"{last['held_out_rules'].get('accuracy')}, written claims {last['held_out_claims'].get('accuracy')})")
    return 0


def cmd_questions(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.interview import choose_bank
    from tutor.knowledge import load_questions

    chosen = choose_bank(load_questions(settings.corpus_dir), args.topic or (), args.level)
    if args.json:
        rows = [{"id": q.id, "topic": q.topic, "level": q.level, "question": q.question}
                for q in chosen]
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for q in chosen:
        print(f"{q.id:<38} {q.level:<11} {q.question}")
    return 0


def cmd_grade(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.interview import Interviewer
    from tutor.knowledge import load_questions

    if args.question not in {q.id for q in load_questions(settings.corpus_dir)}:
        raise InputError(f"No question '{args.question}' in the bank: `tutor questions` lists them.")
    answer = sys.stdin.read() if args.answer == "-" else args.answer
    with _open_index(settings) as index:
        interviewer = Interviewer(settings, index, method=args.method)
        question = interviewer.question(args.question)
        grade = interviewer.grader.grade(question, answer, previous_answer=args.previous)
        grade.follow_up = interviewer.follow_up(question, grade)
    if args.json:
        print(json.dumps(grade.to_dict(), ensure_ascii=False))
        return 0
    _print_grade(grade)
    if grade.follow_up:
        print(f"\nFollow-up: {grade.follow_up.question}")
    return 0


_VERDICT_MARK = {"covered": "✓", "partial": "~", "missed": "·", "contradicted": "✗"}


def _print_grade(grade: Any) -> None:
    print(f"Score {grade.score}/10  ({grade.method})")
    for v in grade.verdicts:
        print(f"  {_VERDICT_MARK[v.verdict]} {v.verdict:<12} {v.point}")
        if v.learner_sentence:
            print(f"      you said: “{v.learner_sentence}”")
        if v.source is not None:
            print(f"      source: {v.source.doc} › {v.source.section}\n        “{v.source.text[:200]}”")
    print(grade.feedback)


def cmd_interview(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.interview import Interviewer, Session

    with _open_index(settings) as index:
        index.require()
        interviewer = Interviewer(settings, index, method=args.method)
        session = Session(interviewer, topics=args.topic or (), level=args.level, n=args.n,
                          seed=args.seed)
        print(f"Mock interview: {session.n} question(s), graded by {interviewer.grader.method}. "
              "Answer in a few sentences (one line, Enter to send). Type 'hint', 'skip', "
              "'explain' (the tutor's cited answer) or 'quit'.")
        try:
            _interview_loop(session)
        except (EOFError, KeyboardInterrupt):
            print("\nInterview ended early.")
        finally:
            session.close()
        report = session.report()
    print("\n" + report.markdown())
    if args.export:
        args.export.write_text(report.markdown(), encoding="utf-8")
        print(f"Report written to {args.export}")
    return 0


def _interview_loop(session: Any) -> None:
    """Thin on purpose: every decision is the session's (tutor.interview)."""
    while (question := session.next_question()) is not None:
        print(f"\nQuestion {len(session.turns)}/{session.n} [{question.topic}, {question.level}]"
              f"\n{question.question}")
        while (turn := session.current) is not None:
            text = input("> ")
            command = text.strip().lower()
            if command in ("quit", "exit"):
                return
            try:
                _interview_step(session, command, text)
            except TutorError as exc:  # e.g. the LLM timed out: the session goes on
                print(f"error: {exc} (try again, or type 'skip')")
                continue
            if session.current is None and turn.grade is not None:
                print()
                _print_grade(turn.grade)


def _interview_step(session: Any, command: str, text: str) -> None:
    if command == "skip":
        session.skip()
        print("Skipped.")
    elif command == "hint":
        print(f"Hint: {session.hint().text}")
    elif command == "explain":
        _print_streamed(session.interviewer.tutor, session.asked)
        session.explained()
    else:
        grade = session.submit(text)
        print(f"{grade.score}/10. {grade.feedback}")
        if session.stage == "follow-up":
            print(f"Follow-up: {session.asked}")


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.eval_gate import (
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
    from tutor.eval_report import console_summary, update_readme, write_report
    from tutor.evaluate import (
        BASELINE,
        RESULTS_DIR,
        EvalOptions,
        Evaluation,
        load_run,
        run_folder,
        write_run,
    )

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


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option like every other tutor error: one line on stderr,
    naming the fix, exit status 1 (not a usage dump and 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tutor",
        description="A cited, offline tutor and mock interviewer for LLM / ML engineering interviews.",
    )
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the index, models and feedback live (default .tutor/, or TUTOR_DATA_DIR)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("ingest", help="add or update documents in the index (incremental)",
                       description="Index .md, .txt, .html and .pdf files. Unchanged files are "
                       "skipped, changed ones replaced, and files gone from a scanned folder removed.")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                   help="files or folders (default: the corpus/ knowledge base)")
    p.add_argument("--rebuild", action="store_true", help="drop the index and ingest from scratch")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("retrieve", help="show the passages retrieved for a question",
                       description="Hybrid retrieval (BM25 + dense, RRF in Qdrant), optionally "
                       "cross-encoder reranking, with each stage's score per passage.")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--file", type=Path, help='JSON lines of {"id", "question"}; one result line each')
    p.add_argument("--k", type=_positive_int, default=None, help="passages to return (default TUTOR_TOP_N=5)")
    p.add_argument("--mode", choices=RETRIEVAL_MODES, default=None,
                   help="retrieval stages to run (default: TUTOR_MODE, hybrid+rerank)")
    p.add_argument("--json", action="store_true", help="print JSON (the public contract, see README)")
    p.set_defaults(handler=cmd_retrieve)

    p = sub.add_parser("ask", help="answer a question from the notes, with citations",
                       description="Retrieve passages, let the LLM explain with [n] citations, "
                       "check every citation and sentence against the passages.")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--file", type=Path, help='JSON lines of {"id", "question"}; one result line each')
    p.add_argument("--json", action="store_true", help="print JSON (the public contract, see README)")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("serve", help="start the browser app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("train-reranker", help="fine-tune the cross-encoder reranker on the corpus",
                       description="Train the bundled cross-encoder (MiniLM) on questions about "
                       "the corpus against their source passages and mined hard negatives. "
                       "Seeded: the same data and seed give the same model.")
    p.add_argument("--output", type=Path, default=None, help="where to write the model "
                   "(default: DATA_DIR/reranker, where the tutor looks before the shipped model)")
    p.add_argument("--epochs", type=_positive_int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--layers", type=_positive_int, default=6, help="encoder layers to keep (MiniLM has 6)")
    p.add_argument("--max-queries", type=_positive_int, default=None,
                   help="train on a seeded sample of this many questions (a quick run)")
    p.add_argument("--cloze", type=_cloze_count, default=1, metavar="N|all",
                   help="inverse-cloze questions per chunk (sentences asked against the rest of it)")
    p.add_argument("--device", default="cpu", help="torch device to train on (cuda on a GPU machine)")
    p.add_argument("--batch-groups", type=_positive_int, default=2,
                   help="questions per step, each with its positive and 7 negatives")
    p.add_argument("--export", type=Path, metavar="DIR", default=None,
                   help="only write the training groups to DIR, for tutor/reranker_fit.py elsewhere")
    p.add_argument("--held-out", type=int, default=0,
                   help="with --export: keep this many written questions out as cases to measure on")
    p.set_defaults(handler=cmd_train_reranker)

    p = sub.add_parser("train-judge", help="train the entails / contradicts / neither judge",
                       description="Train the judge (a cross-encoder from the bundled MiniLM) on "
                       "pairs built from the notes and the bank: supporting sentences, meaning-"
                       "flipping rewrites, the notes' own pitfalls, neighbouring sentences. Seeded.")
    p.add_argument("--output", type=Path, required=True,
                   help="where to write it (tutor/weights/judge replaces the shipped one; "
                   "TUTOR_JUDGE_WEIGHTS points the tutor at another)")
    p.add_argument("--epochs", type=_positive_int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--device", default="cpu", help="torch device to train on (cuda on a GPU machine)")
    p.set_defaults(handler=cmd_train_judge)

    from tutor.eval_gate import THRESHOLDS
    from tutor.evaluate import GOLD_SETS, SPLITS
    from tutor.ragas_metrics import JUDGED_METRICS

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

    from tutor.grading import GRADE_METHODS
    from tutor.interview import LEVELS

    method_help = ("grading method (default: llm when TUTOR_LLM_BASE_URL is set, else "
                   "embedding+judge with the embedded LLM; embedding and judge need no LLM)")
    p = sub.add_parser("interview", help="a mock interview in the terminal",
                       description="Asks bank questions, grades each answer key point by key point "
                       "against the cited sources, follows up on the biggest miss, and ends with a "
                       "report per topic (weakest first) with what to read next.")
    p.add_argument("--topic", action="append", metavar="T",
                   help="ask only on this topic (repeatable; `tutor questions` lists them)")
    p.add_argument("--level", choices=LEVELS, default="mixed", help="question level (default mixed)")
    p.add_argument("--n", type=_positive_int, default=None,
                   help="number of questions (default TUTOR_INTERVIEW_QUESTIONS=5)")
    p.add_argument("--method", choices=GRADE_METHODS, default=None, help=method_help)
    p.add_argument("--seed", type=int, default=None, help="fix the question choice (repeatable runs)")
    p.add_argument("--export", type=Path, default=None, help="also write the report to this Markdown file")
    p.set_defaults(handler=cmd_interview)

    add_progress_commands(sub)

    p = sub.add_parser("questions", help="list the interview question bank")
    p.add_argument("--topic", action="append", metavar="T", help="only this topic (repeatable)")
    p.add_argument("--level", choices=LEVELS, default="mixed", help="only this level")
    p.add_argument("--json", action="store_true",
                   help='print a JSON array of {"id", "topic", "level", "question"}')
    p.set_defaults(handler=cmd_questions)

    p = sub.add_parser("grade", help="grade one answer to a bank question",
                       description="Grade an answer key point by key point, each verdict with the "
                       "learner's sentence and a source passage from the index; score 0-10, "
                       "feedback and a follow-up question.")
    p.add_argument("--question", required=True, metavar="ID", help="bank question id, e.g. rag-001")
    p.add_argument("--answer", required=True, help="the answer text ('-' reads it from stdin)")
    p.add_argument("--previous", default=None, help="the learner's previous answer (to catch repeats)")
    p.add_argument("--method", choices=GRADE_METHODS, default=None, help=method_help)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (score, verdicts, feedback, follow_up, method)")
    p.set_defaults(handler=cmd_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
        handler: Handler = args.handler
        return handler(args, settings)
    except TutorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
