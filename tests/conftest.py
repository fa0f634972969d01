"""Shared fixtures: the network guard and a real index of the corpus.

Tests run the real models and the real Qdrant client; nothing here is a fake.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import CORPUS, Cli, Done, NetworkBlocked, offline_cli

import tutor  # noqa: F401  (offline environment first)
from tutor.config import REPO_DIR, Settings
from tutor.store.index import Index, open_index


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like stay on this machine
        return True
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it is already a network call


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a non-loopback connection (pydantic-ai's
    ALLOW_MODEL_REQUESTS idea): the tutor must work with no network at all."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: object) -> None:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach {address!r}: only loopback is allowed")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Where the session's corpus index lives: a fresh folder, or the one TUTOR_TEST_CORPUS_DATA
    names (scripts/test.sh: the evaluation gate after the tests reads the same index, so
    corpus/ is embedded once per run instead of twice; the tests only read it)."""
    shared = os.environ.get("TUTOR_TEST_CORPUS_DATA")
    data = Path(shared).resolve() if shared else tmp_path_factory.mktemp("tutor-data")
    return Settings(data_dir=data, corpus_dir=CORPUS)


@pytest.fixture(scope="session")
def corpus_index(corpus_settings: Settings) -> Iterator[Index]:
    """The real corpus ingested once per session into a local Qdrant folder."""
    from tutor.store.ingest import Ingestor

    index = open_index(corpus_settings)
    report = Ingestor(corpus_settings, index).run([CORPUS], progress=False)
    assert not report.rejected, report.summary()
    yield index
    index.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh, empty data dir of the test's own."""
    return Settings(data_dir=tmp_path / "data", corpus_dir=CORPUS)


@pytest.fixture(scope="session")
def rag_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with only the RAG notes indexed, for CLI tests: the test process holds
    the corpus index's folder, and a second process cannot open it."""
    data = tmp_path_factory.mktemp("rag-only")
    done = offline_cli("ingest", str(REPO_DIR / "corpus" / "rag.md"), data=data)
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`tutor ARGS` through `tutor.cli.main.main` in the test process, so the models load once for
    the suite rather than once per command; with no LLM, as `offline_cli` (the fast grading
    method and template follow-ups). A test of the command in a process of its own (exit on
    a signal, two processes at once) uses `offline_cli`."""
    from tutor.cli.main import main

    monkeypatch.setenv("TUTOR_FOLLOW_UP_WRITER", "template")
    monkeypatch.setenv("TUTOR_GRADE_METHOD", "embedding")

    def run(*args: str, data: Path, stdin: str = "") -> Done:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["--data-dir", str(data), *args])
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run
