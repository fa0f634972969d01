"""What every tab of the browser app shows the same way: outside text as text, errors as
one line.

Outside text is anything a user, a document or the LLM supplies; it is escaped so Markdown
and HTML in it are shown, never rendered.
"""

from __future__ import annotations

import html
import logging
import re

from tutor.errors import TutorError

log = logging.getLogger(__name__)


def escape_markdown(text: str) -> str:
    """Show text exactly as typed: HTML escaped, Markdown syntax neutralised."""
    escaped = html.escape(text)
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", escaped)


def error_message(exc: Exception, doing: str) -> str:
    """One line for the user, never a traceback: a `TutorError` says what went wrong and the
    fix itself; anything else is a bug, logged with its traceback for us."""
    if isinstance(exc, TutorError):
        return f"⚠ {html.escape(str(exc))}"
    log.error("%s failed", doing, exc_info=exc)
    return f"⚠ Something went wrong while {doing}; the details are in the server log."
