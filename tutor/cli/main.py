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
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import tutor  # noqa: F401  (keeps the libraries offline before anything else is imported)
from tutor.cli.common import command_index, positive_int, print_streamed
from tutor.cli.eval import add_eval_command
from tutor.cli.interview import add_interview_commands
from tutor.cli.progress import add_progress_commands
from tutor.cli.train import add_train_commands
from tutor.config import ANSWER_LENGTHS, RETRIEVAL_MODES, Settings, load_settings
from tutor.errors import InputError, TutorError
from tutor.records import to_json

Handler = Callable[[argparse.Namespace, Settings], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.store.ingest import Ingestor

    paths = args.paths or [settings.corpus_dir]
    with command_index(settings, copy_if_locked=False) as index:
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


def cmd_retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.retrieval.retrieve import Retriever

    if (args.question is None) == (args.file is None):
        raise InputError("Give either a QUESTION or --file questions.jsonl, not both or neither.")
    questions = _read_questions(args.file) if args.file else [{"id": "", "question": args.question}]
    with command_index(settings) as index:
        retriever = Retriever(settings, index)
        for row in questions:
            result = retriever.search(row["question"], mode=args.mode, k=args.k)
            if args.json:
                out = {
                    "question": result.question, "mode": result.mode, "relevant": result.relevant,
                    "hits": [to_json(h) for h in result.hits], "timings_ms": result.timings_ms,
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
    from tutor.answering.answer import Tutor

    if (args.question is None) == (args.file is None):
        raise InputError("Give either a QUESTION or --file questions.jsonl, not both or neither.")
    questions = _read_questions(args.file) if args.file else [{"id": "", "question": args.question}]
    with command_index(settings) as index:
        tutor_ = Tutor(settings, index=index)
        for row in questions:
            if args.json:
                out = to_json(tutor_.ask(row["question"], length=args.length))
                print(json.dumps({"id": row["id"], **out} if args.file else out, ensure_ascii=False),
                      flush=True)
                continue
            print_streamed(tutor_, row["question"], args.length)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.app.main import serve

    with command_index(settings, copy_if_locked=False) as index:
        index.require()  # a clear "run tutor ingest" before the server starts, not in the page
    print(f"Starting the tutor on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    serve(settings, host=args.host, port=args.port)
    return 0


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
    p.add_argument("--k", type=positive_int, default=None, help="passages to return (default TUTOR_TOP_N=5)")
    p.add_argument("--mode", choices=RETRIEVAL_MODES, default=None,
                   help="retrieval stages to run (default: TUTOR_MODE, hybrid+rerank)")
    p.add_argument("--json", action="store_true", help="print JSON (the public contract, see README)")
    p.set_defaults(handler=cmd_retrieve)

    p = sub.add_parser("ask", help="answer a question from the notes, with citations",
                       description="Retrieve passages, let the LLM explain with [n] citations, "
                       "check every citation and sentence against the passages.")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--file", type=Path, help='JSON lines of {"id", "question"}; one result line each')
    p.add_argument("--length", choices=ANSWER_LENGTHS, default=None,
                   help="shorter, standard or deeper (an explanation); default TUTOR_ANSWER_LENGTH=standard")
    p.add_argument("--json", action="store_true", help="print JSON (the public contract, see README)")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("serve", help="start the browser app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(handler=cmd_serve)

    add_train_commands(sub)
    add_eval_command(sub)
    add_interview_commands(sub)
    add_progress_commands(sub)
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
