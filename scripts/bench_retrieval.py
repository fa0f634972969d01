"""Retrieval benchmark (not a test): ingest time, per-mode latency, memory, scale, quality.

    .venv/bin/python scripts/bench_retrieval.py [--scale 10000 100000] [--local-mode-max 10000]

Both engines in one run: the embedded Qdrant Edge shard (the default) and qdrant-client's
local mode (the old default, and the server API's stand-in in tests; a real Qdrant server
cannot be installed here, so no server numbers). Local mode scores in Python and is only run
up to `--local-mode-max` chunks. Writes the "retrieval" section of bench/results.md and of
the README.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tutor  # noqa: F401
from tutor.config import REPO_DIR, Settings
from tutor.evaluation.benchmarks import machine, peak_rss_mb, percentile, stamp
from tutor.evaluation.gold import load_gold, mean_scores, score_case
from tutor.evaluation.published import publish
from tutor.interview.knowledge import load_questions
from tutor.records import Chunk
from tutor.retrieval.models import forget_vectors
from tutor.retrieval.retrieve import Retriever
from tutor.store.index import Index, ServerStore, open_index

GOLD = REPO_DIR / "eval" / "gold.jsonl"


def timed_cli(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(REPO_DIR / ".venv" / "bin" / "tutor"), *args], check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - started


def latency_table(retriever: Retriever, questions: list[str], modes: tuple[str, ...]) -> list[str]:
    """Per mode: end to end (question in, hits out) and the engine's search alone."""
    rows = []
    for mode in modes:
        for q in questions[:3]:  # warm-up: model loading is not query latency
            retriever.search(q, mode=mode)  # type: ignore[arg-type]
        took, search = [], []
        for q in questions:
            forget_vectors()  # every question timed as a new one, embedding included
            started = time.perf_counter()
            result = retriever.search(q, mode=mode)  # type: ignore[arg-type]
            took.append((time.perf_counter() - started) * 1000)
            search.append(result.timings_ms["search_ms"])
        rows.append(f"| {mode} | {len(took)} | {percentile(took, 50):.1f} | {percentile(took, 95):.1f} | "
                    f"{percentile(search, 50):.2f} | {percentile(search, 95):.2f} |")
    return rows


LATENCY_HEADER = ["| mode | n | end to end p50 | p95 | search only p50 | p95 |", "|---|---|---|---|---|---|"]


def open_engine(engine: str, settings: Settings) -> Index:
    if engine == "edge":
        return open_index(settings)
    from qdrant_client import QdrantClient

    return ServerStore(settings, QdrantClient(path=str(settings.data_dir / "local-mode")))


def disk_mb(folder: Path) -> float:
    """Space the files take (allocated blocks: Edge's files are sparse, 32 MB apparent each)."""
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) / 1e6


def synthetic_index(texts: list[str], bm25_avg_len: float, vectors: np.ndarray, settings: Settings,
                    size: int, engine: str) -> tuple[Index, float]:
    """`size` chunks made by recombining the sentences of real corpus chunks (`texts`); dense
    vectors are real chunk embeddings plus noise (embedding 100k passages on 2 cores would
    take hours and would not change how Qdrant searches)."""
    rng = random.Random(7)
    sentences = [s for text in texts for s in text.split(". ") if len(s) > 30]
    index = open_engine(engine, settings)
    index.create(vectors.shape[1], bm25_avg_len, settings.embedder_path())
    bm25 = index.bm25()
    noise = np.random.default_rng(7)
    started = time.perf_counter()
    for start in range(0, size, 2000):
        batch = []
        for i in range(start, min(size, start + 2000)):
            text = ". ".join(rng.sample(sentences, 6))
            batch.append(Chunk(f"synthetic/{i // 50}.md#{i % 50:03d}", f"synthetic/{i // 50}.md",
                               "Synthetic", "Synthetic > Part", text, ""))
        picks = noise.integers(0, len(vectors), len(batch))
        dense = vectors[picks] + noise.normal(0, 0.05, (len(batch), vectors.shape[1]))
        dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        index.upsert(batch, dense.tolist(), bm25.documents(c.text for c in batch), {"doc_hash": "x"})
    return index, time.perf_counter() - started


