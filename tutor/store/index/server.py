"""The scale-out engine: a collection on a Qdrant server or cluster (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from tutor.config import Settings
from tutor.store.index import _SERVER_BATCH, DENSE, SPARSE, Found, Index, Leg, SparseVector, _Point


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
