"""Dense vectors of corpus/'s chunks, shipped with the code.

Embedding the default notes (~900 chunks of ~220 tokens) is a minute of a 2-core CPU, and it
is the first thing a fresh clone does (`make run`, CI's test index). The vectors depend only
on the chunk's text and the embedder, so they are computed once by
`scripts/build_shipped_vectors.py` and committed (`tutor/weights/corpus-vectors.npz`,
float16, ~0.7 MB). Ingest takes a chunk's vector from here when its text is found under the
same embedder's key, and embeds the rest: a chunk whose text changed since the file was built
simply misses, so a stale file costs time, never correctness. `scripts/build_shipped_vectors.py
--check` (CI) fails when the file no longer covers corpus/, with the command that rebuilds it.

float16 keeps the file small: against the float32 vectors it was made from, every cosine is
≥ 0.9999 (measured by the build script, which refuses a file below that).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from tutor.bundled_models import EMBEDDER
from tutor.config import PACKAGE_DIR, Settings

log = logging.getLogger(__name__)

SHIPPED_VECTORS = PACKAGE_DIR / "weights" / "corpus-vectors.npz"
_lock = threading.Lock()


def embedder_key(settings: Settings) -> str:
    """The embedder the vectors belong to: the bundled model by its weights' hash (a clone's
    path differs), another one by its path."""
    return settings.embed_model or f"bundled {EMBEDDER.name} {EMBEDDER.sha256}"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


class ShippedVectors:
    """Vectors by chunk text for one embedder; empty when the file is for another one."""

    def __init__(self, rows: dict[bytes, np.ndarray]) -> None:
        self._rows = rows

    @property
    def dimension(self) -> int | None:
        """The vectors' size (so an ingest that embeds nothing never loads the model)."""
        return len(next(iter(self._rows.values()))) if self._rows else None

    def get(self, text: str) -> np.ndarray | None:
        row = self._rows.get(text_key(text))
        return None if row is None else row.astype(np.float32)


@cache
def _load(path: str, key: str) -> ShippedVectors:
    file = Path(path)
    if not file.exists():
        return ShippedVectors({})
    try:
        with np.load(file, allow_pickle=False) as data:
            if str(data["embedder"]) != key:
                log.info("shipped vectors are for %s, not %s: not used", data["embedder"], key)
                return ShippedVectors({})
            keys, vectors = data["keys"], data["vectors"]
    except (OSError, KeyError, ValueError) as exc:  # damaged file: embed everything instead
        log.warning("shipped vectors at %s unreadable (%s): embedding every chunk", file, exc)
        return ShippedVectors({})
    return ShippedVectors({k.tobytes(): v for k, v in zip(keys, vectors, strict=True)})


def shipped_vectors(settings: Settings) -> ShippedVectors:
    with _lock:
        return _load(str(SHIPPED_VECTORS), embedder_key(settings))


def write(path: Path, key: str, texts: Sequence[str], vectors: np.ndarray) -> None:
    unique = dict(zip(map(text_key, texts), vectors.astype(np.float16), strict=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:  # np.savez would append ".npz" to a name without it
        np.savez_compressed(f, embedder=np.array(key),
                            keys=np.frombuffer(b"".join(unique), dtype=np.uint8).reshape(-1, 16),
                            vectors=np.stack(list(unique.values())))
    _load.cache_clear()


__all__ = ["SHIPPED_VECTORS", "ShippedVectors", "embedder_key", "shipped_vectors", "text_key", "write"]
