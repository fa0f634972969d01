"""The learner-memory commands: `tutor progress` and `tutor review` (tutor/memory/progress.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tutor.config import Settings
from tutor.errors import InputError
from tutor.records import to_json

if TYPE_CHECKING:
    from tutor.memory.progress import ProgressStore


def _progress_store(settings: Settings, *, create: bool = False) -> ProgressStore:
    """The learner store; a command that only reads refuses to create an empty one."""
    from tutor.memory.progress import FILE_NAME, ProgressStore

    if not create and not (settings.data_dir / FILE_NAME).exists():
        raise InputError(f"No progress is stored in {settings.data_dir} yet: it is recorded as a "
                         "learner answers, or import it with `tutor review --import-json FILE`.")
    return ProgressStore.open(settings)


def _which_learner(store: ProgressStore, given: str | None, *, as_json: bool = False) -> str | None:
    """The learner a command is about: the one given (who must exist), else the only one;
    with several, they are listed and None is returned."""
    if given is not None:
        if store.learner(given) is None:
            raise InputError(f"No learner {given!r} in {store.path}: `tutor progress` lists them.")
        return given
    learners = store.learners()
    if not learners:
        raise InputError(f"No learner has progress in {store.path} yet.")
    if len(learners) == 1:
        return learners[0].id
    if as_json:
        print(json.dumps({"learners": [{"id": x.id, "name": x.name, "last_active_at":
                                        x.last_active_at.isoformat(), "due": store.due_count(x.id)}
                                       for x in learners]}, ensure_ascii=False))
        return None
    print(f"{len(learners)} learners in {store.path}; choose one with --learner ID:")
    for x in learners:
        print(f"  {x.id:<24} {x.name or '(no name)':<24} last active "
              f"{x.last_active_at:%Y-%m-%d %H:%M}, {store.due_count(x.id)} card(s) due")
    return None


def cmd_progress(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.interview.knowledge import load_questions, topic_titles

    with _progress_store(settings) as store:
        learner = _which_learner(store, args.learner, as_json=args.json)
        if learner is None:
            return 0
        readiness = store.readiness(learner, load_questions(settings.corpus_dir),
                                    titles=topic_titles(settings.corpus_dir))
        found = store.learner(learner)
        name = found.name if found else None
    if args.json:
        print(json.dumps({"learner": {"id": learner, "name": name}, **to_json(readiness)},
                         ensure_ascii=False))
        return 0
    print(f"Readiness of {name or learner}\n")
    print(readiness.table())
    return 0


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.memory.review import export_anki

    if args.import_json:
        try:
            data = json.loads(args.import_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"Cannot read {args.import_json} as a progress export ({exc}).") from exc
        if not isinstance(data, dict):
            raise InputError(f"{args.import_json} is not a progress export (not a JSON object).")
        with _progress_store(settings, create=True) as store:
            into = store.import_(data, args.learner)
            print(f"Imported {args.import_json} as learner {into}: "
                  f"{len(store.answers(into))} answer(s), {len(store.cards(into))} card(s), "
                  f"{store.due_count(into)} due.")
        return 0
    if args.delete and args.learner is None:
        raise InputError("--delete needs --learner ID, so nobody's progress is deleted by guess.")
    with _progress_store(settings) as store:
        learner = _which_learner(store, args.learner)
        if learner is None:
            print("error: several learners: choose one with --learner ID", file=sys.stderr)
            return 1
        if args.delete:
            store.delete(learner)
            print(f"Deleted the progress of learner {learner}.")
        elif args.export_json:
            args.export_json.write_text(json.dumps(store.export(learner), ensure_ascii=False,
                                                   indent=1), encoding="utf-8")
            print(f"Progress of {learner} written to {args.export_json}.")
        elif args.export_anki:
            cards = [c for c in store.cards(learner) if not c.suspended]
            export_anki(cards, args.export_anki, learner_id=learner)
            print(f"{len(cards)} card(s) written to {args.export_anki} (in Anki: File › Import).")
        else:
            _review_loop(store, learner)
    return 0


_RATING_PROMPT = "How well did you recall it? 1 again, 2 hard, 3 good, 4 easy (q to stop): "


def _review_loop(store: ProgressStore, learner: str) -> None:
    """Thin on purpose: scheduling is FSRS's, through the store (tutor.memory.progress). Stops when
    nothing is due, on 'q', or at the end of input, and says what is due next."""
    from tutor.memory.review import RATING_NAMES, due_in

    done = 0
    try:
        while due := store.due_cards(learner):
            card = due[0]
            print(f"\nCard {card.id} ({len(due)} due)\n{card.front}")
            if input("[Enter shows the answer, q stops] ").strip().lower() == "q":
                break
            print(f"\n{card.back}\n")
            while (answer := input(_RATING_PROMPT).strip().lower()) not in ("1", "2", "3", "4", "q"):
                print("Type 1, 2, 3 or 4 (or q).")
            if answer == "q":
                break
            card = store.rate(learner, card.id, int(answer))
            done += 1
            print(f"{RATING_NAMES[int(answer)].capitalize()}: next due "
                  f"{due_in(card.due_at, datetime.now(UTC))}.")
    except (EOFError, KeyboardInterrupt):
        print()
    left = store.due_count(learner)
    upcoming = [c.due_at for c in store.cards(learner) if not c.suspended]
    later = (f"; the next is due {due_in(min(upcoming), datetime.now(UTC))}"
             if upcoming and not left else "")
    print(f"\n{done} card(s) reviewed, {left} due now{later}.")


def add_progress_commands(sub: Any) -> None:
    """The two subcommands, on the `tutor` parser's subparsers."""
    p = sub.add_parser("progress", help="your readiness per topic and the review cards due",
                       description="Per topic of the bank: key points answered (coverage), how "
                       "well recently (mastery, fading with age), when last, cards due; and the "
                       "topic to practise next. From the learner store in the data dir.")
    p.add_argument("--learner", metavar="ID", default=None,
                   help="whose progress (default: the only learner; several are listed)")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object: {"learner", "topics", "due", "practise_next"}')
    p.set_defaults(handler=cmd_progress)

    p = sub.add_parser("review", help="review the key points you missed (spaced repetition)",
                       description="Shows each due card (a missed key point), then its answer "
                       "and source; you rate your recall 1-4 and FSRS schedules the next review. "
                       "Or exports, imports or deletes a learner's progress.")
    p.add_argument("--learner", metavar="ID", default=None,
                   help="whose cards (default: the only learner; on import, the file's)")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--export-anki", type=Path, metavar="PATH", default=None,
                        help="write the cards as an Anki deck (.apkg) instead of reviewing")
    action.add_argument("--export-json", type=Path, metavar="PATH", default=None,
                        help="write all the learner's progress to a JSON file")
    action.add_argument("--import-json", type=Path, metavar="PATH", default=None,
                        help="restore progress from such a file (importing twice changes nothing)")
    action.add_argument("--delete", action="store_true",
                        help="delete all the learner's progress (needs --learner)")
    p.set_defaults(handler=cmd_review)
