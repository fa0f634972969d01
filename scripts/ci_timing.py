"""Publish where a CI run's time went, from its log: the `bench:ci` section of
bench/results.md and the README (a table of the latest runs, newest last).

    bash .ci/run > ci.log 2>&1            # on a fresh clone, ../shared beside it
    .venv/bin/python scripts/ci_timing.py ci.log --commit 1a2b3c4 --note "what changed"

The phases are the `[timing]` lines that scripts/setup.sh and scripts/test.sh print; the test
count is pytest's summary line. CI's budget is 25 minutes on 2 cores (README, "What runs where").
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import tutor  # noqa: F401
from tutor.evaluation.published import RESULTS, publish, sections

PHASES = ("set-up", "tests", "gate", "checks")
BUDGET_MIN = 25
KEEP = 12  # rows kept: enough to see a trend, short enough to read
HEADER = ["| date | commit | set-up | tests | gate | checks | total | note |", "|---|---|---|---|---|---|---|---|"]


def phases(log: str) -> dict[str, float]:
    """Minutes per phase from the `[timing] PHASE N s` lines (the last of each wins)."""
    found = {m.group(1): int(m.group(2)) / 60 for m in re.finditer(r"^\[timing\] (\S+) (\d+) s$", log, re.M)}
    missing = [p for p in PHASES if p not in found]
    if missing:
        raise SystemExit(f"the log has no [timing] line for {', '.join(missing)}: did the run finish?")
    return found


def row(log: str, commit: str, note: str) -> str:
    minutes = phases(log)
    tests = re.findall(r"^(\d+) passed", log, re.M)
    total = sum(minutes[p] for p in PHASES)
    verdict = "within" if total <= BUDGET_MIN else "over"
    cells = [datetime.now(UTC).strftime("%Y-%m-%d"), f"`{commit}`", f"{minutes['set-up']:.1f} min",
             f"{minutes['tests']:.1f} min ({tests[-1] if tests else '?'} tests)", f"{minutes['gate']:.1f} min",
             f"{minutes['checks']:.1f} min", f"**{total:.1f} min** ({verdict} {BUDGET_MIN})", note]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="the output of `bash .ci/run`")
    parser.add_argument("--commit", required=True, help="the commit the run tested")
    parser.add_argument("--note", default="", help="what changed since the previous row")
    args = parser.parse_args()
    earlier = sections(RESULTS.read_text(encoding="utf-8")).get("ci", "")
    rows = [line for line in earlier.splitlines() if line.startswith("| 20")]
    rows = [*rows, row(args.log.read_text(encoding="utf-8", errors="replace"), args.commit, args.note)][-KEEP:]
    lines = [f"Fresh-clone runs of `bash .ci/run` on this project's 2-core machines (set-up from an "
             f"empty `.venv`); published by `scripts/ci_timing.py` from each run's log. Budget: "
             f"{BUDGET_MIN} min.", "", *HEADER, *rows]
    publish("ci", "CI run time", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
