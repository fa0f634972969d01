"""The interview report, built from hand-made records (no index, no model): what a learner
keeps of an interview, and that outside text in it is shown, not rendered."""

from __future__ import annotations

import re

from tutor.app.ui import escape_markdown
from tutor.config import REPO_DIR
from tutor.interview.grades import FollowUp, Grade, PointGrade, Source
from tutor.interview.knowledge import load_questions
from tutor.interview.report import Report, TopicScore
from tutor.interview.session import Turn
from tutor.quoting import as_prose

BANK = load_questions(REPO_DIR / "corpus")


def test_report_quotes_outside_text_when_asked() -> None:
    """The app shows the report with every bank or index text escaped: an uploaded passage's
    markup is shown, not rendered; the downloaded file keeps the text as it is."""
    question = BANK[0]
    source = Source("uploads/evil.md#001", "uploads/evil.md", "Evil",
                    "<img src=x onerror=alert(1)> `code`", False)
    verdict = PointGrade(0, question.key_points[0].point, "missed", None, 0.0, source)
    grade = Grade(question.id, 0.0, [verdict], "", "embedding")
    report = Report((TopicScore(question.topic, 0.0, (question.id,), (source,)),),
                    (Turn(question, answer="…", grade=grade),), "embedding")
    assert "<img src=x" in report.markdown()
    shown = report.markdown(quote=escape_markdown)
    # Its HTML escaped; its inline code read as prose (the backticks go, `as_prose`).
    assert "<img" not in shown and "&lt;img src=x" in shown and "&gt; code”" in shown


def test_report_reads_as_a_record_of_the_interview() -> None:
    """The downloaded report: the learner's answers, each point's verdict with their sentence
    and the notes' evidence, the follow-up and its answer; topic names, not ids; passages as
    prose, not table rows."""
    question = next(q for q in BANK if q.topic == "rag")
    other = next(q for q in BANK if q.topic == "rag" and q is not question)
    table_row = Source("notes/rag.md#004", "notes/rag.md", "RAG > Why RAG",
                       "| Private data | **Index internal documents** |\n|---|---|", True)
    prose = Source("notes/rag.md#002", "notes/rag.md", "RAG > Pipeline",
                   "- The offline path chunks and embeds documents.", True)
    verdicts = [PointGrade(0, question.key_points[0].point, "covered", "RAG adds documents.", 0.9,
                           table_row),
                PointGrade(1, question.key_points[1].point, "missed", None, 0.1, prose)]
    grade = Grade(question.id, 5.0, verdicts, "", "embedding",
                  follow_up=FollowUp("Which step did you leave out?", 1, "template"))
    follow = Grade(question.id, 10.0, [PointGrade(1, question.key_points[1].point, "covered",
                                                  "We chunk and embed them.", 0.9, prose)],
                   "", "embedding")
    skipped = Grade(other.id, 0.0, [PointGrade(0, other.key_points[0].point, "missed", None, 0.0,
                                               prose)], "", "embedding", flags=["skipped"])
    turns = (Turn(question, "RAG adds documents.\nIt retrieves them first.", grade,
                  "We chunk and embed them.", follow),
             Turn(other, grade=skipped, explained=True))
    report = Report((TopicScore("rag", 2.5, (question.id, other.id), (prose,)),), turns,
                    "embedding", {"rag": "Retrieval-augmented generation"})
    text = report.markdown()

    assert "| Retrieval-augmented generation | 2.5/10 | 2 |" in text
    assert "## Retrieval-augmented generation: 2.5/10" in text
    assert f"### {question.question}\n\n**5.0/10**. Your answer:\n\n" \
           "> RAG adds documents.\n> It retrieves them first.\n" in text
    assert (f"- **covered**: {question.key_points[0].point}\n"
            "  - You said: “RAG adds documents.”\n"
            "  - The notes (notes/rag.md › RAG > Why RAG): "
            "“Private data · Index internal documents”") in text
    assert (f"- **missed**: {question.key_points[1].point}\n  - The notes (notes/rag.md › "
            "RAG > Pipeline): “The offline path chunks and embeds documents.”") in text
    assert ("**Follow-up:** Which step did you leave out?\n\n**10.0/10**. Your answer:\n\n"
            "> We chunk and embed them.\n\n- **covered**: ") in text
    assert f"### {other.question}\n\n**0.0/10** (explained by the tutor). The key points:" in text
    assert "### Read next\n\n- notes/rag.md › RAG > Pipeline: “The offline path" in text
    # No internal ids, no table markup, no Markdown of the notes.
    assert not re.search(r"[a-z-]+-\d{3}", text) and "#00" not in text
    assert "|---" not in text.split("|---|---:|---:|")[1] and "**Index" not in text
    body = text.split("\n## ")[1]
    assert "|" not in body


def test_passages_read_as_prose() -> None:
    assert as_prose("| Method | Memory |\n|---|---:|\n| **KV cache** | grows with L |") == (
        "Method · Memory; KV cache · grows with L")
    # A review card's back quotes its passage: the row keeps the quote around it.
    assert as_prose("From the notes (rag.md › Pipeline):\n“Online: generate.\n| Stage | Role |”") == (
        "From the notes (rag.md › Pipeline): “Online: generate. Stage · Role”")
    assert as_prose("“The sentence. | Stage | Role |”") == "“The sentence. Stage · Role”"
    # A quoted note with inline code, as the LoRA section has one: no ">" and no backticks.
    assert as_prose("> Correction: the update `B·A` needs `B ∈ R^(d×r)`.") == (
        "Correction: the update B·A needs B ∈ R^(d×r).")
    assert as_prose("- A list item.\n## A heading\nA pipe | inside prose.") == (
        "A list item. A heading A pipe | inside prose.")
