"""Fixtures for the e2e tests (helpers in apprunner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Scripted

from e2e.apprunner import (
    CHROMIUM,
    DEAD_LLM,
    RunningApp,
    ingest_notes,
    scripted_model,
    start_app,
    stop,
)


@pytest.fixture(scope="package")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The apps' notes ingested once; each app starts on its own copy."""
    return ingest_notes(tmp_path_factory.mktemp("ingested"))


@pytest.fixture(scope="package")
def app(tmp_path_factory: pytest.TempPathFactory, ingested: Path) -> Iterator[RunningApp]:
    llm = Scripted(scripted_model)
    running = start_app(tmp_path_factory.mktemp("app"), ingested, llm.url)
    running.llm = llm
    yield running
    stop(running)
    llm.close()


@pytest.fixture(scope="package")
def dead_llm_app(tmp_path_factory: pytest.TempPathFactory, ingested: Path) -> Iterator[RunningApp]:
    """The app configured with an LLM endpoint where nothing listens."""
    running = start_app(tmp_path_factory.mktemp("dead-llm-app"), ingested, DEAD_LLM)
    yield running
    stop(running)


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (scripts/setup.sh --dev installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chrome = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        yield chrome
        chrome.close()
