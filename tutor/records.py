"""Typed records passed between the stages (never bare dicts across module borders), and the
one way any record becomes JSON and back: `to_json` / `from_json`, pydantic's TypeAdapter over
the dataclass. A record's JSON is its fields; where a public shape differs (a renamed key, a
rounded number, a flattened hit), the record says so in its annotations or with pydantic's
`model_serializer`, so the shape is written once, next to the fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import PlainSerializer, TypeAdapter, model_serializer

R = TypeVar("R")
# Scores and shares in JSON: three decimals say all they mean.
Rounded = Annotated[float, PlainSerializer(lambda v: round(v, 3), return_type=float)]
# Python's isoformat ("+00:00"), as every stored time of the learner store is written.
IsoTime = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str)]


# One adapter per record type, built on first use (building one costs a schema compile).
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:  # two threads racing here build the same adapter twice: harmless
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def to_json(record: object) -> Any:
    """`record` as JSON-ready data (dicts, lists, strings, numbers, None)."""
    return _adapter(type(record)).dump_python(record, mode="json", by_alias=True)


def from_json(kind: type[R], data: Any) -> R:
    """A `kind` read back from what `to_json` wrote (validated: a damaged row fails here)."""
    return _adapter(kind).validate_python(data)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of one document, as stored in the index."""

    id: str  # stable: derived from the document id and the chunk's position
    doc: str  # document id: its path relative to the ingested root
    title: str
    section: str  # heading path, "Title > Section > Subsection"
    text: str
    hash: str  # sha256 of the text


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

    @model_serializer
    def _public(self) -> dict[str, Any]:
        """The public JSON shape of a hit (README: "retrieve --json"): the chunk's fields
        flat, without its hash; the order score is the mode's, left out."""
        c = self.chunk
        return {
            "chunk_id": c.id,
            "doc": c.doc,
            "title": c.title,
            "section": c.section,
            "text": c.text,
            "scores": asdict(self.scores),
        }


# The citation parser's result (tutor/answering/citations.py), read by the answer check.

@dataclass(frozen=True, slots=True)
class Marker:
    """One `[n]` in the clean text: text[start:end] == f"[{number}]"."""

    number: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CitationUse:
    """How often, and where in the clean text, one passage was cited."""

    number: int
    count: int
    positions: tuple[int, ...]  # Marker.start of each use


@dataclass(frozen=True, slots=True)
class ParsedCitations:
    """The final result of parsing one answer."""

    text: str  # display-ready: only valid markers, normalised to `[n]`
    markers: tuple[Marker, ...]
    dropped: int  # markers (numbers) naming no given passage
    dropped_numbers: tuple[int, ...]
    code_ranges: tuple[tuple[int, int], ...]  # [start, end) of code in `text`

    @property
    def citations(self) -> tuple[CitationUse, ...]:
        """Each cited passage once, by number."""
        positions: dict[int, list[int]] = {}
        for m in self.markers:
            positions.setdefault(m.number, []).append(m.start)
        return tuple(CitationUse(n, len(p), tuple(p)) for n, p in sorted(positions.items()))

    @property
    def cited(self) -> tuple[int, ...]:
        """Distinct cited passage numbers, ascending."""
        return tuple(sorted({m.number for m in self.markers}))
