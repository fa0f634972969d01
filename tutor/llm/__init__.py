"""The one door to a language model: any OpenAI-compatible endpoint, or the embedded default.

Both backends speak the OpenAI chat API through the `openai` client. The embedded default is
llama.cpp's own HTTP server (xllamacpp) on 127.0.0.1 serving the bundled
Qwen2.5-Coder-1.5B-Instruct, so everything above this module (citations, grading, RAGAS)
sees the same behaviour, the same errors and the same streaming whichever backend runs.
"""

from __future__ import annotations

from tutor.config import Settings
from tutor.llm.base import LLM, Message, prompt_messages
from tutor.llm.bundle import ensure_model
from tutor.llm.client import OpenAICompatibleLLM
from tutor.llm.embedded import EmbeddedLLM, shutdown_embedded


def get_llm(settings: Settings) -> LLM:
    """The configured backend: the endpoint at `llm_base_url` if set, else the embedded model."""
    if settings.llm_base_url:
        return OpenAICompatibleLLM.from_settings(settings)
    return EmbeddedLLM(settings)

__all__ = ["LLM", "EmbeddedLLM", "Message",
           "OpenAICompatibleLLM", "ensure_model", "get_llm", "prompt_messages", "shutdown_embedded"]
