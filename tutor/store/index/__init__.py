"""The index: one point per chunk with a dense and a BM25 sparse vector, on one of two engines.

- `EdgeStore` (the default): a Qdrant Edge shard in the data dir, Qdrant's own Rust segment
  engine running in-process (HNSW, sparse inverted index with IDF, RRF fusion, WAL). No server.
- `ServerStore`: qdrant-client against `TUTOR_QDRANT_URL`, a Qdrant server or cluster (the
  scale-out path). Tests run it against qdrant-client's local mode, the server API's stand-in.

Both keep the same layout (dense cosine vectors named `dense`, sparse `bm25` with the IDF
modifier, the chunk as payload) and answer the same `Search` (each retriever's own list and
their weighted RRF fusion in one batch), so retrieval above never knows which one it has.

A document version is written in one operation (one WAL record on Edge, one request per
2,000 points on a server) under point ids that include the version's hash, and the previous
version is deleted only after it: a crash leaves the old version whole, never a mix.
`documents()` reports a document whose stored chunks do not form one complete version as
`complete=False`, and ingest rewrites it. BM25 term weights come from Qdrant's own encoder
(`qdrant_edge.Bm25`, the same vectors as fastembed's `Qdrant/bm25`), so either engine stores
what the other would.
"""

from __future__ import annotations

import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tutor.config import Settings
from tutor.errors import IndexMissingError, IndexWriteError, TutorError
from tutor.records import Chunk, to_json

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "bm25"
# A fixed namespace so a chunk of a document version always maps to the same point id.
_POINT_NAMESPACE = uuid.UUID("6f1c1f4e-2b1a-4d67-9a53-8f0c6f0b7e21")
_META_FILE = "tutor-index.json"
# A server request of 2,000 points is ~20 MB of JSON, under Qdrant's 32 MB default limit.
_SERVER_BATCH = 2000


def point_id(chunk_id: str, doc_hash: str) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{chunk_id}@{doc_hash}"))


class SparseVector(NamedTuple):
    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class Leg:
    """One retriever of a search: its vector, how many it lists, its weight in the fusion."""

    using: str  # DENSE or SPARSE; also the name its own list is reported under
    vector: list[float] | SparseVector
    limit: int
    weight: float


@dataclass(frozen=True, slots=True)
class Found:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    doc: str
    title: str
    path: str
    doc_hash: str  # "" when the stored chunks are not one complete version (see `complete`)
    chunks: int
    ingested_at: float
    complete: bool = True


@dataclass(frozen=True, slots=True)
class _Point:
    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


class Bm25Encoder:
    """Qdrant's BM25 term weights; `avg_len` is the collection's mean chunk length in tokens
    (the library default of 256 is wrong for our ~150-word chunks)."""

    def __init__(self, avg_len: float) -> None:
        from qdrant_edge import Bm25, Bm25Config

        self.avg_len = avg_len
        self._model = Bm25(Bm25Config(avg_len=avg_len))

    def documents(self, texts: Iterable[str]) -> list[SparseVector]:
        return [_sparse(self._model.embed_document(t)) for t in texts]

    def query(self, text: str) -> SparseVector:
        return _sparse(self._model.embed_query(text))

    @staticmethod
    def token_count(text: str) -> int:
        from qdrant_edge import Bm25

        return len(Bm25().embed_query(text).indices)


def _sparse(vector: Any) -> SparseVector:
    return SparseVector(list(vector.indices), list(vector.values))


def open_index(settings: Settings, *, copy_if_locked: bool = False) -> Index:
    """The configured index: a server by URL, else the data dir's Edge shard. Commands whose
    writes need not last (retrieve, ask, grade, eval) pass `copy_if_locked`, so they work on
    a private copy of a shard the running app holds instead of failing."""
    if settings.qdrant_url:
        from qdrant_client import QdrantClient

        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=30)
        return ServerStore(settings, client)
    return EdgeStore(settings, copy_if_locked=copy_if_locked)


