"""Retrieval on both real Qdrant engines with the real models: canonical scores, fusion, modes."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from tutor.config import SHIPPED_RERANKER, RetrievalMode, Settings
from tutor.errors import IndexMissingError, InputError
from tutor.judge.model import load_judge
from tutor.records import Chunk, Hit
from tutor.retrieval.models import load_embedder, load_reranker
from tutor.retrieval.retrieve import Retriever, rerank_scores
from tutor.store.index import Index, ServerStore, open_index
from tutor.store.ingest import Ingestor

DOCS = {
    "kv.md": "# KV cache\n\n## What it stores\n\nThe KV cache keeps the keys and values of earlier "
             "tokens so decoding does not recompute them for every new token.\n",
    "rope.md": "# RoPE\n\n## Rotations\n\nRotary position embeddings rotate query and key vectors "
               "by an angle that grows with the token position.\n",
    "lora.md": "# LoRA\n\n## Low rank\n\nLoRA freezes the pretrained weights and learns a low-rank "
               "update B times A, so few parameters are trained.\n",
    "moe.md": "# Mixture of experts\n\n## Routing\n\nA router picks the top two experts for each "
              "token, so only a fraction of the weights run per token.\n",
}


@pytest.fixture(params=["edge", "server"])
def small_index(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Index:
    """Both engines: the embedded Edge shard, and the server API (qdrant-client's local mode
    standing in for a Qdrant server, which cannot be installed here)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    if request.param == "edge":
        index: Index = open_index(settings)
    else:
        from qdrant_client import QdrantClient

        index = ServerStore(settings, QdrantClient(path=str(tmp_path / "local-mode")))
    Ingestor(settings, index).run([folder], progress=False)
    yield index
    index.close()


def test_embedder_canonical_score(settings: Settings) -> None:
    model = load_embedder(settings)
    a, b = model.encode(
        ["What does the KV cache store?", "The KV cache keeps keys and values of past tokens."],
        normalize_embeddings=True,
    )
    assert model.get_embedding_dimension() == 384
    assert float(a @ b) == pytest.approx(0.7401, abs=2e-3)


def test_bm25_scores_equal_the_bm25_formula(small_index: Index, settings: Settings) -> None:
    """Qdrant (IDF modifier) × Qdrant's BM25 encoder must give textbook BM25 scores."""
    retriever = Retriever(settings, small_index)
    hits = retriever.search("keys values cache tokens", mode="bm25", k=4).hits
    bm25 = small_index.bm25()
    chunks = small_index.chunks()
    doc_vectors = {c.id: bm25.documents([c.text])[0] for c in chunks}
    query = bm25.query("keys values cache tokens")
    n_docs = len(chunks)

    def idf(term: int) -> float:
        df = sum(term in v.indices for v in doc_vectors.values())
        return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))

    for hit in hits:
        vec = doc_vectors[hit.chunk.id]
        tf_part = dict(zip(vec.indices, vec.values, strict=True))
        expected = sum(idf(t) * tf_part.get(t, 0.0) for t in query.indices)
        assert hit.scores.bm25 == pytest.approx(expected, rel=1e-4)
    assert hits[0].chunk.doc == "docs/kv.md"
    assert hits[0].score == pytest.approx(3.7015, abs=2e-3)  # canonical value


