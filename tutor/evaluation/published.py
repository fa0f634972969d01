"""Numbers a reader sees in the README and docs/ come from scripts, never from a keyboard.

Scripts write their results between HTML comment markers (`<!-- bench:NAME -->` ...
`<!-- /bench:NAME -->`, and `gen:` / `eval:` sections that scripts/gen_docs.py renders from
code and the committed evaluation baseline). `scripts/gen_docs.py --check`, run in CI, fails
on two things a maintainer cannot see in review:

- a README `bench:` section that differs from the same section of bench/results.md (both are
  written by one `publish` call; a hand edit of one copy makes them disagree);
- a measurement typed into prose: a decimal, a percentage, "N of M", or a number with a time
  or memory unit, outside a generated section, a code span or fence, or a dated record.

A *record* (`<!-- record: 2026-12-07 a1b2c3d ... -->` ... `<!-- /record -->`, a date and the
commit measured) keeps the history of an experiment that is not re-run: what was tried and
what it gave. It says when and where its numbers are from, so a reader can tell that they are
not the current state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tutor.config import REPO_DIR

RESULTS = REPO_DIR / "bench" / "results.md"
README = REPO_DIR / "README.md"
CHECKED = (README, *sorted((REPO_DIR / "docs").glob("*.md")), REPO_DIR / "eval" / "README.md")

SECTION_KINDS = ("bench", "gen", "eval")  # bench: scripts/bench_*.py; gen, eval: scripts/gen_docs.py
_SECTION = re.compile(rf"<!-- ({'|'.join(SECTION_KINDS)}):([\w-]+) -->\n?(.*?)\n?<!-- /\1:\2 -->", re.DOTALL)
_RECORD = re.compile(r"<!-- record: (\S+) (\S+)[^>]*-->(.*?)<!-- /record -->", re.DOTALL)
_RECORD_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RECORD_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
# What a measurement looks like in prose. A version (2.13.0), a section number or a date has
# more than one dot or a hyphen and is not matched; a bare integer ("6 layers", "20 notes") is
# a count, not a measurement.
_MEASUREMENT = re.compile(
    r"(?<![\w.\-/])(?:"
    r"\d+(?:,\d{3})*(?:\.\d+)? ?(?:ms|s|min|h|GB|MB|KB|GiB|MiB|tokens/s|tok/s)\b"  # 43 s, 1,048 MB
    r"|\d+(?:[.,]\d+)? ?%"  # 90 %, 10%
    r"|\d+ of \d+"  # 52 of 86
    r"|\d*\.\d+(?!\w|\.\d)"  # 0.84, .901, 2.8 (not 2.13.0, nor a model size such as 1.5B)
    r")")


def with_section(text: str, name: str, body: str, kind: str = "bench") -> str:
    """`text` with `body` between its `<!-- KIND:NAME -->` markers, the section appended if absent."""
    start, end = f"<!-- {kind}:{name} -->", f"<!-- /{kind}:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    return pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"


def replace_section(path: Path, name: str, body: str, kind: str = "bench") -> None:
    """Rewrite a file's section (`with_section`); a missing file starts as "# Benchmarks"."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    path.write_text(with_section(text, name, body, kind), encoding="utf-8")


def publish(name: str, title: str, lines: Sequence[str], *, readme: bool = True) -> None:
    """Write a benchmark's result to its section of bench/results.md (under `title`) and,
    with `readme`, of the README; print it too."""
    body = "\n".join(lines)
    replace_section(RESULTS, name, f"## {title}\n\n{body}")
    if readme:
        replace_section(README, name, body)
    print(body)


def sections(text: str, kind: str = "bench") -> dict[str, str]:
    """The bodies of a text's `kind` sections by name."""
    return {m.group(2): m.group(3).strip() for m in _SECTION.finditer(text) if m.group(1) == kind}


def stale_copies(readme: str, results: str) -> list[str]:
    """README `bench:` sections that are not the body bench/results.md holds under that name."""
    published = {name: re.sub(r"^## [^\n]*\n+", "", body, count=1).strip()
                 for name, body in sections(results).items()}
    return [name for name, body in sections(readme).items() if published.get(name) != body]


@dataclass(frozen=True, slots=True)
class Typed:
    line: int
    number: str
    text: str  # the line it is on


def _blank(match: re.Match[str]) -> str:
    """The match's text with everything but newlines blanked, so line numbers stay true."""
    return re.sub(r"[^\n]", " ", match.group(0))


def hand_typed(text: str) -> list[Typed]:
    """Measurements typed into prose: outside generated sections, code and dated records.
    A record without a date and a commit does not count as one."""
    def record(match: re.Match[str]) -> str:
        dated = _RECORD_DATE.match(match.group(1)) and _RECORD_COMMIT.match(match.group(2))
        return _blank(match) if dated else match.group(0)

    prose = _SECTION.sub(_blank, text)
    prose = _RECORD.sub(record, prose)
    prose = _CODE.sub(_blank, prose)
    lines = text.splitlines()
    return [Typed(n, m.group(0), lines[n - 1].strip())
            for n, line in enumerate(prose.splitlines(), start=1)
            for m in _MEASUREMENT.finditer(line)]


def check(files: Sequence[Path] = CHECKED) -> list[str]:
    """Everything `gen_docs.py --check` reports about published numbers, as readable lines."""
    problems = [f"{README.relative_to(REPO_DIR)}: section bench:{name} differs from "
                f"{RESULTS.relative_to(REPO_DIR)} (rerun the script that publishes it; never edit one copy)"
                for name in stale_copies(README.read_text(encoding="utf-8"), RESULTS.read_text(encoding="utf-8"))]
    for path in files:
        for typed in hand_typed(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(REPO_DIR)}:{typed.line}: hand-typed measurement "
                            f"{typed.number!r} in: {typed.text[:120]}")
    return problems