class Index(ABC):
    """Everything the tutor stores, behind the operations it needs. Subclasses supply the
    engine's primitives; what a document is (versions, counts, chunks) is decided here once."""

    where: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The app's threads share one index; writes must not interleave with reads of a
        # half-applied batch on the client side, and uncontended it costs nothing.
        self.lock = threading.RLock()

    # -- engine primitives ------------------------------------------------------------------
    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def create(self, dimension: int, avg_len: float, embed_model: str) -> None: ...

    @abstractmethod
    def drop(self) -> None: ...

    @abstractmethod
    def metadata(self) -> dict[str, Any]: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def search(self, legs: Sequence[Leg], fused_limit: int | None, rrf_k: int) -> dict[str, list[Found]]:
        """Each leg's own list under its `using` name and, when `fused_limit` is given, their
        weighted RRF fusion under "fused", all in one batch."""

    @abstractmethod
    def _write(self, points: list[_Point]) -> None: ...

    @abstractmethod
    def _delete(self, doc: str, keep_hash: str | None) -> None: ...

    @abstractmethod
    def _scroll(self, fields: list[str] | None, doc: str | None) -> Iterator[dict[str, Any]]:
        """Every point's payload (only `fields` when given; only `doc`'s when given)."""

    # -- shared -----------------------------------------------------------------------------
    def require(self) -> None:
        """Raise a clear error when there is nothing to search."""
        if not self.exists() or self.count() == 0:
            raise IndexMissingError(f"No index at {self.where}: run `tutor ingest` (or `make run`).")

    def bm25(self) -> Bm25Encoder:
        return Bm25Encoder(float(self.metadata().get("bm25_avg_len", 100.0)))

    def upsert(
        self,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector],
        extra: dict[str, Any],
    ) -> None:
        """Write one document version: all of its chunks, with `extra` (which holds its
        `doc_hash`) on every payload. Older versions stay until `delete_doc(keep_hash=…)`."""
        doc_hash = str(extra["doc_hash"])
        doc = chunks[0].doc if chunks else "?"
        points = [
            _Point(
                id=point_id(c.id, doc_hash), dense=list(map(float, d)), sparse=s,
                payload={**to_json(c), **extra, "chunks_total": len(chunks)},
            )
            for c, d, s in zip(chunks, dense, sparse, strict=True)
        ]
        with self.lock:
            try:
                self._write(points)
            except TutorError:
                raise
            except Exception as exc:  # Edge raises bare Exceptions; a server, client errors
                raise IndexWriteError(
                    f"Could not write {doc} to the index at {self.where} ({_short(exc)}); its previous "
                    "version is still there. Free disk space (or fix the cause) and run `tutor ingest` again."
                ) from exc

    def delete_doc(self, doc: str, keep_hash: str | None = None) -> None:
        """Delete a document's chunks (those of other versions only, when `keep_hash` is given)."""
        with self.lock:
            self._delete(doc, keep_hash)

    def documents(self) -> list[IndexedDocument]:
        """One row per indexed document (the library view and incremental ingest use it)."""
        if not self.exists():
            return []
        fields = ["doc", "title", "path", "doc_hash", "ingested_at", "chunks_total"]
        versions: dict[str, dict[str, dict[str, Any]]] = {}
        with self.lock:
            for payload in self._scroll(fields, None):
                by_hash = versions.setdefault(payload["doc"], {})
                row = by_hash.setdefault(payload.get("doc_hash", ""), {**payload, "chunks": 0})
                row["chunks"] += 1
        return [_document(doc, by_hash) for doc, by_hash in sorted(versions.items())]

    def chunks(self, doc: str | None = None) -> list[Chunk]:
        with self.lock:
            return sorted((chunk_from_payload(p) for p in self._scroll(None, doc)), key=lambda c: c.id)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _document(doc: str, by_hash: dict[str, dict[str, Any]]) -> IndexedDocument:
    newest = max(by_hash.values(), key=lambda r: float(r.get("ingested_at", 0.0)))
    total = newest.get("chunks_total")  # absent in indexes written before versions were counted
    complete = len(by_hash) == 1 and (total is None or newest["chunks"] == total)
    return IndexedDocument(
        doc=doc, title=newest.get("title", doc), path=newest.get("path", ""),
        doc_hash=newest.get("doc_hash", "") if complete else "",
        chunks=sum(r["chunks"] for r in by_hash.values()),
        ingested_at=float(newest.get("ingested_at", 0.0)), complete=complete,
    )


def chunk_from_payload(payload: dict[str, Any]) -> Chunk:
    return Chunk(
        id=payload["id"], doc=payload["doc"], title=payload["title"],
        section=payload["section"], text=payload["text"], hash=payload["hash"],
    )


# The engines, importable from here as before (they build on the definitions above).
from tutor.store.index.edge import EdgeStore  # noqa: E402
from tutor.store.index.server import ServerStore  # noqa: E402

__all__ = [
    "DENSE", "SPARSE", "Bm25Encoder", "EdgeStore", "Found", "Index", "IndexedDocument", "Leg",
    "ServerStore", "SparseVector", "chunk_from_payload", "open_index", "point_id",
]
