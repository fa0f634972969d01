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

import json
import logging
import shutil
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tutor.config import Settings
from tutor.errors import IndexLockedError, IndexMissingError, IndexWriteError, TutorError
from tutor.records import Chunk

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
                payload={**c.to_dict(), **extra, "chunks_total": len(chunks)},
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


def _copy_sparse(source: str, target: str) -> None:
    """Copy a file keeping its holes: Edge preallocates its files as 32 MB sparse files that
    hold a few KB, and a plain copy would write every zero (170 MB for corpus/'s shard)."""
    block = 1 << 20
    zeros = bytes(block)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(block):
            if chunk == zeros[: len(chunk)]:
                dst.seek(len(chunk), 1)
            else:
                dst.write(chunk)
        dst.truncate()
    shutil.copystat(source, target)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _writable_dir(folder: Path) -> None:
    """A clear error, before any engine call, when `folder` cannot hold an index."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        what = "is a file, not a folder" if folder.is_file() or isinstance(exc, (FileExistsError, NotADirectoryError)) \
            else f"cannot be written ({exc.strerror or exc})"
        raise IndexWriteError(
            f"The data dir {folder} {what}: point TUTOR_DATA_DIR (or --data-dir) at a writable folder."
        ) from exc


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


class EdgeStore(Index):
    """A Qdrant Edge shard in `<data dir>/index`, with the tutor's metadata beside its segments.

    One process holds a shard (its WAL is locked). With `copy_if_locked`, opening a shard
    another process holds (the running app) loads a private copy of it instead: what the
    shard held at that moment, which is what a CLI command beside the app reads; writes to
    the copy (eval's ingest of an unchanged corpus, say) are discarded with it on close.
    """

    def __init__(self, settings: Settings, *, copy_if_locked: bool = False) -> None:
        super().__init__(settings)
        self.path = settings.index_path
        self.where = str(self.path)
        self._snapshot: Path | None = None
        self._shard: Any = None
        _writable_dir(settings.data_dir)
        _migrate_local_mode(settings, self)
        if (self.path / "edge_config.json").exists():
            self._shard = self._load(copy_if_locked)

    def _load(self, copy_if_locked: bool) -> Any:
        from qdrant_edge import EdgeShard

        try:
            return EdgeShard.load(str(self.path))
        except Exception as exc:  # the binding raises a bare Exception naming the WAL lock
            if "WouldBlock" not in str(exc):
                raise
            if not copy_if_locked:
                raise IndexLockedError(
                    f"The index at {self.path} is open in another tutor process (the app?). "
                    "Add or remove documents in the app's Library tab, or stop the app first."
                ) from exc
        self._snapshot = Path(tempfile.mkdtemp(prefix="tutor-index-"))
        copy = self._snapshot / "index"
        shutil.copytree(self.path, copy, copy_function=_copy_sparse)
        log.info("the index is open in another process; working on a copy of it (%s)", copy)
        self.path = copy  # every later operation, drop and create included, is on the copy
        return EdgeShard.load(str(copy))

    def exists(self) -> bool:
        return self._shard is not None

    def create(self, dimension: int, avg_len: float, embed_model: str) -> None:
        from qdrant_edge import (
            Distance,
            EdgeConfig,
            EdgeShard,
            EdgeSparseVectorParams,
            EdgeVectorParams,
            Modifier,
        )

        config = EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=dimension, distance=Distance.Cosine)},
            sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        )
        _require_space(self.path.parent, 0)
        with self.lock:
            self._shard = EdgeShard.create(str(self.path), config)
            meta = {"bm25_avg_len": avg_len, "embed_model": embed_model, "dimension": dimension}
            staged = self.path / f"{_META_FILE}.tmp"
            staged.write_text(json.dumps(meta))
            staged.replace(self.path / _META_FILE)

    def drop(self) -> None:
        with self.lock:
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            shutil.rmtree(self.path, ignore_errors=True)

    def metadata(self) -> dict[str, Any]:
        meta = self.path / _META_FILE
        return json.loads(meta.read_text()) if meta.exists() else {}

    def count(self) -> int:
        from qdrant_edge import CountRequest

        with self.lock:
            return int(self._shard.count(CountRequest(exact=True))) if self._shard is not None else 0

    def close(self) -> None:
        with self.lock:
            if self._shard is not None:
                if self._snapshot is None:
                    self._shard.flush()
                self._shard.close()
                self._shard = None
            if self._snapshot is not None:
                shutil.rmtree(self._snapshot, ignore_errors=True)

    def search(self, legs: Sequence[Leg], fused_limit: int | None, rrf_k: int) -> dict[str, list[Found]]:
        from qdrant_edge import Fusion, Prefetch, Query, QueryBatchRequest, QueryRequest

        def nearest(leg: Leg) -> Any:
            return Query.Nearest(_edge_vector(leg.vector), using=leg.using)

        requests = {leg.using: QueryRequest(limit=leg.limit, query=nearest(leg), with_payload=True) for leg in legs}
        if fused_limit is not None and legs:
            requests["fused"] = QueryRequest(
                limit=fused_limit,
                prefetches=[Prefetch(limit=leg.limit, query=nearest(leg)) for leg in legs],
                # The stub types Fusion.Rrf apart from Fusion; the binding takes it.
                query=Fusion.Rrf(k=rrf_k, weights=[leg.weight for leg in legs]),  # type: ignore[arg-type]
                with_payload=True,
            )
        names = list(requests)
        with self.lock:
            results = self._shard.query_batch(QueryBatchRequest([requests[n] for n in names]))
        return {
            n: [Found(str(p.id), float(p.score), dict(p.payload or {})) for p in points]
            for n, points in zip(names, results, strict=True)
        }

    def _write(self, points: list[_Point]) -> None:
        from qdrant_edge import Point, UpdateOperation

        _require_space(self.path, len(points))
        # One operation, one WAL record: the whole version lands, or none of it does.
        self._shard.update(UpdateOperation.upsert_points([
            Point(p.id, {DENSE: p.dense, SPARSE: _edge_vector(p.sparse)}, p.payload) for p in points
        ]))

    def _delete(self, doc: str, keep_hash: str | None) -> None:
        from qdrant_edge import UpdateOperation

        if self._shard is not None:
            self._shard.update(UpdateOperation.delete_points_by_filter(_edge_filter(doc, keep_hash)))

    def _scroll(self, fields: list[str] | None, doc: str | None) -> Iterator[dict[str, Any]]:
        from qdrant_edge import ScrollRequest

        if self._shard is None:
            return
        flt = _edge_filter(doc, None) if doc is not None else None
        offset = None
        while True:
            records, offset = self._shard.scroll(ScrollRequest(
                offset=offset, limit=1024, filter=flt, with_payload=fields if fields else True,
            ))
            yield from (dict(r.payload or {}) for r in records)
            if offset is None:
                return


# Edge maps its storage into memory: a write that meets a full disk kills the process with
# SIGBUS (no exception, no message), so free space is checked first. Its files grow in
# 32 MB steps (WAL segments, storage pages), and a point takes ~10 KB across them.
_SPACE_MARGIN = 96_000_000
_SPACE_PER_POINT = 10_000


def _require_space(folder: Path, points: int) -> None:
    free = shutil.disk_usage(folder).free
    need = _SPACE_MARGIN + _SPACE_PER_POINT * points
    if free < need:
        raise IndexWriteError(
            f"Only {free / 1e6:.0f} MB free on the disk of {folder} "
            f"({f'writing {points} passages' if points else 'a new index'} needs about {need / 1e6:.0f} MB): "
            "free some space, then run `tutor ingest` again."
        )


def _edge_vector(vector: list[float] | SparseVector) -> Any:
    from qdrant_edge import SparseVector as EdgeSparse

    return EdgeSparse(vector.indices, vector.values) if isinstance(vector, SparseVector) else vector


def _edge_filter(doc: str | None, keep_hash: str | None) -> Any:
    from qdrant_edge import FieldCondition, Filter, MatchValue

    must: list[Any] = [FieldCondition(key="doc", match=MatchValue(doc))] if doc is not None else []
    must_not: list[Any] = []
    if keep_hash is not None:
        must_not.append(FieldCondition(key="doc_hash", match=MatchValue(keep_hash)))
    return Filter(must=must, must_not=must_not)


class ServerStore(Index):
    """A collection on a Qdrant server or cluster through qdrant-client (or, in tests, the
    client's local mode standing in for the server's API)."""

    def __init__(self, settings: Settings, client: Any) -> None:
        super().__init__(settings)
        self.client = client
        self.name = settings.collection
        self.where = f"{settings.qdrant_url or 'qdrant-client local mode'} (collection {self.name})"

    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.name))

    def create(self, dimension: int, avg_len: float, embed_model: str) -> None:
        from qdrant_client import models

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
        return dict(self.client.get_collection(self.name).config.metadata or {})

    def count(self) -> int:
        return int(self.client.count(self.name, exact=True).count)

    def close(self) -> None:
        self.client.close()

    def search(self, legs: Sequence[Leg], fused_limit: int | None, rrf_k: int) -> dict[str, list[Found]]:
        from qdrant_client import models

        def vector(leg: Leg) -> Any:
            v = leg.vector
            return models.SparseVector(indices=v.indices, values=v.values) if isinstance(v, SparseVector) else v

        requests = {
            leg.using: models.QueryRequest(query=vector(leg), using=leg.using, limit=leg.limit, with_payload=True)
            for leg in legs
        }
        if fused_limit is not None and legs:
            requests["fused"] = models.QueryRequest(
                prefetch=[models.Prefetch(query=vector(leg), using=leg.using, limit=leg.limit) for leg in legs],
                query=models.RrfQuery(rrf=models.Rrf(k=rrf_k, weights=[leg.weight for leg in legs])),
                limit=fused_limit, with_payload=True,
            )
        names = list(requests)
        with self.lock:
            responses = self.client.query_batch_points(self.name, [requests[n] for n in names])
        return {
            n: [Found(str(p.id), float(p.score), dict(p.payload or {})) for p in r.points]
            for n, r in zip(names, responses, strict=True)
        }

    def _write(self, points: list[_Point]) -> None:
        from qdrant_client import models

        structs = [
            models.PointStruct(
                id=p.id, payload=p.payload,
                vector={DENSE: p.dense, SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)},
            )
            for p in points
        ]
        # One request is one server operation; a version over _SERVER_BATCH points spans
        # several, and a crash between them leaves it incomplete, which `documents()` reports.
        for start in range(0, len(structs), _SERVER_BATCH):
            self.client.upsert(self.name, points=structs[start : start + _SERVER_BATCH], wait=True)

    def _delete(self, doc: str, keep_hash: str | None) -> None:
        from qdrant_client import models

        must: list[models.Condition] = [models.FieldCondition(key="doc", match=models.MatchValue(value=doc))]
        must_not: list[models.Condition] = []
        if keep_hash is not None:
            must_not.append(models.FieldCondition(key="doc_hash", match=models.MatchValue(value=keep_hash)))
        selector = models.FilterSelector(filter=models.Filter(must=must, must_not=must_not))
        self.client.delete(self.name, points_selector=selector, wait=True)

    def _scroll(self, fields: list[str] | None, doc: str | None) -> Iterator[dict[str, Any]]:
        from qdrant_client import models

        flt = None
        if doc is not None:
            flt = models.Filter(must=[models.FieldCondition(key="doc", match=models.MatchValue(value=doc))])
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.name, scroll_filter=flt, limit=1024, offset=offset,
                with_payload=fields if fields else True, with_vectors=False,
            )
            yield from (dict(p.payload or {}) for p in points)
            if offset is None:
                return


def _migrate_local_mode(settings: Settings, edge: EdgeStore) -> None:
    """Move an index written by qdrant-client's local mode (before Edge was the default) into
    the Edge shard, vectors and all: nothing is re-embedded, and documents whose files have
    moved since are kept. The old folder goes only once the shard holds everything, so an
    interrupted migration starts over on the next open."""
    legacy = settings.data_dir / "qdrant"
    if not (legacy / "collection" / settings.collection).exists():
        return
    from qdrant_client import QdrantClient

    log.warning("%s holds an index from an older tutor (qdrant-client local mode); "
                "moving it into a Qdrant Edge shard at %s", legacy, edge.path)
    try:
        client = QdrantClient(path=str(legacy))
    except RuntimeError as exc:
        raise IndexLockedError(
            f"The old index at {legacy} is open in another tutor process; stop it, then run the command again."
        ) from exc
    old = ServerStore(settings, client)
    try:
        shutil.rmtree(edge.path, ignore_errors=True)  # a migration cut short before
        if old.exists():
            meta = old.metadata()
            edge.create(int(meta["dimension"]), float(meta["bm25_avg_len"]), str(meta["embed_model"]))
            offset = None
            while True:
                points, offset = client.scroll(settings.collection, limit=1024, offset=offset,
                                               with_payload=True, with_vectors=True)
                edge._write([_legacy_point(p) for p in points])
                if offset is None:
                    break
            edge.close()
    finally:
        old.close()
    shutil.rmtree(legacy)


def _legacy_point(p: Any) -> _Point:
    payload = dict(p.payload or {})
    sparse = p.vector[SPARSE]
    return _Point(
        id=point_id(payload["id"], payload.get("doc_hash", "")), dense=list(p.vector[DENSE]),
        sparse=SparseVector(list(sparse.indices), list(sparse.values)), payload=payload,
    )
