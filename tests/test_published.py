"""The check behind "no hand-typed number in README or docs" (issue 22): what it flags, what
it lets through, and that an edited README copy of a benchmark section is caught."""

from __future__ import annotations

from tutor.evaluation.published import hand_typed, sections, stale_copies


def _numbers(text: str) -> list[str]:
    return [t.number for t in hand_typed(text)]


def test_measurements_typed_into_prose_are_flagged_with_their_line() -> None:
    text = ("# Speed\n\nHybrid search takes 2.8 ms at p95.\n"
            "The judge caught 52 of 86 contradictions, 61 % of them, MRR .901.\n")
    found = hand_typed(text)
    assert [(t.line, t.number) for t in found] == [(3, "2.8 ms"), (4, "52 of 86"), (4, "61 %"), (4, ".901")]
    assert found[0].text == "Hybrid search takes 2.8 ms at p95."


def test_generated_sections_code_and_dated_records_are_not_prose() -> None:
    text = ("<!-- bench:retrieval -->\n| p95 | 2.8 ms |\n<!-- /bench:retrieval -->\n"
            "Set `TUTOR_ANSWER_CONFIDENCE=0.45` or run:\n```\nsleep 0.5\n```\n"
            "<!-- record: 2026-12-06 be849b4 -->\nSession 5 reached MRR 0.71.\n<!-- /record -->\n"
            "Python 3.13.1, torch 2.13.0, Qwen2.5-Coder-1.5B, g-164, 20 notes.\n")
    assert _numbers(text) == []


def test_a_record_without_a_date_and_commit_does_not_excuse_its_numbers() -> None:
    undated = "<!-- record: last week -->\nMRR was 0.71.\n<!-- /record -->\n"
    assert _numbers(undated) == ["0.71"]
    assert _numbers(undated.replace("last week", "2026-12-06 nothex!")) == ["0.71"]


def test_an_edited_readme_copy_of_a_benchmark_section_is_stale() -> None:
    results = ("# Benchmarks\n\n<!-- bench:answer -->\n## Answers\n\n| TTFT p50 | 6.2 s |\n<!-- /bench:answer -->\n"
               "<!-- bench:app -->\n## App\n\n| users | 20 |\n<!-- /bench:app -->\n")
    readme = ("Intro\n<!-- bench:answer -->\n| TTFT p50 | 6.2 s |\n<!-- /bench:answer -->\n"
              "<!-- bench:app -->\n| users | 2 |\n<!-- /bench:app -->\n")
    assert sections(readme) == {"answer": "| TTFT p50 | 6.2 s |", "app": "| users | 2 |"}
    assert stale_copies(readme, results) == ["app"]
    assert stale_copies(readme.replace("| users | 2 |", "| users | 20 |"), results) == []
