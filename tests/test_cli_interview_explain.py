"""`explain` in the terminal interview (`tutor interview`): the learner gives up on a
question and asks for the tutor's answer. The command line runs in this process
(`tutor.cli.main.main`, stdin fed as a learner types), over the RAG notes' real index; the
explanation is the bundled model's cited answer (started once per test process)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tutor.cli.main import main


@pytest.mark.slow
def test_explain_shows_the_cited_answer_and_counts_as_skipped(
        rag_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Grading and follow-ups without the model (as the other terminal tests), so `explain` is
    # the only thing that asks it; no endpoint and greedy decoding, so the answer is repeatable.
    monkeypatch.delenv("TUTOR_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("TUTOR_LLM_TEMPERATURE", "0")
    monkeypatch.setenv("TUTOR_GRADE_METHOD", "embedding")
    monkeypatch.setenv("TUTOR_FOLLOW_UP_WRITER", "template")
    monkeypatch.setattr("sys.stdin", io.StringIO("explain\nskip\n"))
    export = tmp_path / "report.md"

    code = main(["--data-dir", str(rag_only), "interview", "--topic", "rag", "--n", "2",
                 "--seed", "4", "--export", str(export)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err

    first = re.search(r"^Question 1/2 \[rag, [\w-]+\]\n(.+)$", out, re.MULTILINE)
    assert first, out
    question = first.group(1)
    explained, rest = out[first.end():].split("\nQuestion 2/2 [", 1)  # and it moved on
    # The tutor's answer to that question: its passages, then the answer as checked against
    # them, each sentence either cited (the citation names its note and quotes the span) or
    # flagged. Which it is, is the answer check's call, measured on labelled sentences by
    # scripts/eval_judge.py, not this test's: a sure check flags this greedy answer's
    # long list sentence (docs/judge.md, session 18).
    assert re.search(r"^(> )?Sources: \[1\] ", explained, re.MULTILINE), explained
    cited = re.findall(r"^  \[\d+\] rag\.md — .+\n      “", explained, re.MULTILINE)
    flagged = re.findall(r"^  ⚠ no passage says: .+$", explained, re.MULTILINE)
    assert cited or flagged, explained
    assert re.search(r"^\(embedded:.+\)$", explained, re.MULTILINE)
    # The question ended there, graded as skipped: no points, the key points shown as missed.
    grade = explained[explained.index("\nScore 0.0/10"):]
    assert "missed" in grade and grade.rstrip().endswith("Skipped.")
    assert rest.startswith("rag, ") and "> Skipped." in rest  # the second one, skipped by hand

    # The report counts it as given up (0/10), says the tutor explained it, and lists the
    # key points the learner did not give.
    report = export.read_text(encoding="utf-8")
    assert "2 question(s), overall 0.0/10" in report
    assert f"### {question}\n\n**0.0/10** (explained by the tutor). The key points:\n\n- " in report
    assert report.count("(explained by the tutor)") == 1
    assert report.count("**0.0/10** (skipped)") == 1
    assert out.rstrip().endswith(f"Report written to {export}")
