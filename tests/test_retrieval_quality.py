"""Retrieval checks the evaluation gate does not make: the question bank finds its sections,
off-topic questions look less relevant, and the pipeline works on documents we did not write.
Retrieval quality on the gold set is gated by `tutor eval --check` (eval/thresholds.toml),
which `make test` runs after this suite."""

from __future__ import annotations

import pytest
from support import SOURCE_PAGES, needs_source_pages

from tutor.config import REPO_DIR, Settings
from tutor.evaluation.gold import load_gold, mean_scores, score_case
from tutor.retrieval.retrieve import Retriever
from tutor.store.index import Index, open_index
from tutor.store.ingest import Ingestor

GOLD = load_gold(REPO_DIR / "eval" / "gold.jsonl")
ANSWERABLE = [g for g in GOLD if g.reference_passages]


@pytest.fixture(scope="module")
def retriever(corpus_index: Index, corpus_settings: Settings) -> Retriever:
    return Retriever(corpus_settings, corpus_index)


def test_gold_set_is_well_formed() -> None:
    kinds = {g.kind for g in GOLD}
    assert kinds == {"in_scope", "multi_section", "out_of_scope", "adversarial"}
    assert len(GOLD) >= 80 and len({g.id for g in GOLD}) == len(GOLD)


def test_question_bank_questions_find_their_cited_sections(retriever: Retriever) -> None:
    """The knowledge-base issue's check: each bank question retrieves a section it cites."""
    from tutor.evaluation.gold import Passage
    from tutor.interview.knowledge import load_questions

    questions = load_questions(REPO_DIR / "corpus")
    found = [
        score_case(retriever.search(q.question, k=5).hits,
                   [Passage(doc=k.source.file, section=k.source.section) for k in q.key_points]).hit_at_5
        for q in questions
    ]
    hit5 = sum(found) / len(found)
    print(f"\nquestion bank hit@5: {hit5:.3f} over {len(found)} questions")
    # Measured 0.966 over 145 questions (session 17); the margin is about four questions.
    assert hit5 >= 0.94


def test_out_of_scope_questions_look_less_relevant(retriever: Retriever) -> None:
    """The dense floor is only a cheap first filter (near-miss ML questions score like weak
    in-scope ones; the answer prompt's abstention is the second stage, measured end to end by
    `tutor eval`). Here: off-topic questions must look clearly less relevant on average."""
    def best_dense(question: str) -> float:
        # Dense mode's top hit is the best cosine over the whole index, with no reranking.
        return max((h.scores.dense or 0.0) for h in retriever.search(question, mode="dense", k=1).hits)

    off = [best_dense(g.question) for g in GOLD if g.kind == "out_of_scope"]
    on = [best_dense(g.question) for g in ANSWERABLE if g.kind == "in_scope"][:40]
    print(f"\nmean best dense cosine: out-of-scope {sum(off) / len(off):.3f}, in-scope {sum(on) / len(on):.3f}")
    # Measured: out-of-scope 0.354, in-scope 0.549 (session 17).
    assert sum(off) / len(off) < sum(on) / len(on) - 0.15


@needs_source_pages()
def test_pipeline_works_on_documents_we_did_not_write(tmp_path_factory: pytest.TempPathFactory) -> None:
    cases = load_gold(REPO_DIR / "eval" / "gold_source_pages.jsonl")
    settings = Settings(data_dir=tmp_path_factory.mktemp("pages"))
    index = open_index(settings)
    Ingestor(settings, index).run([SOURCE_PAGES], progress=False)
    retriever = Retriever(settings, index)
    scores = mean_scores([score_case(retriever.search(g.question, k=10).hits, g.reference_passages)
                          for g in cases])
    print(f"\nsource pages, default mode on {len(cases)} cases: {scores}")
    index.close()
    # Measured hit@5 0.95, MRR@10 0.869 on the 20 cases (session 17; nothing was tuned on
    # them). Margin: two cases missing from the top 5, about two first hits falling a rank.
    assert scores.hit_at_5 >= 0.85 and scores.mrr_at_10 >= 0.8
