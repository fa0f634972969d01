"""A training pair for the judge and its labels: what the notes' rules (`judge_data`) and the
written claims (`judge_claims`) both produce, and the hash that names a training set."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

LABELS = ("entails", "contradicts", "neither")
ENTAILS, CONTRADICTS, NEITHER = range(3)
# A key point counts as stated by a note sentence (or a pair of neighbouring sentences) when
# their cosine reaches this; below it the pair is left out rather than guessed.
SUPPORT_COSINE = 0.62
# Key points (or a point and a sentence about another) closer than this may share facts; below
# it one is `neither` evidence for the other.
OTHER_POINT_MAX_COSINE = 0.45


@dataclass(frozen=True, slots=True)
class Pair:
    premise: str
    hypothesis: str
    label: int  # ENTAILS, CONTRADICTS or NEITHER
    source: str  # the rule that made it, e.g. "point-support", "negation"
    note: str  # the corpus file it comes from


def data_hash(pairs: Sequence[Pair]) -> str:
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(f"{p.premise}\x1f{p.hypothesis}\x1f{p.label}\n".encode())
    return digest.hexdigest()[:16]
