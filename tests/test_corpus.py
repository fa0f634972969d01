"""The knowledge base: our own words, complete syllabus, valid question bank."""

from __future__ import annotations

import re

import pytest
import yaml
from overlap import shared_sequences, source_ngrams
from support import CORPUS, SOURCE_PAGES, needs_source_pages

from tutor.interview.knowledge import headings, load_questions, load_syllabus, load_training_queries
from tutor.store.documents import split_front_matter

NOTES = sorted(p for p in CORPUS.glob("*.md") if not p.name.startswith("SYLLABUS"))
OURS = [*NOTES, *sorted(CORPUS.glob("SYLLABUS*.md")), *sorted(CORPUS.glob("questions/*.yaml")),
        *sorted(CORPUS.glob("reranker-queries/*.jsonl"))]
TOPICS = {p.stem for p in NOTES}


@pytest.mark.parametrize("path", NOTES, ids=lambda p: p.name)
def test_note_has_front_matter_and_one_title(path) -> None:  # type: ignore[no-untyped-def]
    meta, body = split_front_matter(path.read_text(encoding="utf-8"))
    assert {"title", "topics", "level"} <= set(meta), f"{path.name}: front matter incomplete"
    assert meta["level"] in ("fundamental", "applied", "hard")
    titles = re.findall(r"^# (.+)$", body, re.MULTILINE)
    assert titles == [meta["title"]], f"{path.name}: exactly one '# ' title equal to title:"
    assert len(headings(CORPUS, path.name)) >= 6


def test_syllabus_rows_point_at_real_sections() -> None:
    rows = load_syllabus(CORPUS)
    assert len(rows) >= 150
    missing = [r for r in rows if r.section not in headings(CORPUS, r.file)]
    assert not missing, missing[:5]
    assert {r.file for r in rows} == {p.name for p in NOTES}, "every note file teaches syllabus concepts"


def test_question_bank_validates_and_covers_every_topic() -> None:
    questions = load_questions(CORPUS)
    assert len(questions) >= 80
    assert {q.topic for q in questions} == TOPICS
    assert {q.level for q in questions} == {"fundamental", "applied", "hard"}
    for q in questions:
        for kp in q.key_points:
            assert kp.source.section in headings(CORPUS, kp.source.file), (q.id, kp.source)


def test_bank_files_are_lists_of_questions() -> None:
    for path in CORPUS.glob("questions/*.yaml"):
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(rows, list) and all(r["topic"] == path.stem for r in rows), path.name


def test_training_queries_cite_real_sections() -> None:
    queries = list(load_training_queries(CORPUS))
    assert len(queries) >= 300
    bad = [q for q in queries if q.section not in headings(CORPUS, q.file)]
    assert not bad, bad[:5]


@needs_source_pages()
def test_no_ten_word_sequence_copied_from_the_source_pages() -> None:
    reference = source_ngrams(SOURCE_PAGES)
    copied = {p.name: hits for p in OURS if (hits := shared_sequences(p.read_text(encoding="utf-8"), reference))}
    assert not copied, copied
