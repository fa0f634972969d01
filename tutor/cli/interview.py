"""The interview commands: `tutor interview` (a mock interview in the terminal), `tutor
questions` (the bank) and `tutor grade` (one answer)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tutor.cli.common import command_index, positive_int, print_streamed
from tutor.config import Settings
from tutor.errors import InputError, TutorError
from tutor.records import to_json


def cmd_questions(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.interview.interviewer import choose_bank
    from tutor.interview.knowledge import load_questions

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
    from tutor.interview.interviewer import Interviewer
    from tutor.interview.knowledge import load_questions

    if args.question not in {q.id for q in load_questions(settings.corpus_dir)}:
        raise InputError(f"No question '{args.question}' in the bank: `tutor questions` lists them.")
    answer = sys.stdin.read() if args.answer == "-" else args.answer
    with command_index(settings) as index:
        interviewer = Interviewer(settings, index, method=args.method)
        question = interviewer.question(args.question)
        grade = interviewer.grader.grade(question, answer, previous_answer=args.previous)
        grade.follow_up = interviewer.follow_up(question, grade)
    if args.json:
        print(json.dumps(to_json(grade), ensure_ascii=False))
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
    from tutor.interview.interviewer import Interviewer
    from tutor.interview.session import Session

    with command_index(settings) as index:
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
    """Thin on purpose: every decision is the session's (tutor.interview.interviewer)."""
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
        print_streamed(session.interviewer.tutor, session.asked)
        session.explained()
    else:
        grade = session.submit(text)
        print(f"{grade.score}/10. {grade.feedback}")
        if session.stage == "follow-up":
            print(f"Follow-up: {session.asked}")



def add_interview_commands(sub: Any) -> None:
    """The three subcommands, on the `tutor` parser's subparsers."""
    from tutor.interview.grading import GRADE_METHODS
    from tutor.interview.interviewer import LEVELS

    method_help = ("grading method (default: llm when TUTOR_LLM_BASE_URL is set, else "
                   "embedding+judge with the embedded LLM; embedding and judge need no LLM)")
    p = sub.add_parser("interview", help="a mock interview in the terminal",
                       description="Asks bank questions, grades each answer key point by key point "
                       "against the cited sources, follows up on the biggest miss, and ends with a "
                       "report per topic (weakest first) with what to read next.")
    p.add_argument("--topic", action="append", metavar="T",
                   help="ask only on this topic (repeatable; `tutor questions` lists them)")
    p.add_argument("--level", choices=LEVELS, default="mixed", help="question level (default mixed)")
    p.add_argument("--n", type=positive_int, default=None,
                   help="number of questions (default TUTOR_INTERVIEW_QUESTIONS=5)")
    p.add_argument("--method", choices=GRADE_METHODS, default=None, help=method_help)
    p.add_argument("--seed", type=int, default=None, help="fix the question choice (repeatable runs)")
    p.add_argument("--export", type=Path, default=None, help="also write the report to this Markdown file")
    p.set_defaults(handler=cmd_interview)


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
