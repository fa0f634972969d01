"""The OpenAI-compatible client: any endpoint that speaks the chat API (OpenAI, vLLM, Ollama,
llama.cpp's server), with retries, timeouts and errors that say what to fix."""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tutor.config import Settings
from tutor.errors import LLMError

if TYPE_CHECKING:  # `openai` costs ~0.9 s to import: keep `tutor --help` fast
    import openai
    from openai.types.chat import ChatCompletion

from tutor.llm.base import Message, T

log = logging.getLogger(__name__)

# Connection setup is quick or never: a dead remote host should not hold the user for the
# full read timeout, which is sized for a slow CPU model's prefill.
_CONNECT_TIMEOUT_S = 10.0
_BACKOFF_BASE_S = 0.5
_BACKOFF_MAX_S = 8.0


class OpenAICompatibleLLM:
    """Any server that speaks the OpenAI chat API: OpenAI, vLLM, Ollama, llama.cpp, ..."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        temperature: float = 0.1,
        max_tokens: int = 400,
        seed: int | None = None,
        name: str | None = None,
        fix_hint: str | None = None,
    ) -> None:
        import openai

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max(0, max_retries)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.name = name or f"openai-compatible: {model} @ {self.base_url}"
        # What to tell the user when the endpoint is unreachable; the embedded server
        # replaces it, since TUTOR_LLM_BASE_URL is not what is wrong there.
        self._fix_hint = fix_hint or (
            "start that server or fix TUTOR_LLM_BASE_URL (unset it to use the embedded model)"
        )
        self._client = openai.OpenAI(
            base_url=self.base_url,
            # A proxy from HTTP(S)_PROXY can never reach this machine's own servers (the
            # embedded model, a local Ollama): talk to loopback directly.
            http_client=openai.DefaultHttpxClient(trust_env=False)
            if _is_loopback(base_url)
            else None,
            # Local servers ignore the key, but the client refuses to start without one.
            api_key=api_key or "not-needed",
            timeout=openai.Timeout(timeout_s, connect=min(timeout_s, _CONNECT_TIMEOUT_S)),
            # Our own retry loop instead of the client's: the client also retries timeouts,
            # which would turn a 120 s timeout into a 6-minute wait on a model that is
            # simply too slow. See `_retryable`.
            max_retries=0,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatibleLLM:
        if not settings.llm_base_url:
            raise LLMError("No LLM endpoint configured: set TUTOR_LLM_BASE_URL.")
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            seed=settings.llm_seed,
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        request = self._request(messages, max_tokens, temperature, json_schema)
        response = self._with_retries(
            lambda: self._client.chat.completions.create(**request, stream=False)
        )
        return self._text(response, request["max_tokens"])

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Generator[str, None, None]:
        import openai

        request = self._request(messages, max_tokens, temperature, json_schema)
        # Retries happen only before the first delta: after that, a retry would repeat
        # text the user has already seen.
        chunks = self._with_retries(
            lambda: self._client.chat.completions.create(**request, stream=True)
        )
        events = 0
        try:
            for chunk in chunks:
                events += 1
                if not chunk.choices:  # usage-only or keep-alive chunks
                    continue
                delta = chunk.choices[0].delta.content
                if delta:
                    yield delta
            if not events:
                # An HTML page or a plain JSON body holds no server-sent events, and the client
                # ends such a "stream" quietly: said here, or it would read as an empty answer.
                kind = chunks.response.headers.get("content-type", "no content type")
                raise self._bad_response(f"a body of type {kind} instead of a chat-completion stream")
        except openai.OpenAIError as exc:
            raise self._explain(exc) from exc
        except (json.JSONDecodeError, AttributeError, TypeError) as exc:
            raise self._bad_response(f"a malformed stream chunk ({exc})") from exc
        finally:
            # Closing the HTTP response is what tells the server to stop generating
            # when the caller abandons the stream.
            chunks.close()

    # -- internals ---------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        temperature: float | None,
        json_schema: dict[str, Any] | None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_tokens if max_tokens is not None else self.max_tokens,
            "temperature": temperature if temperature is not None else self.temperature,
        }
        if self.seed is not None:
            # Same question, same passages → same answer: evaluation runs and CI are
            # reproducible (llama.cpp, vLLM, Ollama and OpenAI all accept a seed).
            request["seed"] = self.seed
        if json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": json_schema, "strict": True},
            }
        return request

    def _with_retries(self, call: Callable[[], T]) -> T:
        import openai

        for attempt in range(self.max_retries + 1):
            try:
                return call()
            except openai.OpenAIError as exc:
                if attempt >= self.max_retries or not _retryable(exc):
                    raise self._explain(exc) from exc
                # Exponential backoff with jitter, so several clients that lost the same
                # server do not come back in lockstep.
                delay = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2**attempt)
                delay *= 0.5 + random.random() / 2
                log.warning(
                    "LLM at %s failed (%s); retry %d/%d in %.1f s",
                    self.base_url,
                    type(exc).__name__,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _text(self, response: ChatCompletion | Any, max_tokens: int) -> str:
        from openai.types.chat import ChatCompletion

        # A URL that is not an OpenAI API (a web page, a proxy's error page) still answers
        # 200: the client then hands back a str or a half-filled object.
        if not isinstance(response, ChatCompletion):
            raise self._bad_response(f"a {type(response).__name__} instead of a chat completion")
        if not response.choices:
            raise self._bad_response("a completion without choices")
        content = response.choices[0].message.content
        if content is None:
            raise self._bad_response("a completion without text")
        if response.choices[0].finish_reason == "length":
            log.info("LLM reply cut at max_tokens (%d)", max_tokens)
        return content

    def _bad_response(self, what: str) -> LLMError:
        return LLMError(
            f"The LLM at {self.base_url} sent {what}: check that TUTOR_LLM_BASE_URL points at "
            "an OpenAI-compatible API (its URL usually ends in /v1)."
        )

    def _explain(self, exc: Exception) -> LLMError:
        """One sentence for the user: what went wrong with which URL, and the fix."""
        import openai

        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(
                f"The LLM at {url} did not answer within {self.timeout_s:g} s: it is "
                "overloaded or too slow for this request; raise TUTOR_LLM_TIMEOUT_S, lower "
                "TUTOR_LLM_MAX_TOKENS, or use a faster endpoint."
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__ or exc
            return LLMError(f"Cannot reach the LLM at {url} ({short_error(cause)}): {self._fix_hint}.")
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return LLMError(
                f"The LLM at {url} refused the API key (HTTP {exc.status_code}): set "
                "TUTOR_LLM_API_KEY (or OPENAI_API_KEY) to a valid key."
            )
        if isinstance(exc, openai.NotFoundError):
            return LLMError(
                f"The LLM at {url} has no model '{self.model}' or no chat API there (HTTP 404): "
                f"set TUTOR_LLM_MODEL to a model it serves{self._served_models()} and check "
                "that TUTOR_LLM_BASE_URL ends in /v1."
            )
        if isinstance(exc, openai.RateLimitError):
            return LLMError(
                f"The LLM at {url} is rate-limiting us (HTTP 429): wait a moment, or raise "
                "TUTOR_LLM_MAX_RETRIES."
            )
        if isinstance(exc, openai.BadRequestError):
            return LLMError(
                f"The LLM at {url} rejected the request (HTTP 400: {_api_message(exc)}): if the "
                "prompt is too long, ask a shorter question or raise TUTOR_LLM_CTX."
            )
        if isinstance(exc, openai.APIStatusError):
            return LLMError(
                f"The LLM at {url} failed with HTTP {exc.status_code} ({_api_message(exc)}): "
                "check that server's log."
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return self._bad_response("a response that does not match the OpenAI API")
        return LLMError(f"The LLM at {url} failed: {short_error(exc)}.")

    def _served_models(self) -> str:
        """Best effort: name the models the endpoint does serve, to make the fix obvious."""
        import openai

        try:
            page = self._client.with_options(timeout=5.0).models.list()
            names = [m.id for m in page.data][:8]
        except (openai.OpenAIError, AttributeError, TypeError):
            return ""
        return f" (it serves: {', '.join(names)})" if names else ""


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return False  # too slow stays too slow: fail within the configured timeout
    if isinstance(exc, openai.APIConnectionError):
        return True  # refused / reset: the server may be restarting
    if isinstance(exc, openai.APIStatusError):
        # 5xx (llama.cpp answers 503 while loading) and 429 are transient; 4xx are not.
        return exc.status_code >= 500 or exc.status_code == 429
    return False


def short_error(exc: BaseException) -> str:
    """An exception as one short line for an error message (the embedded server uses it too)."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return short_error(Exception(inner["message"]))
    return short_error(exc)