def scale_run(work: Path, engine: str, size: int) -> list[str]:
    """One engine at one size, in a child process (`--child`); its report lines."""
    done = subprocess.run([sys.executable, __file__, "--child", engine, str(size), str(work)],
                          check=True, capture_output=True, text=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def child(engine: str, size: int, work: Path) -> None:
    """Build `size` synthetic chunks on `engine`, reopen, time the queries; print the lines."""
    given = json.loads((work / "scale.json").read_text())
    settings = Settings(data_dir=work / f"{engine}-{size}", reranker_model=given["reranker"])
    kind = engine.split()[0]  # "edge" or "local"
    big, upsert_s = synthetic_index(given["texts"], given["bm25_avg_len"], np.load(work / "vectors.npy"),
                                    settings, size, kind)
    big.close()
    started = time.perf_counter()
    big = open_engine(kind, settings)
    reopen_s = time.perf_counter() - started
    table = latency_table(Retriever(settings, big), given["questions"], tuple(given["modes"]))
    big.close()
    lines = [f"**{engine}, {size:,} chunks**: upsert {upsert_s:.1f} s, reopen {reopen_s:.2f} s, "
             f"{disk_mb(settings.data_dir):.0f} MB on disk, peak RSS {peak_rss_mb():.0f} MB",
             "", *LATENCY_HEADER, *table, ""]
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    print(json.dumps(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--local-mode-max", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "SIZE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), Path(args.child[2]))
        return

    work = Path(tempfile.mkdtemp(prefix="tutor-bench-"))
    lines = [f"Measured {stamp()} on {machine()}; load average at start {os.getloadavg()[0]:.1f}.", ""]
    try:
        data = work / "data"
        cold = timed_cli("--data-dir", str(data), "ingest")
        unchanged = timed_cli("--data-dir", str(data), "ingest")
        ingest_rss = peak_rss_mb(children=True)
        settings = Settings(data_dir=data)
        index = open_index(settings)
        n_chunks = index.count()
        lines += [
            "### Ingest of `corpus/` into Qdrant Edge (the `tutor ingest` command, wall clock incl. start-up)",
            "",
            "| run | seconds | chunks |", "|---|---|---|",
            f"| cold (empty index, models loaded) | {cold:.1f} | {n_chunks} |",
            f"| nothing changed | {unchanged:.1f} | 0 written |",
            "",
        ]
        bank = [q.question for q in load_questions(settings.corpus_dir)]
        gold = load_gold(GOLD) if GOLD.exists() else []
        questions = (bank + [g.question for g in gold])[: args.queries]
        retriever = Retriever(settings, index)
        availability = retriever.available_modes(questions[0])
        modes = tuple(mode for mode, why in availability.items() if not why)
        skipped = [f"{mode}: {why}" for mode, why in availability.items() if why]
        lines += [
            f"### Query latency, {n_chunks}-chunk index on Qdrant Edge (ms, warm, {len(questions)} questions)",
            "", *LATENCY_HEADER,
            *latency_table(retriever, questions, modes), "", *skipped, "",
        ]
        if gold:
            in_scope = [g for g in gold if g.reference_passages]
            lines += [f"### Retrieval quality on `eval/gold.jsonl` ({len(in_scope)} answerable cases)", "",
                      "| mode | hit@1 | hit@5 | MRR@10 | precision@5 | recall@10 |", "|---|---|---|---|---|---|"]
            for mode in modes:
                m = mean_scores([score_case(retriever.search(g.question, mode=mode, k=10).hits,
                                            g.reference_passages) for g in in_scope])
                lines.append(f"| {mode} | {m.hit_at_1:.3f} | {m.hit_at_5:.3f} | {m.mrr_at_10:.3f} | "
                             f"{m.precision_at_5:.3f} | {m.recall_at_10:.3f} |")
            lines.append("")
        lines += [f"### Scale: synthetic chunks, engine by engine ({min(20, len(questions))} questions, ms, warm)",
                  "", "Each size is built and queried in a process of its own (the models and that "
                  "index only), so its peak RSS is what a tutor process serving that many chunks takes.", ""]
        from tutor.retrieval.models import load_embedder

        texts = [c.text for c in index.chunks()]
        np.save(work / "vectors.npy", load_embedder(settings).encode(texts, normalize_embeddings=True))
        (work / "scale.json").write_text(json.dumps({
            "texts": texts, "bm25_avg_len": float(index.metadata()["bm25_avg_len"]),
            "questions": questions[:20], "modes": modes, "reranker": settings.reranker_path()}))
        rss_main = peak_rss_mb()
        index.close()
        for engine in ("edge", "local mode"):
            for size in args.scale:
                if engine != "local mode" or size <= args.local_mode_max:
                    lines += scale_run(work, engine, size)
        lines += [
            f"Peak RSS of the benchmark's main process (models, the corpus index, the gold runs): "
            f"{rss_main:.0f} MB; `tutor ingest` {ingest_rss:.0f} MB.", "",
            "Local mode at 100,000 chunks (measured 2026-12-06 04:03 before Edge was the default): "
            "upsert 208 s, reopen 30.3 s, hybrid p50 14.8 s, 6.6 GB RSS.",
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    publish("retrieval", "Retrieval", lines)


if __name__ == "__main__":
    main()
