"""The judge: does this evidence entail a claim, contradict it, or neither?

One small model of ours decides every semantic judgment made after retrieval: whether an
answer sentence is supported by a passage sentence (answers, citation spans), and whether a
learner's sentence states, partly states or contradicts a key point (grading). No NLI model
ships on any registry reachable here (MODELS.md), so it is a cross-encoder fine-tuned from
the bundled MiniLM on pairs built from our own notes (`tutor/judge/data.py`), committed in
`tutor/weights/judge` with the command and data hash that rebuild it (`tutor train-judge`).
Measurements: docs/judge.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tutor.config import REPO_DIR, SHIPPED_JUDGE, Settings, bundled_embedder_path
from tutor.errors import ModelError
from tutor.judge.data import HELD_OUT_NOTES, build_pairs, reserved_questions
from tutor.judge.pairs import CONTRADICTS, ENTAILS, NEITHER, data_hash
from tutor.retrieval.models import autocast_bf16

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

log = logging.getLogger(__name__)
_lock = threading.Lock()
# The labelled learners whose dev questions' training half adds pairs (judge_data.learner_half),
# and those written blind to the judge (their questions' written claims are never trained on).
LEARNER_CASES = REPO_DIR / "eval" / "interview_cases.yaml"
HELD_OUT_CASES = REPO_DIR / "eval" / "interview_cases_test.yaml"


@dataclass(frozen=True, slots=True)
class Judgment:
    """Probabilities that the evidence entails / contradicts / says nothing about the claim."""

    entails: float
    contradicts: float
    neither: float


class Judge:
    """Scores (evidence, claim) pairs in batches; thread-safe (the model is read-only)."""

    def __init__(self, model: CrossEncoder) -> None:
        self.model = model

    def judge(self, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        logits = np.asarray(self.model.predict(list(pairs), batch_size=32,
                                               show_progress_bar=False), dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return [Judgment(float(p[ENTAILS]), float(p[CONTRADICTS]), float(p[NEITHER])) for p in probs]


@cache
def _load(path: str, max_length: int, precision: str) -> Judge:
    from sentence_transformers import CrossEncoder

    log.info("loading judge from %s", path)
    model = CrossEncoder(path, device="cpu", max_length=max_length, local_files_only=True,
                         model_kwargs={"dtype": "float32"})
    autocast_bf16(model, precision)
    return Judge(model)


def load_judge(settings: Settings) -> Judge:
    path = Path(settings.judge_path())
    if not (path / "config.json").exists():
        raise ModelError(f"No judge model at {path}: point TUTOR_JUDGE_WEIGHTS at one, or rebuild "
                         "the shipped one with `tutor train-judge --output tutor/weights/judge`.")
    with _lock:  # two threads of the app must not load it twice
        return _load(str(path), settings.judge_max_length, settings.cross_encoder_precision)


def train(settings: Settings, output: Path, *, epochs: int = 1, seed: int = 13,
          device: str = "cpu", max_pairs: int | None = None) -> dict[str, Any]:
    """Build the pairs from the corpus, hold out `HELD_OUT_NOTES`, train, write `output`."""
    from tutor.judge.fit import fit
    from tutor.retrieval.models import load_embedder

    embedder = load_embedder(settings)

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(embedder.encode(list(texts), normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False))

    corpus = settings.corpus_dir
    pairs = build_pairs(corpus, seed, encode, learners=LEARNER_CASES,
                        reserved=reserved_questions(LEARNER_CASES, HELD_OUT_CASES))
    train_pairs = [p for p in pairs if p.note not in HELD_OUT_NOTES][:max_pairs]
    kept_out = [p for p in pairs if p.note in HELD_OUT_NOTES]
    # Measured apart: rule-made pairs test what the rules teach, written claims whether the
    # judge reads a claim in other words (docs/judge.md).
    held_out = {"rules": [p for p in kept_out if not p.source.startswith("claim-")],
                "claims": [p for p in kept_out if p.source.startswith("claim-")]}
    command = f"tutor train-judge --output {output} --epochs {epochs} --seed {seed}"
    manifest = {"command": command, "data_hash": data_hash(pairs),
                "corpus": str(corpus.relative_to(REPO_DIR) if corpus.is_relative_to(REPO_DIR) else corpus),
                "held_out_notes": list(HELD_OUT_NOTES), "held_out_pairs": len(kept_out)}
    return fit(train_pairs, str(bundled_embedder_path()), output, epochs=epochs, seed=seed,
               max_length=settings.judge_max_length, device=device, held_out=held_out,
               manifest=manifest)


__all__ = ["SHIPPED_JUDGE", "Judge", "Judgment", "load_judge", "train"]
