"""The Interview tab's verdict table, rendered from a grade (no models needed)."""

from __future__ import annotations

from tutor.app.interview_html import render_grade
from tutor.interview.grades import Grade, PointGrade, Source

NOTE = Source("notes/rag.md#002", "notes/rag.md", "RAG > Retrieval",
              "Chunks are embedded once.\n\nThe question is embedded at query time.", True)
OTHER = Source("notes/rag.md#003", "notes/rag.md", "RAG > Reranking", "A cross-encoder rereads the top hits.", True)


def test_a_passage_backing_two_points_is_quoted_once() -> None:
    verdicts = [PointGrade(0, "Chunks are embedded ahead of time.", "covered", "They embed chunks.", 0.8, NOTE),
                PointGrade(1, "The question is embedded with the same model.", "missed", None, 0.1, NOTE),
                PointGrade(2, "A reranker rereads the top hits.", "missed", None, 0.1, OTHER)]
    page = render_grade("Your answer", "They embed chunks.", Grade("rag-001", 3.3, verdicts, "Feedback.", "embedding"))
    assert page.count("Chunks are embedded once.") == 1
    assert page.count("the same passage as quoted above") == 1
    assert "A cross-encoder rereads the top hits." in page  # another passage is still quoted
    assert page.count("notes/rag.md</b> › RAG &gt; Retrieval") == 2  # where it is, on both rows