def test_rrf_fusion_equals_qdrant(small_index: Index, settings: Settings) -> None:
    """Weighted reciprocal-rank fusion by hand equals Qdrant's: each list adds
    1 / ((rank + 1) / weight + k - 1), rank counted from 0. With weight 1 that is the classic
    1 / (k + rank) (so Qdrant's k = 61 is the RRF paper's 60); a weight below 1 stretches that
    list's ranks, as if each of its hits sat further down."""
    retriever = Retriever(settings, small_index)
    question = "which tokens does the router send to experts"
    dense = [h.chunk.id for h in retriever.search(question, mode="dense", k=30).hits]
    sparse = [h.chunk.id for h in retriever.search(question, mode="bm25", k=30).hits]
    fused = retriever.search(question, mode="hybrid", k=4).hits
    k = settings.rrf_k
    assert settings.dense_weight != settings.bm25_weight  # the weights are exercised, not just k
    for hit in fused:
        expected = sum(1 / ((ranks.index(hit.chunk.id) + 1) / weight + k - 1)
                       for ranks, weight in ((dense, settings.dense_weight), (sparse, settings.bm25_weight))
                       if hit.chunk.id in ranks)
        assert hit.scores.fused == pytest.approx(expected, abs=1e-6)
        assert hit.scores.dense is not None
    assert [h.scores.fused for h in fused] == sorted((h.scores.fused for h in fused), reverse=True)
    assert fused[0].chunk.doc == "docs/moe.md"


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory: pytest.TempPathFactory, corpus_index: Index, corpus_settings: Settings) -> str:
    """A real cross-encoder, trained by our own training code on a small seeded sample of the
    corpus questions: it proves the training and reranking path, not ranking quality (that
    is measured by the evaluation's ablation)."""
    from tutor.reranker.data import train

    out = tmp_path_factory.mktemp("reranker") / "model"
    train(corpus_settings, output=out, layers=1, max_queries=24, index=corpus_index)
    return str(out)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "hybrid+rerank"])
def test_every_mode_returns_scored_hits(small_index: Index, settings: Settings, mode: str) -> None:
    result = Retriever(settings, small_index).search("low-rank update of frozen weights", mode=mode, k=2)
    assert len(result.hits) == 2
    if mode != "hybrid+rerank":
        assert result.hits[0].chunk.doc == "docs/lora.md"
    # A passage missing from one retriever's own list has no score from it: look across hits.
    assert any(h.scores.bm25 is not None for h in result.hits) == (mode != "dense")
    assert any(h.scores.dense is not None for h in result.hits) == (mode != "bm25")
    assert all((h.scores.rerank is not None) == (mode == "hybrid+rerank") for h in result.hits)
    assert result.timings_ms["search_ms"] > 0


KV = Chunk("a", "kv.md", "KV cache", "KV cache", "The KV cache keeps the keys and values of "
           "earlier tokens so decoding does not recompute them.", "h")
MOE = Chunk("b", "moe.md", "MoE", "Routing", "A router picks the top two experts for each "
            "token, so only a fraction of the weights run per token.", "h")


def test_shipped_reranker_canonical_scores(settings: Settings) -> None:
    """The committed cross-encoder loads from the package and gives its known scores."""
    assert Path(settings.reranker_path()) == SHIPPED_RERANKER
    exact = settings.model_copy(update={"cross_encoder_precision": "float32"})
    scores = rerank_scores(load_reranker(exact), "What does the KV cache store?", [KV, MOE])
    assert scores == pytest.approx([0.0902, 0.0210], abs=2e-3)


def test_bfloat16_cross_encoders_keep_the_float32_scores(settings: Settings) -> None:
    """Where the CPU computes bfloat16 natively, the reranker and the judge run in it by
    default (1.5x faster): scores and judgments stay those of float32 (emulated here if not
    native, which is slower but computes the same)."""
    exact, fast = (settings.model_copy(update={"cross_encoder_precision": p})
                   for p in ("float32", "bfloat16"))
    question = "What does the KV cache store?"
    assert rerank_scores(load_reranker(fast), question, [KV, MOE]) == pytest.approx(
        rerank_scores(load_reranker(exact), question, [KV, MOE]), abs=5e-3)
    pairs = [(KV.text, "Decoding reuses the stored keys and values of earlier tokens."),
             (KV.text, "The KV cache stores the queries of earlier tokens."),
             (KV.text, "A router picks two experts per token.")]
    for a, b in zip(load_judge(exact).judge(pairs), load_judge(fast).judge(pairs), strict=True):
        assert (a.entails, a.contradicts, a.neither) == pytest.approx(
            (b.entails, b.contradicts, b.neither), abs=0.02)


