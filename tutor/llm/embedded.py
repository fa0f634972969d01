"""The embedded default: llama.cpp's own HTTP server (xllamacpp) on 127.0.0.1 serving the
bundled model, started on first use and shared by every caller in the process."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from tutor.bundled_models import LOCAL_LLM
from tutor.config import Settings
from tutor.errors import LLMError, ModelError
from tutor.llm.base import Message
from tutor.llm.bundle import ensure_model
from tutor.llm.client import OpenAICompatibleLLM, short_error

log = logging.getLogger(__name__)

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
        params.model_alias = {LOCAL_LLM.name}
        started = time.perf_counter()
        try:
            self._server: Any = xlc.Server(params)
        except Exception as exc:  # llama.cpp reports load failures as RuntimeError & co.
            raise ModelError(
                f"llama.cpp could not load {key.model_path} ({short_error(exc)}): delete that file "
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
            f"embedded: {LOCAL_LLM.name} Q4_K_M (llama.cpp, CPU, "
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
                    LOCAL_LLM.name,
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

