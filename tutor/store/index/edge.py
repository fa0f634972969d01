"""The embedded engine: a Qdrant Edge shard in the data dir (see the package docstring)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tutor.config import Settings
from tutor.errors import IndexLockedError, IndexWriteError
from tutor.store.index import (
    _META_FILE,
    DENSE,
    SPARSE,
    Found,
    Index,
    Leg,
    SparseVector,
    _Point,
    point_id,
)
from tutor.store.index.server import ServerStore

log = logging.getLogger(__name__)


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


class EdgeStore(Index):
    """A Qdrant Edge shard in `<data dir>/index`, with the tutor's metadata beside its segments.

    One process holds a shard (its WAL is locked). With `copy_if_locked`, opening a shard
    another process holds (the running app) loads a private copy of it instead: what the
    shard held at that moment, which is what a CLI command beside the app reads; writes to
    the copy (eval's ingest of an unchanged corpus, say) are discarded with it on close. The
    same holds for a shard on a disk this process cannot write (read-only mount).
    """

    def __init__(self, settings: Settings, *, copy_if_locked: bool = False) -> None:
        super().__init__(settings)
        self.path = settings.index_path
        self.where = str(self.path)
        self._snapshot: Path | None = None
        self._shard: Any = None
        try:
            _writable_dir(settings.data_dir)
        except IndexWriteError:
            # A reader of an index on a read-only disk (a mounted share, an image layer)
            # reads a copy; a writer gets the error and its fix.
            if not (copy_if_locked and (self.path / "edge_config.json").exists()):
                raise
            self._shard = self._copy("its folder cannot be written")
            return
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
        return self._copy("it is open in another process")

    def _copy(self, why: str) -> Any:
        from qdrant_edge import EdgeShard

        self._snapshot = Path(tempfile.mkdtemp(prefix="tutor-index-"))
        copy = self._snapshot / "index"
        shutil.copytree(self.path, copy, copy_function=_copy_sparse)
        log.info("the index %s; working on a copy of it (%s)", why, copy)
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
