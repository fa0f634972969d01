"""The judge's training pairs: the rules that make them (no model needed)."""

from __future__ import annotations

import random

import pytest

from tutor.config import REPO_DIR
from tutor.judge_data import (
    HELD_OUT_NOTES,
    compressed,
    flip,
    leading_clause,
    learner_half,
    note_sections,
    pitfall,
)


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
