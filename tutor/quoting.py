"""How a passage is quoted to a learner (the interview report, the grader's feedback, the
terminal's citations): one line of prose, cut at a word, never raw Markdown."""

from __future__ import annotations

import re

# A table row, with what sits outside its pipes: a quote around the passage, or the prose
# sentence the grader's span joined it to on one line.
_TABLE_ROW = re.compile(r"^(?P<before>[^|]*)\|(?P<cells>.*)\|(?P<after>[^|\w]*)$")
_RULE_CELL = re.compile(r"\s*:?-{3,}:?\s*")
_LINE_MARK = re.compile(r"^(?:#{1,6}|>|[-*+]|\d+[.)])\s+")  # a heading's, a quote's, a list item's
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def as_prose(text: str) -> str:
    """A passage as one line of prose: a table row becomes its cells joined by " · " and
    ended by ";" (rule rows go); heading, quote and list marks and bold markers go. The grader
    quotes passage sentences, and a sentence from a table is a row of it. Inline code keeps
    its text without the backticks: `B·A` reads as B·A in a quote."""
    lines = []
    for line in text.splitlines():
        line = _LINE_MARK.sub("", line.strip())
        if row := _TABLE_ROW.match(line):
            cells = row["cells"].split("|")
            shown = ("" if all(_RULE_CELL.fullmatch(c) for c in cells)
                     else " · ".join(c.strip() for c in cells if c.strip()) + ";")
            line = row["before"] + shown + row["after"]
        lines.append(line)
    prose = _CODE_SPAN.sub(r"\1", " ".join(" ".join(lines).split()).replace("**", ""))
    return re.sub(r";(\W*)$", r"\1", prose)  # no ";" after the last row


def clip(text: str, limit: int = 160) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters (with "…")."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
