"""Regenerate the README parts that come from code: the configuration table, the CLI help and
the evaluation table (from eval/results/baseline/).

    .venv/bin/python scripts/gen_docs.py          # rewrite README.md
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 if README.md is stale, or a number
                                                  # in README / docs was typed by hand (CI)

What counts as typed by hand, and the dated records that keep an experiment's history:
tutor/published.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys

import tutor  # noqa: F401
from tutor.cli import build_parser
from tutor.config import REPO_DIR, Settings
from tutor.eval_report import baseline_readme_table
from tutor.published import README, check, with_section


def config_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "corpus_dir":
            default = "corpus/ (in the repository)"
        elif hasattr(default, "as_posix"):
            default = default.as_posix()
        env = f"TUTOR_{name.upper()}"
        if name == "llm_api_key":
            env += " (or OPENAI_API_KEY)"
        rows.append(f"| `{env}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)


def cli_help() -> str:
    parser = build_parser()
    parts = []
    commands = [None, *parser._subparsers._group_actions[0].choices]  # type: ignore[union-attr]
    for command in commands:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parser.parse_args([command, "--help"] if command else ["--help"])
        parts.append(f"$ tutor {command + ' ' if command else ''}--help\n{out.getvalue().rstrip()}")
    return "```text\n" + "\n\n".join(parts) + "\n```"


def render(text: str) -> str:
    sections = (("gen", "config", config_table()), ("gen", "cli-help", cli_help()),
                ("eval", "table", baseline_readme_table()))
    for kind, name, body in sections:
        text = with_section(text, name, body, kind)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    # Help text wraps to the terminal width: fix it so the output does not depend on who runs it.
    import os

    os.environ["COLUMNS"] = "100"
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        problems = check()  # numbers typed by hand, README copies of bench/results.md edited
        if fresh != current:
            problems.insert(0, f"{README.relative_to(REPO_DIR)} is stale: run scripts/gen_docs.py")
        print("\n".join(problems), file=sys.stderr)
        return 1 if problems else 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
