"""RAGAS metrics for one gold case: context precision / recall without an LLM, and the
LLM-judged answer metrics (faithfulness, answer relevancy, LLM context precision).

The judge is any OpenAI-compatible endpoint: the embedded llama.cpp server by default, a
stronger model when `TUTOR_JUDGE_BASE_URL` is set. Every judged number carries the judge's
id, so numbers from two judges are never compared with each other.

A metric that fails for a case (the judge timed out, sent JSON that does not fit, found no
statement to check) is a `Score` without a value and with the reason: never a default number.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tutor.bundled_models import LOCAL_LLM
from tutor.config import Settings
from tutor.records import Chunk

log = logging.getLogger(__name__)
T = TypeVar("T")

CONTEXT_METRICS = (
    "id_context_precision", "id_context_recall", "nonllm_context_precision", "nonllm_context_recall",
)
JUDGED_METRICS = ("faithfulness", "answer_relevancy", "llm_context_precision")


@dataclass(frozen=True, slots=True)
class Score:
    """One metric for one case: a value, or the reason there is none."""

    value: float | None
    note: str = ""

    @classmethod
    def missing(cls, reason: str) -> Score:
        return cls(None, reason)


def passage(chunk: Chunk) -> str:
    """A passage as the judge reads it: heading path, then text."""
    return f"({chunk.section}) {chunk.text}"


def context_scores(retrieved: Sequence[Chunk], reference: Sequence[Chunk]) -> dict[str, Score]:
    """RAGAS's non-LLM context metrics of the passages the LLM is given.

    ID-based: chunk ids against the ids of every indexed chunk of the reference sections.
    Non-LLM: each retrieved text against the reference texts by string similarity (RAGAS's
    Levenshtein-based default, threshold 0.5).
    """
    from ragas import SingleTurnSample

    with warnings.catch_warnings():
        # RAGAS 0.4.3 calls this import path deprecated and points at
        # `ragas.metrics.collections`, which has none of these four metrics yet.
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import (
            IDBasedContextPrecision,
            IDBasedContextRecall,
            NonLLMContextPrecisionWithReference,
            NonLLMContextRecall,
        )

    if not reference:
        return dict.fromkeys(CONTEXT_METRICS, Score.missing("no indexed chunk belongs to the reference passages"))
    if not retrieved:
        return dict.fromkeys(CONTEXT_METRICS, Score.missing("nothing was retrieved"))
    sample = SingleTurnSample(
        retrieved_context_ids=[c.id for c in retrieved],
        reference_context_ids=[c.id for c in reference],
        retrieved_contexts=[c.text for c in retrieved],
        reference_contexts=[c.text for c in reference],
    )
    metrics = {
        "id_context_precision": IDBasedContextPrecision(),
        "id_context_recall": IDBasedContextRecall(),
        "nonllm_context_precision": NonLLMContextPrecisionWithReference(),
        "nonllm_context_recall": NonLLMContextRecall(),
    }

    async def score_all() -> dict[str, Score]:
        return {name: _score(await m.single_turn_ascore(sample)) for name, m in metrics.items()}

    return _run_sync(score_all())


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run RAGAS's async scoring from synchronous code, also when the calling thread
    already runs an event loop (a Gradio handler, a notebook, Playwright's sync API in
    the same test process), where `asyncio.run` refuses."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _score(value: Any) -> Score:
    number = float(value)
    if math.isnan(number):
        return Score.missing("RAGAS returned NaN (the judge gave no statements or verdicts)")
    # RAGAS's average precision divides by (hits + 1e-10): 0.9999999999 means 1.
    return Score(round(number, 6))


@dataclass(frozen=True, slots=True)
class JudgeEndpoint:
    """Which model judges, and where it is served."""

    id: str  # stable identity: results of different ids are never compared
    name: str  # shown in reports
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)


def judge_endpoint(settings: Settings) -> JudgeEndpoint:
    """The configured judge; for the embedded default this starts the local server."""
    if settings.judge_base_url:
        model = settings.judge_model or settings.llm_model
        url = settings.judge_base_url.rstrip("/")
        return JudgeEndpoint(f"{model} @ {url}", f"openai-compatible: {model} @ {url}", url, model,
                             settings.judge_api_key)
    from tutor.llm import EmbeddedLLM

    llm = EmbeddedLLM(settings)
    return JudgeEndpoint(f"embedded/{LOCAL_LLM.file.removesuffix('.gguf')}", llm.name, llm.base_url,
                         settings.llm_model)


class RagasJudge:
    """RAGAS's LLM metrics against one judge endpoint."""

    def __init__(self, endpoint: JudgeEndpoint, settings: Settings,
                 metrics: Sequence[str] = JUDGED_METRICS) -> None:
        import instructor
        from openai import AsyncOpenAI
        from ragas.embeddings import HuggingFaceEmbeddings
        from ragas.llms.base import InstructorLLM, InstructorModelArgs
        from ragas.metrics.collections import AnswerRelevancy, ContextPrecision, Faithfulness

        self.endpoint = endpoint
        self.metrics = tuple(metrics)
        client = AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key or "not-needed",
                             timeout=settings.llm_timeout_s, max_retries=settings.llm_max_retries)
        # Not `ragas.llm_factory`: it asks OpenAI clients for `json_object` output, which
        # llama.cpp cannot hold to a schema, and a 1.5B model then invents keys. Instructor's
        # JSON_SCHEMA mode sends the response model's schema as `response_format:
        # json_schema`; llama.cpp compiles it into a grammar, so every reply parses.
        llm = InstructorLLM(
            client=instructor.from_openai(client, mode=instructor.Mode.JSON_SCHEMA),
            model=endpoint.model, provider="openai",
            model_args=InstructorModelArgs(temperature=0.0, max_tokens=settings.judge_max_tokens),
            # One retry: a judge that sent invalid output twice is reported, not retried
            # at ~10 s a call.
            max_retries=1,
        )
        self._faithfulness = Faithfulness(llm=llm)
        if "answer_relevancy" in self.metrics:  # the only metric that embeds (MiniLM, loaded here)
            embeddings = HuggingFaceEmbeddings(model=settings.embedder_path(), device="cpu",
                                               local_files_only=True)
            # strictness=1: at temperature 0 the judge writes the same question each time, so
            # RAGAS's default of 3 would triple the cost for an identical score.
            self._relevancy = AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=1)
        self._precision = ContextPrecision(llm=llm)

    def score(self, question: str, answer: str, contexts: Sequence[Chunk], reference: str) -> dict[str, Score]:
        texts = [passage(c) for c in contexts]
        # Coroutines are built only for the metrics asked for (an unawaited one would warn).
        make: dict[str, Callable[[], Awaitable[Any]]] = {
            "faithfulness": lambda: self._faithfulness.ascore(user_input=question, response=answer,
                                                              retrieved_contexts=texts),
            "answer_relevancy": lambda: self._relevancy.ascore(user_input=question, response=answer),
            "llm_context_precision": lambda: self._precision.ascore(
                user_input=question, reference=reference, retrieved_contexts=texts),
        }
        return _run_sync(_run_in_order({name: make[name]() for name in self.metrics}))


async def _run_in_order(calls: dict[str, Awaitable[Any]]) -> dict[str, Score]:
    # One after another within a case (cases run side by side, one per LLM slot:
    # evaluate._judge_all), so each metric's prompt prefix stays in the slot's prompt cache.
    scores = {}
    for name, call in calls.items():
        try:
            scores[name] = _score((await call).value)
        except Exception as exc:  # any judge failure becomes a reported reason, never a number
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            reason = f"{type(exc).__name__}: {first_line}"
            log.warning("judge failed on %s: %s", name, reason)
            scores[name] = Score.missing(f"judge failed ({reason})")
    return scores
