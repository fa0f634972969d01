"""`tutor eval`: run the real pipeline over a gold set and measure it.

What runs for which case (the LLM is the expensive part: ~10-20 s an answer on 2 CPU cores):
- every case: retrieval in the configured mode (in every mode with `--ablation`), the
  deterministic retrieval metrics and RAGAS's non-LLM context metrics;
- every case that should be refused (out of scope, pure prompt injection): the full pipeline,
  which only calls the LLM when retrieval clears the relevance floor;
- a fixed, seeded sample of answerable cases (`--llm-cases`, `all` for every case): the full
  pipeline with the LLM, the citation checks and the judge's RAGAS metrics. Each case's
  record says whether it was in that sample.

The gold set's own corpus is ingested into a collection of its own (`tutor-eval-<set>`,
incremental), so documents a user added to their index never move the numbers.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tutor.config import REPO_DIR, RETRIEVAL_MODES, RetrievalMode, Settings
from tutor.errors import InputError
from tutor.evaluation.eval_metrics import summarize
from tutor.evaluation.eval_records import (
    EVAL_DIR,
    AnswerRecord,
    CaseResult,
    ModeResult,
    Run,
    Summary,
)
from tutor.evaluation.gold import (
    GoldCase,
    Passage,
    RetrievalScores,
    is_relevant,
    load_gold,
    mean_scores,
    score_case,
)
from tutor.evaluation.ragas_metrics import JUDGED_METRICS, RagasJudge, Score, context_scores
from tutor.records import Chunk, Hit

if TYPE_CHECKING:
    from tutor.answering.answer import Answer, Tutor
    from tutor.llm import LLM
    from tutor.retrieval.retrieve import Retriever
    from tutor.store.index import Index

log = logging.getLogger(__name__)

SOURCE_PAGES = REPO_DIR.parent / "shared" / "source-pages"
RANKED_K = 10  # hits kept per case: MRR@10 and recall@10 look this deep
_MARKER = re.compile(r"\s*\[\d+\]")
_SECRETS = ("qdrant_api_key", "llm_api_key", "judge_api_key")


@dataclass(frozen=True, slots=True)
class GoldSet:
    name: str
    file: Path
    corpus: Path  # the documents its reference passages come from


GOLD_SETS = {
    "gold": GoldSet("gold", EVAL_DIR / "gold.jsonl", REPO_DIR / "corpus"),
    "source-pages": GoldSet("source-pages", EVAL_DIR / "gold_source_pages.jsonl", SOURCE_PAGES),
}


EvalSplit = Literal["dev", "test", "all"]
SPLITS: tuple[EvalSplit, ...] = ("dev", "test", "all")


def case_split(case: GoldCase) -> str:
    """A case's split; gold written before the dev/test split counts as dev (tuned on)."""
    return str(getattr(case, "split", "dev"))


@dataclass(frozen=True, slots=True)
class EvalOptions:
    gold_set: str = "gold"
    split: EvalSplit = "all"  # dev: tune on it; test: never tuned on
    mode: RetrievalMode | None = None  # None = the configured mode
    ablation: bool = False
    llm_cases: int | None = 0  # answerable cases answered and judged; None = all of them
    run_name: str | None = None
    judged: tuple[str, ...] = JUDGED_METRICS  # the RAGAS LLM metrics to compute


# -- choosing the LLM sample ---------------------------------------------------------------

def llm_sample(cases: Sequence[GoldCase], n: int | None, seed: int) -> list[str]:
    """Ids of the answerable cases the LLM answers: `n` of them (None = all), at least one of
    each kind when `n` allows. Each case's rank is a hash of the seed and its id, so adding
    a case to the gold set never reshuffles the others."""
    answerable = [c for c in cases if c.reference_passages]
    if n is None or n >= len(answerable):
        return [c.id for c in answerable]
    ranked = sorted(answerable, key=lambda c: hashlib.sha256(f"{seed}:{c.id}".encode()).hexdigest())
    picked = list({c.kind: c for c in reversed(ranked)}.values())[:n]  # best-ranked of each kind
    picked += [c for c in ranked if c not in picked][: n - len(picked)]
    return sorted(c.id for c in picked)


# -- the run ----------------------------------------------------------------------------------

