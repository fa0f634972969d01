"""The training commands: `tutor train-reranker` and `tutor train-judge` (our own cross-encoders,
from the bundled MiniLM, on data built from the notes)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tutor.cli.common import positive_int
from tutor.config import Settings


def _cloze_count(value: str) -> int | None:
    return None if value == "all" else int(value)


def cmd_train_reranker(args: argparse.Namespace, settings: Settings) -> int:
    from tutor.reranker.data import export, train

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
    from tutor.judge.model import train

    result = train(settings, args.output, epochs=args.epochs, seed=args.seed, device=args.device)
    last = result["per_epoch"][-1]
    print(f"Judge written to {args.output} (held-out accuracy: rule-made pairs "
          f"{last['held_out_rules'].get('accuracy')}, written claims {last['held_out_claims'].get('accuracy')})")
    return 0



def add_train_commands(sub: Any) -> None:
    """The two subcommands, on the `tutor` parser's subparsers."""
    p = sub.add_parser("train-reranker", help="fine-tune the cross-encoder reranker on the corpus",
                       description="Train the bundled cross-encoder (MiniLM) on questions about "
                       "the corpus against their source passages and mined hard negatives. "
                       "Seeded: the same data and seed give the same model.")
    p.add_argument("--output", type=Path, default=None, help="where to write the model "
                   "(default: DATA_DIR/reranker, where the tutor looks before the shipped model)")
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--layers", type=positive_int, default=6, help="encoder layers to keep (MiniLM has 6)")
    p.add_argument("--max-queries", type=positive_int, default=None,
                   help="train on a seeded sample of this many questions (a quick run)")
    p.add_argument("--cloze", type=_cloze_count, default=1, metavar="N|all",
                   help="inverse-cloze questions per chunk (sentences asked against the rest of it)")
    p.add_argument("--device", default="cpu", help="torch device to train on (cuda on a GPU machine)")
    p.add_argument("--batch-groups", type=positive_int, default=2,
                   help="questions per step, each with its positive and 7 negatives")
    p.add_argument("--export", type=Path, metavar="DIR", default=None,
                   help="only write the training groups to DIR, for tutor/reranker/fit.py elsewhere")
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
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--device", default="cpu", help="torch device to train on (cuda on a GPU machine)")
    p.set_defaults(handler=cmd_train_judge)
