"""Offline by construction: the environment switches and the test suite's network guard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support import NetworkBlocked

from tutor.config import SHIPPED_RERANKER, Settings


def test_importing_tutor_switches_libraries_offline() -> None:
    code = "import os, tutor; print(' '.join(os.environ[k] for k in ('HF_HUB_OFFLINE', 'GRADIO_ANALYTICS_ENABLED', 'RAGAS_DO_NOT_TRACK', 'TIKTOKEN_CACHE_DIR')))"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TIKTOKEN_CACHE_DIR")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    hub, gradio, ragas, tiktoken_dir = out.stdout.split()
    assert (hub, gradio, ragas) == ("1", "False", "true")
    assert os.path.isdir(tiktoken_dir) and os.listdir(tiktoken_dir)


def test_tiktoken_works_without_a_download() -> None:
    import tiktoken

    assert len(tiktoken.get_encoding("cl100k_base").encode("attention is all you need")) == 5


def test_network_guard_blocks_the_outside_world() -> None:
    with pytest.raises(NetworkBlocked), socket.create_connection(("192.0.2.1", 443), timeout=1):
        pass


def test_network_guard_allows_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.create_connection(server.getsockname(), timeout=5):
        pass
    server.close()


def test_default_models_are_local_paths(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert os.path.isdir(settings.embedder_path())
    assert settings.reranker_path() == str(SHIPPED_RERANKER)
    assert settings.qdrant_url is None and settings.llm_base_url is None