class Evaluation:
    """One run over one gold set. `run()` does the work; nothing is written here."""

    def __init__(self, settings: Settings, options: EvalOptions) -> None:
        if options.gold_set not in GOLD_SETS:
            raise InputError(f"Unknown gold set {options.gold_set!r}: choose one of {', '.join(GOLD_SETS)}.")
        self.gold = GOLD_SETS[options.gold_set]
        if not self.gold.corpus.is_dir():
            raise InputError(f"The {self.gold.name} gold set needs its documents at {self.gold.corpus}: "
                             "put them there, or evaluate another set (`--set gold`).")
        self.options = options
        # A collection of its own beside the user's (same data dir, so the same models).
        self.settings = settings.model_copy(update={
            "collection": f"{settings.collection}-eval-{self.gold.name}",
            "mode": options.mode or settings.mode,
        })
        self.cases = [c for c in load_gold(self.gold.file) if options.split in ("all", case_split(c))]
        if not self.cases:
            raise InputError(f"The {self.gold.name} gold set has no {options.split}-split case: "
                             "evaluate `--split all`, or mark cases with \"split\" in its file.")
        self.sample = set(llm_sample(self.cases, options.llm_cases, settings.eval_seed))
        self.run_name = options.run_name or default_run_name(self.gold.name)
        self.seconds: dict[str, float] = {}
        self.chunks: list[Chunk] = []  # the indexed corpus, read once the index is ready
        self._llm: LLM | None = None
        self._judge: RagasJudge | None = None

    @property
    def mode(self) -> RetrievalMode:
        return self.settings.mode

    def run(self) -> Run:
        from tutor.store.index import open_index

        started = time.perf_counter()
        stamp = datetime.now(UTC)
        index = open_index(self.settings, copy_if_locked=True)
        try:
            self._ingest(index)
            self.chunks = index.chunks()
            results = self._timed("retrieval", lambda: self._retrieve_all(index))
            self._timed("answers", lambda: self._answer_all(index, results))
            self._timed("judge", lambda: self._judge_all(results))
            whole_corpus = self._timed("whole_corpus", lambda: self._whole_corpus(index, results))
            config = self._config(index, stamp)
        finally:
            index.close()
        self.seconds["total"] = round(time.perf_counter() - started, 1)
        return Run(config, self._summary(results, stamp, whole_corpus), results)

    def _timed(self, phase: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        out = work()
        self.seconds[phase] = round(time.perf_counter() - started, 1)
        return out

    def _ingest(self, index: Index) -> None:
        from tutor.store.ingest import Ingestor

        report = self._timed("ingest", lambda: Ingestor(self.settings, index).run([self.gold.corpus]))
        log.info("%s", report.summary())
        if report.rejected:
            raise InputError(f"The {self.gold.name} corpus did not ingest cleanly: {report.summary()}")

    # -- retrieval, every case -------------------------------------------------------------
    def _retrieve_all(self, index: Index) -> list[CaseResult]:
        from tqdm import tqdm

        from tutor.retrieval.retrieve import Retriever

        retriever = Retriever(self.settings, index)
        modes = retriever.available_modes(self.cases[0].question) if self.options.ablation else {}
        return [self._retrieve(retriever, case, modes)
                for case in tqdm(self.cases, desc=f"Retrieval ({self.gold.name})", unit="case", mininterval=2)]

    def _retrieve(self, retriever: Retriever, case: GoldCase, modes: dict[RetrievalMode, str]) -> CaseResult:
        found = retriever.search(case.question, k=RANKED_K)
        passages = case.reference_passages
        contexts = [h.chunk for h in found.hits[: self.settings.answer_passages]]
        result = CaseResult(
            id=case.id, kind=case.kind, topic=case.topic, level=case.level, question=case.question,
            should_refuse=not passages,
            ranked=[h.chunk.id for h in found.hits],
            first_relevant=next((r for r, h in enumerate(found.hits, 1) if is_relevant(h, passages)), None),
            cleared_floor=found.relevant,
            retrieval=score_case(found.hits, passages) if passages else None,
            context=context_scores(contexts, self._reference_chunks(passages)) if passages else {},
            in_llm_sample=case.id in self.sample,
        )
        if passages:
            for mode, problem in modes.items():
                if problem:
                    continue
                hits = found.hits if mode == self.mode else retriever.search(case.question, mode=mode, k=RANKED_K).hits
                result.modes[mode] = score_case(hits, passages)
        return result

    def _reference_chunks(self, passages: Sequence[Passage]) -> list[Chunk]:
        return [c for c in self.chunks if is_relevant(Hit(c, 0.0), passages)]

    # -- the full pipeline --------------------------------------------------------------------
    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from tutor.llm import get_llm

            self._llm = get_llm(self.settings)
        return self._llm

    def _answer_all(self, index: Index, results: list[CaseResult]) -> None:
        from tqdm import tqdm

        from tutor.answering.answer import Tutor

        todo = [r for r in results if r.should_refuse or r.in_llm_sample]
        if not todo:
            return
        tutor = Tutor(self.settings, index=index, llm=self.llm)
        gold = {c.id: c for c in self.cases}
        for result in tqdm(todo, desc="Answers", unit="case", mininterval=2):
            result.pipeline = _ask(tutor, gold[result.id])

    def _judge_all(self, results: list[CaseResult]) -> None:
        from tqdm import tqdm

        todo = [r for r in results if r.in_llm_sample and r.pipeline and not r.pipeline.refused]
        if not todo:
            return
        gold = {c.id: c for c in self.cases}
        chunks = {c.id: c for c in self.chunks}
        for result in tqdm(todo, desc="Judge (RAGAS)", unit="case", mininterval=2):
            assert result.pipeline is not None
            result.pipeline.judged = self._judge_answer(gold[result.id], result.pipeline, chunks)

    def _judge_answer(self, case: GoldCase, record: AnswerRecord, chunks: dict[str, Chunk]) -> dict[str, Score]:
        if self._judge is None:
            from tutor.evaluation.ragas_metrics import judge_endpoint

            self._judge = RagasJudge(judge_endpoint(self.settings), self.settings, self.options.judged)
        text = _MARKER.sub("", record.answer).strip()
        return self._judge.score(case.question, text, [chunks[i] for i in record.context_ids],
                                 case.reference_answer)

    # -- whole corpus in the prompt ---------------------------------------------------------
    def _whole_corpus(self, index: Index, results: list[CaseResult]) -> str:
        """Answer the LLM sample with every chunk in the prompt instead of retrieval, when the
        corpus fits the LLM's context; otherwise say by how much it does not."""
        from tutor.answering.answer import Tutor
        from tutor.prompts import load_prompt
        from tutor.retrieval.models import load_embedder

        sampled = [r for r in results if r.in_llm_sample]
        if not sampled:
            return "not run: no LLM cases in this run"
        tokenizer = load_embedder(self.settings).tokenizer
        tokens = sum(len(tokenizer(c.text, add_special_tokens=False, verbose=False)["input_ids"]) for c in self.chunks)
        prompt = max(len(tokenizer(load_prompt(name), add_special_tokens=False, verbose=False)["input_ids"])
                     for name in ("answer", "answer_or_refuse"))
        room = self.settings.llm_ctx - self.settings.llm_max_tokens - prompt
        if tokens > room:
            return (f"not run: the corpus is ≈{tokens:,} tokens (MiniLM tokenizer) and the LLM's "
                    f"context (TUTOR_LLM_CTX={self.settings.llm_ctx:,}) leaves {max(room, 0):,} for passages")
        # Dense retrieval with k = every chunk returns the whole corpus (nearest first), and
        # the rest of the pipeline (prompt, citations, checks) stays exactly the tutor's.
        n = len(self.chunks)
        everything = self.settings.model_copy(update={
            "mode": "dense", "dense_k": n, "top_n": n, "answer_passages": n,
            "evidence_tokens": 0, "passage_chars": max(len(c.text) for c in self.chunks) + 200,
        })
        tutor = Tutor(everything, index=index, llm=self.llm)
        gold = {c.id: c for c in self.cases}
        chunks = {c.id: c for c in self.chunks}
        for result in sampled:
            record = _ask(tutor, gold[result.id])
            if not record.refused:
                record.judged = self._judge_answer(gold[result.id], record, chunks)
            result.whole_corpus = record
        return f"ran: ≈{tokens:,} corpus tokens in every prompt, {len(sampled)} cases"

    # -- summary and config --------------------------------------------------------------------
    def _summary(self, results: list[CaseResult], stamp: datetime, whole_corpus: str) -> Summary:
        answerable = [r for r in results if r.retrieval is not None]
        topics: dict[str, list[RetrievalScores]] = {}
        for r in answerable:
            assert r.retrieval is not None
            topics.setdefault(r.topic, []).append(r.retrieval)
        ablation = []
        if self.options.ablation:
            for mode in RETRIEVAL_MODES:
                rows = [r.modes[mode] for r in answerable if mode in r.modes]
                ablation.append(ModeResult(mode, mean_scores(rows), "") if rows
                                else ModeResult(mode, None, "not computed: this mode could not run"))
        judge = self._judge.endpoint if self._judge else None
        return Summary(
            run=self.run_name, gold_set=self.gold.name, mode=self.mode,
            started=stamp.strftime("%Y-%m-%d %H:%M UTC"), cases=len(results),
            llm_cases=sorted(self.sample), answer_backend=self._llm.name if self._llm else None,
            judge_id=judge.id if judge else None, judge_name=judge.name if judge else None,
            metrics=summarize(results, self.settings.eval_seed), ablation=ablation, whole_corpus=whole_corpus,
            per_topic={t: mean_scores(rows) for t, rows in sorted(topics.items())},
            seconds=self.seconds, split=self.options.split, judged=list(self.options.judged),
        )

    def _config(self, index: Index, stamp: datetime) -> dict[str, Any]:
        from importlib.metadata import version

        from tutor.prompts import prompt_versions

        settings = self.settings.model_dump(mode="json")
        for key in _SECRETS:
            settings[key] = "***" if settings.get(key) else None
        return {
            "started": stamp.isoformat(timespec="seconds"),
            "options": {"gold_set": self.gold.name, "split": self.options.split, "mode": self.mode,
                        "ablation": self.options.ablation, "llm_cases": self.options.llm_cases,
                        "judged": list(self.options.judged), "seed": self.settings.eval_seed},
            "settings": settings,
            "prompts": prompt_versions(),
            "gold_file": {"path": _shown(self.gold.file),
                          "sha256": hashlib.sha256(self.gold.file.read_bytes()).hexdigest()},
            "corpus": {d.doc: d.doc_hash for d in index.documents()},
            "judge": ({"id": self._judge.endpoint.id, "name": self._judge.endpoint.name}
                      if self._judge else None),
            "answer_backend": self._llm.name if self._llm else None,
            "versions": {p: version(p) for p in ("interview-tutor", "ragas", "sentence-transformers",
                                                 "qdrant-client", "openai")},
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": _cpu_count()},
        }


def _shown(path: Path) -> str:
    """Repository files by their repository path, so configs compare across checkouts."""
    return str(path.relative_to(REPO_DIR)) if path.is_relative_to(REPO_DIR) else str(path)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _ask(tutor: Tutor, case: GoldCase) -> AnswerRecord:
    started = time.perf_counter()
    answer = tutor.ask(case.question)
    return answer_record(answer, case.reference_passages, time.perf_counter() - started)


def answer_record(answer: Answer, passages: Sequence[Passage], seconds: float) -> AnswerRecord:
    """Check the shown citations independently of the parser that produced them: each must
    name the passage given as [n], and its span must be that passage's own text."""
    valid = relevant = 0
    for c in answer.citations:
        given = answer.contexts[c.n - 1] if 0 < c.n <= len(answer.contexts) else None
        if given is None or given.chunk.id != c.chunk_id:
            continue
        start, end = c.span
        if given.chunk.text[start:end] != c.span_text:
            continue
        valid += 1
        relevant += is_relevant(given, passages)
    return AnswerRecord(
        refused=answer.refused, llm_called="llm_ms" in answer.timings_ms, answer=answer.answer,
        context_ids=[h.chunk.id for h in answer.contexts],
        citations=[f"[{c.n}] {c.chunk_id}" for c in answer.citations],
        valid_citations=valid, relevant_citations=relevant,
        markers=len(_MARKER.findall(answer.answer)), dropped_citations=answer.dropped_citations,
        unsupported_sentences=answer.unsupported_sentences, seconds=round(seconds, 2),
        corrected_sentences=answer.corrected_sentences, refusal_reason=answer.refusal_reason,
    )


def default_run_name(gold_set: str) -> str:
    return f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{gold_set}"
