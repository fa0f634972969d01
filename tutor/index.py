"""The Qdrant collection: one point per chunk with a dense and a BM25 sparse vector.

Local mode on disk by default (`QdrantClient(path=…)`); `TUTOR_QDRANT_URL` points the same
code at a Qdrant server or cluster. BM25 uses Qdrant's own encoder (`qdrant_edge.Bm25`: word
tokenizer, English stopwords, Snowball stemmer; the same vectors as fastembed's
`Qdrant/bm25`) for term frequencies, and the collection's `Modifier.IDF` so Qdrant keeps the
IDF statistics as documents come and go.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient, models

from tutor.config import Settings
from tutor.errors import IndexLockedError, IndexMissingError
from tutor.records import Chunk

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "bm25"
# A fixed namespace so a chunk id always maps to the same Qdrant point id.
_POINT_NAMESPACE = uuid.UUID("6f1c1f4e-2b1a-4d67-9a53-8f0c6f0b7e21")


def point_id(chunk_id: str) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, chunk_id))


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    doc: str
    title: str
    path: str
    doc_hash: str
    chunks: int
    ingested_at: float


class Bm25Encoder:
    """Qdrant's BM25 term weights; `avg_len` is the collection's mean chunk length in tokens
    (the library default of 256 is wrong for our ~150-word chunks)."""

    def __init__(self, avg_len: float) -> None:
        from qdrant_edge import Bm25, Bm25Config

        self.avg_len = avg_len
        self._model = Bm25(Bm25Config(avg_len=avg_len))

    def documents(self, texts: Iterable[str]) -> list[models.SparseVector]:
        return [_sparse(self._model.embed_document(t)) for t in texts]

    def query(self, text: str) -> models.SparseVector:
        return _sparse(self._model.embed_query(text))

    @staticmethod
    def token_count(text: str) -> int:
        from qdrant_edge import Bm25

        return len(Bm25().embed_query(text).indices)


def _sparse(vector: Any) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def open_client(settings: Settings) -> QdrantClient:
    """A client for the configured Qdrant; a clear error when another process holds the folder."""
    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=30)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise IndexLockedError(
                f"The index at {settings.qdrant_path} is open in another tutor process "
                "(only one process can use a local index). Stop the other `tutor` command or "
                "app, or run a Qdrant server and set TUTOR_QDRANT_URL."
            ) from exc
        raise


class Index:
    """Everything the tutor stores in Qdrant, behind the operations it needs."""

    def __init__(self, settings: Settings, client: QdrantClient | None = None) -> None:
        self.settings = settings
        self.name = settings.collection
        self.client = client or open_client(settings)
        # Local mode is not safe for concurrent writes and reads from the app's threads;
        # a server would not need it, and it costs nothing uncontended.
        self.lock = threading.RLock()

    def close(self) -> None:
        self.client.close()

    # -- collection ---------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.name))

    def create(self, dimension: int, avg_len: float, embed_model: str) -> None:
        self.client.create_collection(
            self.name,
            vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata={"bm25_avg_len": avg_len, "embed_model": embed_model, "dimension": dimension},
        )

    def drop(self) -> None:
        if self.exists():
            self.client.delete_collection(self.name)

    def metadata(self) -> dict[str, Any]:
        info = self.client.get_collection(self.name)
        return dict(info.config.metadata or {})

    def require(self) -> None:
        """Raise a clear error when there is nothing to search."""
        where = self.settings.qdrant_url or str(self.settings.qdrant_path)
        if not self.exists() or self.count() == 0:
            raise IndexMissingError(f"No index at {where}: run `tutor ingest` (or `make run`).")

    def count(self) -> int:
        return int(self.client.count(self.name, exact=True).count)

    def bm25(self) -> Bm25Encoder:
        return Bm25Encoder(float(self.metadata().get("bm25_avg_len", 100.0)))

    # -- writes ---------------------------------------------------------------------------
    def upsert(
        self,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[models.SparseVector],
        extra: dict[str, Any],
    ) -> None:
        points = [
            models.PointStruct(
                id=point_id(c.id),
                vector={DENSE: list(map(float, d)), SPARSE: s},
                payload={**c.to_dict(), **extra},
            )
            for c, d, s in zip(chunks, dense, sparse, strict=True)
        ]
        with self.lock:
            for start in range(0, len(points), 256):
                self.client.upsert(self.name, points=points[start : start + 256], wait=True)

    def delete_doc(self, doc: str, keep_hash: str | None = None) -> None:
        """Delete a document's chunks (those of older versions only, when `keep_hash` is given)."""
        must: list[models.Condition] = [models.FieldCondition(key="doc", match=models.MatchValue(value=doc))]
        must_not: list[models.Condition] = []
        if keep_hash is not None:
            must_not.append(models.FieldCondition(key="doc_hash", match=models.MatchValue(value=keep_hash)))
        selector = models.FilterSelector(filter=models.Filter(must=must, must_not=must_not))
        with self.lock:
            self.client.delete(self.name, points_selector=selector, wait=True)

    def query(self, requests: list[models.QueryRequest]) -> list[models.QueryResponse]:
        """Several Query API requests in one round trip."""
        with self.lock:
            return self.client.query_batch_points(self.name, requests)

    # -- reads ----------------------------------------------------------------------------
    def documents(self) -> list[IndexedDocument]:
        """One row per indexed document (the library view and incremental ingest use it)."""
        if not self.exists():
            return []
        found: dict[str, dict[str, Any]] = {}
        offset = None
        fields = ["doc", "title", "path", "doc_hash", "ingested_at"]
        while True:
            with self.lock:
                points, offset = self.client.scroll(
                    self.name, limit=1024, offset=offset, with_payload=fields, with_vectors=False
                )
            for p in points:
                payload = p.payload or {}
                row = found.setdefault(payload["doc"], {**payload, "chunks": 0})
                row["chunks"] += 1
            if offset is None:
                break
        return sorted(
            (
                IndexedDocument(
                    doc=r["doc"], title=r.get("title", r["doc"]), path=r.get("path", ""),
                    doc_hash=r.get("doc_hash", ""), chunks=r["chunks"],
                    ingested_at=float(r.get("ingested_at", 0.0)),
                )
                for r in found.values()
            ),
            key=lambda d: d.doc,
        )

    def chunks(self, doc: str | None = None) -> list[Chunk]:
        flt = None
        if doc is not None:
            flt = models.Filter(must=[models.FieldCondition(key="doc", match=models.MatchValue(value=doc))])
        out: list[Chunk] = []
        offset = None
        while True:
            with self.lock:
                points, offset = self.client.scroll(
                    self.name, scroll_filter=flt, limit=1024, offset=offset, with_payload=True
                )
            out.extend(chunk_from_payload(p.payload or {}) for p in points)
            if offset is None:
                return sorted(out, key=lambda c: c.id)


def chunk_from_payload(payload: dict[str, Any]) -> Chunk:
    return Chunk(
        id=payload["id"], doc=payload["doc"], title=payload["title"],
        section=payload["section"], text=payload["text"], hash=payload["hash"],
    )
