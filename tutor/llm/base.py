"""What the tutor needs from a language model (the `LLM` protocol), its chat message shape,
and prompt files read as chat turns."""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from typing import Any, Protocol, TypedDict, TypeVar, runtime_checkable

T = TypeVar("T")


class Message(TypedDict):
    """One chat turn, exactly the OpenAI wire shape (so it goes to the client unchanged)."""

    role: str  # "system" | "user" | "assistant"
    content: str


@runtime_checkable
class LLM(Protocol):
    """What the rest of the tutor needs from a language model."""

    @property
    def name(self) -> str:
        """Human-readable backend description, shown in the UI and written with eval results."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        """The whole reply. With `json_schema`, the reply is JSON valid for that schema."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Generator[str, None, None]:
        """The reply as text deltas. `close()` it to stop the generation early."""
        ...


_EXAMPLE_HEADING = re.compile(r"^### Example (user|assistant)[ \t]*$", re.MULTILINE)


def prompt_messages(prompt: str) -> list[Message]:
    """A prompt file as chat messages: the text before the first `### Example user`
    heading is the system message; each `### Example user` / `### Example assistant`
    section becomes one few-shot turn.

    Why turns and not one system message: on an 11-question check with the 1.5B model, the
    same file sent as turns got 10/11 right (all 6 out-of-scope questions refused) against
    9/11 as one system message. A file without example headings is one system message.
    """
    parts = _EXAMPLE_HEADING.split(prompt)
    messages: list[Message] = [{"role": "system", "content": parts[0].strip()}]
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append({"role": role, "content": content.strip()})
    return messages

