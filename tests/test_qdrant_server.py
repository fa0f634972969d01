"""The same code against a Qdrant server, when one is configured (none can be installed here:
no Qdrant binary ships on any registry this machine reaches; the retrieval tests run the
server API against qdrant-client's local mode instead, see tests/test_retrieve.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tutor.config import Settings
from tutor.retrieval.retrieve import Retriever
from tutor.store.index import open_index
from tutor.store.ingest import Ingestor

URL = os.environ.get("TUTOR_QDRANT_URL")
pytestmark = pytest.mark.skipif(not URL, reason="TUTOR_QDRANT_URL is not set: no Qdrant server to test against")


def test_ingest_and_hybrid_search_on_a_server(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, qdrant_url=URL, collection="tutor-test-server")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "kv.md").write_text("# KV cache\n\n## Memory\n\nThe KV cache stores keys and values of past tokens.\n")
    index = open_index(settings)
    index.drop()
    report = Ingestor(settings, index).run([notes], progress=False)
    assert report.added == ["notes/kv.md"]
    hits = Retriever(settings, index).search("what does the kv cache store", mode="hybrid").hits
    assert hits and hits[0].chunk.doc == "notes/kv.md"
    index.drop()
    index.close()
