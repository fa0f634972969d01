"""Typed records passed between the stages (never bare dicts across module borders)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of one document, as stored in the index."""

    id: str  # stable: derived from the document id and the chunk's position
    doc: str  # document id: its path relative to the ingested root
    title: str
    section: str  # heading path, "Title > Section > Subsection"
    text: str
    hash: str  # sha256 of the text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Scores:
    """Every stage's score for one hit, so each stage can be measured (None = stage not run)."""

    bm25: float | None = None
    dense: float | None = None
    fused: float | None = None
    rerank: float | None = None


@dataclass(slots=True)
class Hit:
    """A retrieved chunk with its scores; `score` is the one the hits are ordered by."""

    chunk: Chunk
    score: float
    scores: Scores = field(default_factory=Scores)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape of a hit (README: "retrieve --json")."""
        c = self.chunk
        return {
            "chunk_id": c.id,
            "doc": c.doc,
            "title": c.title,
            "section": c.section,
            "text": c.text,
            "scores": asdict(self.scores),
        }