def test_rerank_votes_with_bm25_and_dense(small_index: Index, settings: Settings) -> None:
    """hybrid+rerank: a weighted RRF of the BM25, dense and reranker orders of the fused
    candidates, with the fusion's weights and k."""
    question = "How does rotary position encoding work?"

    def search(mode: RetrievalMode, weight: float = 1.0) -> list[Hit]:
        tuned = settings.model_copy(update={"rerank_weight": weight})
        return Retriever(tuned, small_index).search(question, mode=mode, k=4).hits

    def ranks(hits: list[Hit], score_of: Callable[[Hit], float | None]) -> dict[str, int]:
        scored = sorted((h for h in hits if score_of(h) is not None), key=lambda h: score_of(h) or 0.0,
                        reverse=True)
        return {h.chunk.id: rank for rank, h in enumerate(scored, 1)}

    voted = search("hybrid+rerank")
    assert all(h.scores.fused is not None and h.scores.rerank is not None for h in voted)
    assert all(0.0 <= (h.scores.rerank or 0.0) <= 1.0 for h in voted)
    everyone = Retriever(settings.model_copy(update={"top_n": settings.rerank_k}), small_index).search(
        question, mode="hybrid+rerank").hits  # the full candidate list the votes ranked
    k = settings.rrf_k
    lists = [(settings.bm25_weight, ranks(everyone, lambda h: h.scores.bm25)),
             (settings.dense_weight, ranks(everyone, lambda h: h.scores.dense)),
             (settings.rerank_weight, ranks(everyone, lambda h: h.scores.rerank))]
    assert all(lists[2][1])  # the reranker scored every candidate
    for hit in voted:
        expected = sum(w / (k + r[hit.chunk.id]) for w, r in lists if hit.chunk.id in r)
        assert hit.score == pytest.approx(expected)
    assert [h.score for h in voted] == sorted((h.score for h in voted), reverse=True)
    for hit in search("hybrid+rerank", weight=0.0):  # weight 0: BM25 and dense alone vote
        assert hit.score == pytest.approx(sum(w / (k + r[hit.chunk.id]) for w, r in lists[:2] if hit.chunk.id in r))


def test_only_the_fused_head_is_reranked(small_index: Index, settings: Settings) -> None:
    """The reranker reads the fused top rerank_k; the rest follow in fused order, unscored, so
    a longer list extends a shorter one (an answer reads the passages the evaluation scores)."""
    question = "How does rotary position encoding work?"
    two = Retriever(settings.model_copy(update={"rerank_k": 2}), small_index)
    fused = [h.chunk.id for h in two.search(question, mode="hybrid", k=4).hits]
    hits = two.search(question, k=4).hits
    assert len(fused) == len(hits) == 4
    assert [h.scores.rerank is not None for h in hits] == [True, True, False, False]
    ids = [h.chunk.id for h in hits]
    assert set(ids[:2]) == set(fused[:2]) and ids[2:] == fused[2:]
    for k in (1, 2, 3):
        assert [h.chunk.id for h in two.search(question, k=k).hits] == ids[:k]


def test_training_writes_a_manifest(tiny_reranker: str) -> None:
    import json

    manifest = json.loads((Path(tiny_reranker) / "training.json").read_text())
    assert manifest["layers"] == 1 and manifest["groups"] > 0 and manifest["seed"] == 13
    assert manifest["list"] == 8 and len(manifest["per_epoch"]) == manifest["epochs"] == 1
    assert 0.0 < manifest["final_loss"] < 5.0


def test_a_reranker_trained_here_replaces_the_shipped_one(settings: Settings, tiny_reranker: str) -> None:
    import shutil

    shutil.copytree(tiny_reranker, settings.trained_reranker_dir)
    assert settings.reranker_path() == str(settings.trained_reranker_dir)


def test_training_groups_hold_out_what_they_measure_on(corpus_index: Index, corpus_settings: Settings) -> None:
    from tutor.reranker.data import NEGATIVES, training_groups

    groups, cases = training_groups(corpus_settings, 13, corpus_index, max_queries=20, held_out=5)
    assert len(cases) == 5 and len(groups) >= 20
    assert not {c.query for c in cases} & {g.query for g in groups}
    for group in groups:
        assert len(group.negatives) == NEGATIVES and group.positive not in group.negatives
    for case in cases:  # the fused top list, with the question's own section among it
        assert len(case.candidates) == corpus_settings.fused_k == len(case.relevant)
    assert sum(any(c.relevant) for c in cases) >= 4


