"""What every tab of the browser app does the same way: outside text shown as text, errors as
one line, the LLM's queue.

Outside text is anything a user, a document or the LLM supplies; it is escaped so Markdown
and HTML in it are shown, never rendered.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from tutor.config import Settings
from tutor.errors import TutorError

log = logging.getLogger(__name__)


def escape_markdown(text: str) -> str:
    """Show text exactly as typed: HTML escaped, Markdown syntax neutralised."""
    # Quotes stay as they are: they mean nothing to HTML text or Markdown, and an entity such
    # as &#x27; would have its '#' escaped below and show as typed ("what&#x27;s").
    escaped = html.escape(text, quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", escaped)


# A Markdown code span: a run of backticks, the shortest text after it, the same run again
# (CommonMark's rule, hand-written because only the spans' places are needed, not a parse).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def escape_html(text: str) -> str:
    """Model or note text for a Markdown message: HTML escaped, except inside code spans, which
    Markdown shows literally (there an entity shows as typed: "W&#x27; = W + B·A"). Quotes
    stay as they are: they mean nothing in HTML text."""
    out, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        out += [html.escape(text[last:span.start()], quote=False), span.group(0)]
        last = span.end()
    return "".join([*out, html.escape(text[last:], quote=False)])


def error_message(exc: Exception, doing: str) -> str:
    """One line for the user, never a traceback: a `TutorError` says what went wrong and the
    fix itself; anything else is a bug, logged with its traceback for us."""
    if isinstance(exc, TutorError):
        return f"⚠ {html.escape(str(exc))}"
    log.error("%s failed", doing, exc_info=exc)
    return f"⚠ Something went wrong while {doing}; the details are in the server log."


def llm_queue(settings: Settings) -> dict[str, Any]:
    """Event options for every handler that may ask the LLM: one queue shared by all of them,
    as many at once as the LLM has slots (TUTOR_LLM_PARALLEL). Without it each waiting
    request would sit inside the LLM server, invisible; in Gradio's queue a learner sees
    their place and an estimate."""
    return {"concurrency_limit": settings.llm_parallel, "concurrency_id": "llm"}
