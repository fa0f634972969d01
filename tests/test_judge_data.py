"""The judge's training pairs: the rules that make them (no model needed)."""

from __future__ import annotations

import random

import pytest
import yaml

from tutor.config import REPO_DIR
from tutor.interview.knowledge import KeyPoint, SourceRef, load_questions
from tutor.judge.claims import CLAIM_KINDS, claim_pairs, load_claims
from tutor.judge.data import (
    HELD_OUT_NOTES,
    compressed,
    leading_clause,
    learner_half,
    note_sections,
    pitfall,
    reserved_questions,
)
from tutor.judge.flips import flip
from tutor.judge.pairs import CONTRADICTS, ENTAILS, NEITHER


@pytest.mark.parametrize(("text", "expected"), [
    ("Warm-up increases the learning rate.", {"Warm-up decreases the learning rate.",
                                               "Warm-up reduces the learning rate."}),
    ("A model is trained on 300B tokens.", {"A model is trained on 600B tokens.",
                                            "A model is trained on 3000B tokens.",
                                            "A model is trained on 150B tokens.",
                                            "A model is trained on 301B tokens.",
                                            "A model is trained on 299B tokens.",
                                            "A model is not trained on 300B tokens.",
                                            "A model is frozen on 300B tokens."}),
    ("Keys are compared with queries.", {"Queries are compared with keys.",
                                         "Keys are not compared with queries."}),
])
def test_flips_reverse_the_claim(text: str, expected: set[str]) -> None:
    for seed in range(6):
        flipped = flip(text, random.Random(seed))
        assert flipped is not None and flipped[0] in expected, flipped


def test_a_flip_must_touch_what_the_evidence_is_about() -> None:
    # The evidence says nothing about grammars: negating that clause makes no contradiction.
    text = "Put the reasoning field first, and tight grammars can degrade content."
    rng = random.Random(0)
    assert flip(text, rng, about="Reasoning before the answer lets the model think.") is None


def test_clauses_and_compressions_keep_a_claim() -> None:
    assert leading_clause("Pre-training is a form of self-supervised learning: the labels come "
                          "from the text.") == "Pre-training is a form of self-supervised learning."
    assert leading_clause("If the loss spikes, lower the learning rate.") is None
    assert compressed("Llama 2 (2023) used about 2T tokens, such as web text and code, in "
                      "pre-training.") == "Llama 2 used about 2T tokens, in pre-training."


def test_pitfalls_become_a_misconception_and_its_correction() -> None:
    claim, fix = pitfall("**Pitfall:** Assuming greedy decoding avoids hallucination; a wrong "
                         "belief is emitted as reliably as a right one.")
    assert claim == "Greedy decoding avoids hallucination."
    assert fix.startswith("A wrong belief")
    assert pitfall("**Pitfall:** Quoting one speedup number without a batch size.") is None


def test_notes_read_as_whole_sentences_with_their_pitfalls() -> None:
    sections = note_sections(REPO_DIR / "corpus")
    assert len(sections) > 300
    assert sum(len(s.pitfalls) for s in sections) > 100
    sentences = [x for s in sections for x in s.sentences]
    # Hard-wrapped paragraphs are joined: no sentence ends mid-phrase at a line break.
    assert not any(x.endswith((" the", " of", " a")) for x in sentences)
    assert {s.note for s in sections} >= set(HELD_OUT_NOTES)


def test_the_dev_learners_split_into_training_and_tuning_halves() -> None:
    halves = {learner_half(f"rag-{n:03d}") for n in range(1, 12)}
    assert halves == {"train", "tune"}
    assert learner_half("rag-001") == learner_half("rag-001")


def test_written_claims_name_real_points_with_all_six_kinds() -> None:
    bank = {q.id: q for q in load_questions(REPO_DIR / "corpus")}
    claims = load_claims(REPO_DIR / "corpus")
    assert len(claims) > 500
    for point_id, written in claims.items():
        question_id, k = point_id.split("#")
        point = bank[question_id].key_points[int(k)].point
        assert sorted(kind for kind, _ in written) == sorted(CLAIM_KINDS), point_id
        # Our own wording: no claim restates its point (or a note) word for word.
        assert all(claim.strip().rstrip(".").lower() != point.rstrip(".").lower()
                   for _, claim in written), point_id


def test_written_claims_pair_with_their_point_both_ways() -> None:
    point = KeyPoint(point="Top-p keeps the smallest set of tokens whose probability reaches p.",
                     source=SourceRef(file="decoding-and-sampling.md", section="Top-p (nucleus) sampling"))
    pairs = list(claim_pairs(point, "The nucleus is the smallest prefix reaching mass p.", [
        ("part", "Top-p keeps a set of tokens."), ("misconception", "Top-p always keeps k tokens."),
        ("on-topic", "Top-k keeps a fixed number of tokens.")]))
    # A true part is entailed by the point and by its note, but does not state the point.
    assert [p.label for p in pairs if p.source == "claim-part"] == [NEITHER, ENTAILS]
    assert {p.label for p in pairs if p.source.startswith("claim-misconception")} == {CONTRADICTS}
    # A fact beside the point is never read against the note (the note may well state it).
    assert [p.premise for p in pairs if p.source == "claim-on-topic"] == [
        "Top-k keeps a fixed number of tokens.", point.point]
    assert len([p for p in pairs if p.source == "claim-part-note"]) == 1


def test_questions_that_measure_the_judge_get_no_written_claims() -> None:
    dev, test = REPO_DIR / "eval" / "interview_cases.yaml", REPO_DIR / "eval" / "interview_cases_test.yaml"
    reserved = reserved_questions(dev, test)
    rows = {f: yaml.safe_load(f.read_text())["cases"] for f in (dev, test)}
    assert {r["question"] for r in rows[test]} <= reserved
    for row in rows[dev]:
        measures = bool(row.get("held_out")) or learner_half(row["question"]) == "tune"
        assert (row["question"] in reserved) == measures, row["question"]
