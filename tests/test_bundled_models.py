"""The registry of bundled models tells the truth about the files the project runs with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tutor.llm.bundle as bundle
from tutor.bundled_models import (
    BUNDLED_MODELS,
    EMBEDDER,
    JUDGE,
    LLM_PARTS,
    LOCAL_LLM,
    RERANKER,
    BundledModel,
)
from tutor.config import SHIPPED_JUDGE, SHIPPED_RERANKER, bundled_embedder_path


@pytest.mark.parametrize(("model", "folder"), [(EMBEDDER, bundled_embedder_path()),
                                               (RERANKER, SHIPPED_RERANKER), (JUDGE, SHIPPED_JUDGE)],
                         ids=lambda m: getattr(m, "role", ""))
def test_each_record_matches_its_weights(model: BundledModel, folder: Path) -> None:
    # A retrained reranker or judge committed without its record updated fails here.
    assert model.matches(folder / model.file), (
        f"{folder / model.file} is not the file tutor/bundled_models.py records for the "
        f"{model.role}: after retraining, update its sha256 and size there")


def test_the_cross_encoders_output_widths_are_recorded() -> None:
    for model, folder in ((RERANKER, SHIPPED_RERANKER), (JUDGE, SHIPPED_JUDGE)):
        head = json.loads((folder / "2_Dense" / "config.json").read_text(encoding="utf-8"))
        assert head["out_features"] == model.dims
    config = json.loads((bundled_embedder_path() / "config.json").read_text(encoding="utf-8"))
    assert config["hidden_size"] == EMBEDDER.dims


def test_the_llm_parts_add_up_to_the_recorded_file() -> None:
    # Hashing the joined 1.1 GB is ensure_model's job (tests/test_llm.py); its parts' sizes
    # are free to check.
    parts = [bundle._part_path(n) for n in range(1, LLM_PARTS + 1)]
    assert None not in parts
    assert sum(p.stat().st_size for p in parts if p is not None) == LOCAL_LLM.size


def test_a_changed_byte_does_not_match(tmp_path: Path) -> None:
    copy = tmp_path / JUDGE.file
    data = bytearray((SHIPPED_JUDGE / JUDGE.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert not JUDGE.matches(copy)
    assert not JUDGE.matches(tmp_path / "absent.safetensors")


def test_every_role_is_recorded_once() -> None:
    assert sorted(m.role for m in BUNDLED_MODELS) == ["embedder", "judge", "llm", "reranker"]
