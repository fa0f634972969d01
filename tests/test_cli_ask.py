"""`tutor ask` as a learner types it: the command line in this process (`tutor.cli.main.main`),
the RAG notes' real index, the bundled model on the CPU (started once per test process and
shared with every other test that uses it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tutor.answering.answer import NOT_COVERED
from tutor.cli.main import main

CITATION = re.compile(r"^  \[(\d+)\] (\S+) — (.+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default set-up, whatever the shell has: no endpoint (the bundled model answers),
    greedy decoding so the answer is the same on every run."""
    monkeypatch.delenv("TUTOR_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("TUTOR_LLM_TEMPERATURE", "0")


def ask(data: Path, question: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data), "ask", question])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_ask_answers_with_cited_passages(rag_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ask(rag_only, "Why are documents split into chunks before they are embedded?", capsys)
    assert code == 0, err
    lines = out.splitlines()
    # The passages come first, numbered, so the [n] in the answer can be looked up.
    assert lines[0].startswith("Sources: [1] Retrieval-augmented generation")
    listed = len(re.findall(r"\[\d+\] ", lines[0]))
    first_citation = next((i for i, line in enumerate(lines) if CITATION.match(line)), None)
    assert first_citation is not None, f"no citation lines:\n{out}"
    answer = "\n".join(lines[2:first_citation]).strip()
    assert answer and not answer.startswith(NOT_COVERED), out
    assert re.search(r"\[\d+\]", answer), f"the answer cites no passage:\n{out}"
    # Each citation names a listed passage, its note and section, and quotes the passage.
    for i, line in enumerate(lines[first_citation:], first_citation):
        if match := CITATION.match(line):
            number, doc, section = match.groups()
            assert 1 <= int(number) <= listed and doc == "rag.md" and section.strip()
            assert lines[i + 1].startswith("      “") and len(lines[i + 1].strip()) > 5
    assert re.search(r"^\(embedded:.+; \d+\.\d s\)$", out, re.MULTILINE)
    assert "Traceback" not in err


def test_ask_off_topic_is_refused_as_not_covered(rag_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing in the notes clears the relevance floor: the tutor says so and cites nothing
    (decided before any model is asked, so this test is quick)."""
    code, out, err = ask(rag_only, "What is a good recipe for mushroom risotto?", capsys)
    assert code == 0, err
    assert out.startswith(NOT_COVERED), out
    assert "Sources:" not in out and not CITATION.search(out)
    assert "Traceback" not in err