def test_fitting_groups_without_enough_negatives_says_so(tmp_path: Path) -> None:
    from tutor.config import bundled_embedder_path
    from tutor.reranker.fit import Group, fit

    short = [Group("what is rope?", "RoPE rotates queries and keys.", ("KV caches store keys.",))]
    with pytest.raises(ValueError, match="None of the 1 training groups has 7 negatives"):
        fit(short, str(bundled_embedder_path()), tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_training_on_too_small_a_corpus_says_so(small_index: Index, settings: Settings) -> None:
    from tutor.reranker.data import training_groups

    # Four chunks cannot give a question seven passages that do not answer it.
    with pytest.raises(InputError, match="4 chunks, too few to train a reranker"):
        training_groups(settings, 13, small_index)


def test_training_data_round_trips_through_files(tmp_path: Path) -> None:
    from tutor.reranker.fit import Case, Group, read_cases, read_groups, write_jsonl

    groups = [Group("what is rope?", "Rotary embeddings rotate queries and keys.", ("Cooking pasta.", "Ünïcode."))]
    cases = [Case("what is rope?", ("a", "b"), (False, True))]
    write_jsonl(groups, tmp_path / "g.jsonl.xz")
    write_jsonl(cases, tmp_path / "c.jsonl.xz")
    assert read_groups(tmp_path / "g.jsonl.xz") == groups and read_cases(tmp_path / "c.jsonl.xz") == cases


def test_cloze_queries_ask_a_chunk_about_its_own_sentence(corpus_index: Index) -> None:
    import random

    from tutor.reranker.data import CLOZE_KEEP, _cloze_queries, _section_key

    chunks = corpus_index.chunks()
    queries = _cloze_queries(chunks, random.Random(13), 1)
    assert len(queries) > 0.9 * len(chunks)  # nearly every chunk has a full sentence
    by_section = {_section_key(c) for c in chunks}
    kept = 0
    for query in queries:
        (section,) = query.sections
        assert section in by_section and query.same_doc_negatives and query.positive
        assert len(query.text.split()) >= 8
        kept += query.text in query.positive
    assert kept / len(queries) == pytest.approx(CLOZE_KEEP, abs=0.05)  # mostly taken out
    assert queries == _cloze_queries(chunks, random.Random(13), 1)  # seeded
    assert len(_cloze_queries(chunks, random.Random(13), None)) > 3 * len(queries)  # every sentence


def test_missing_reranker_says_how_to_fix(small_index: Index, settings: Settings, tmp_path: Path) -> None:
    from tutor.errors import ModelError

    settings = settings.model_copy(update={"reranker_model": str(tmp_path / "no-such-model")})
    with pytest.raises(ModelError, match="TUTOR_RERANKER_MODEL at a CrossEncoder folder"):
        Retriever(settings, small_index).search("rope", mode="hybrid+rerank")


def test_off_topic_question_falls_below_the_floor(small_index: Index, settings: Settings) -> None:
    result = Retriever(settings, small_index).search("What is the capital of Australia?")
    assert not result.relevant
    assert Retriever(settings, small_index).search("How does rotary position encoding work?").relevant


def test_stopword_only_question_still_answers(small_index: Index, settings: Settings) -> None:
    result = Retriever(settings, small_index).search("what is it and how does it", mode="hybrid")
    assert result.hits  # BM25 has no terms; the dense half still retrieves


@pytest.mark.parametrize(("question", "message"), [("   ", "empty"), ("x" * 4001, "limit is 4,000")])
def test_bad_questions(small_index: Index, settings: Settings, question: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Retriever(settings, small_index).search(question)


def test_missing_index_says_how_to_fix(settings: Settings) -> None:
    index = open_index(settings)
    with pytest.raises(IndexMissingError, match="run `tutor ingest`"):
        Retriever(settings, index)
    index.close()
