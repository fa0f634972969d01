"""Build (or check) tutor/weights/corpus-vectors.npz: the vectors of corpus/'s chunks that ingest
reads instead of embedding them (tutor/store/shipped_vectors.py says why).

    .venv/bin/python scripts/build_shipped_vectors.py          # rebuild (~1 min on 2 cores)
    .venv/bin/python scripts/build_shipped_vectors.py --check  # exit 1 if it misses a chunk (CI)

Run the first after any change to corpus/ or to the chunking settings' defaults; CI runs the
second, so a stale file fails the build instead of silently slowing every fresh ingest.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import tutor  # noqa: F401  (sets the libraries offline before they load)
from tutor.config import Settings
from tutor.store.chunking import Chunker
from tutor.store.documents import read_document
from tutor.store.ingest import discover
from tutor.store.shipped_vectors import SHIPPED_VECTORS, embedder_key, shipped_vectors, write

# float16 must not move a vector: below this cosine to its float32 original, store float32.
_MIN_COSINE = 0.9999


def corpus_chunks(settings: Settings) -> list[str]:
    sources, rejected, _ = discover([settings.corpus_dir])
    if rejected:
        sys.exit(f"corpus/ has files ingest rejects: {rejected}")
    chunker = Chunker(settings)
    texts = [c.text for s in sources
             for c in chunker.split(read_document(s.path, s.doc_id, int(settings.max_file_mb * 1e6)))]
    return list(dict.fromkeys(texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    # The defaults a fresh clone ingests with; float32, as most CPUs embed.
    settings = Settings(embed_precision="float32")
    texts = corpus_chunks(settings)
    if args.check:
        shipped = shipped_vectors(settings)
        missing = sum(shipped.get(t) is None for t in texts)
        if missing:
            print(f"{SHIPPED_VECTORS.name} misses {missing} of corpus/'s {len(texts)} chunks: run "
                  "`.venv/bin/python scripts/build_shipped_vectors.py` and commit the file.")
            return 1
        print(f"{SHIPPED_VECTORS.name} covers all {len(texts)} chunks of corpus/.")
        return 0
    from tutor.retrieval.models import load_embedder

    vectors = load_embedder(settings).encode(texts, batch_size=settings.embed_batch_size,
                                             normalize_embeddings=True, convert_to_numpy=True,
                                             show_progress_bar=True)
    half = vectors.astype(np.float16).astype(np.float32)
    cosine = float((np.sum(half * vectors, axis=1) / np.linalg.norm(half, axis=1)).min())
    if cosine < _MIN_COSINE:
        sys.exit(f"float16 moved a vector to cosine {cosine:.6f} < {_MIN_COSINE}: not written")
    write(SHIPPED_VECTORS, embedder_key(settings), texts, vectors)
    print(f"wrote {SHIPPED_VECTORS} ({len(texts)} chunks, {SHIPPED_VECTORS.stat().st_size / 1e6:.2f} MB; "
          f"lowest float16 cosine {cosine:.6f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
