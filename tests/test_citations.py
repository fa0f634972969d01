"""Citation markers: parsing while streaming, dropping invalid ones, sentences, support."""

from __future__ import annotations

import random

import pytest

from tutor.answering.citations import CitationParser, parse_citations
from tutor.records import CitationUse, ParsedCitations
from tutor.sentences import parsed_sentences, split_sentences


def stream(deltas: list[str], n_passages: int | None = 3) -> tuple[str, ParsedCitations]:
    """Feed deltas as a stream; return what a UI would have shown, and the result."""
    parser = CitationParser(n_passages)
    shown = "".join(parser.feed(d) for d in deltas) + parser.finish()
    result = parser.result()
    assert shown == result.text  # what was displayed is exactly the final text
    return shown, result


def every_split(text: str, n_passages: int | None = 3) -> ParsedCitations:
    """Parse `text` whole, char by char, at every 2-way split and at random splits:
    the result must not depend on how the stream was cut."""
    whole = parse_citations(text, n_passages)
    cuts: list[list[str]] = [list(text)]
    cuts += [[text[:i], text[i:]] for i in range(len(text) + 1)]
    rng = random.Random(7)
    for _ in range(30):
        points = sorted(rng.sample(range(len(text) + 1), k=min(4, len(text) + 1)))
        cuts.append([text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)])
    for deltas in cuts:
        _, result = stream(deltas, n_passages)
        assert result == whole, deltas
    return whole


# --- markers ------------------------------------------------------------------------


def test_plain_markers_kept_and_positioned() -> None:
    r = every_split("Attention mixes values [1]. Heads run in parallel [2].")
    assert r.text == "Attention mixes values [1]. Heads run in parallel [2]."
    assert [m.number for m in r.markers] == [1, 2]
    for m in r.markers:
        assert r.text[m.start : m.end] == f"[{m.number}]"
    assert r.dropped == 0


@pytest.mark.parametrize(
    "deltas",
    [
        ["Scaling helps [", "1", "]."],
        ["Scaling helps ", "[", "1", "]", "."],
        ["Scaling helps [1", "]."],
        ["Scaling helps [1]", "."],
    ],
)
def test_marker_split_across_deltas(deltas: list[str]) -> None:
    shown, r = stream(deltas)
    assert shown == "Scaling helps [1]."
    assert [(m.number, m.start) for m in r.markers] == [(1, 14)]


def test_nothing_is_shown_before_a_marker_is_decided() -> None:
    parser = CitationParser(2)
    assert parser.feed("Dropout regularises [") == "Dropout regularises"
    assert parser.feed("9") == ""  # still could be [9], [91], [9, 1] ...
    assert parser.feed("]") == ""  # complete, but "[9](url)" would be a link
    assert parser.feed(".") == "."  # [9] is invalid: dropped with its space
    assert parser.finish() == ""
    assert parser.result().text == "Dropout regularises."
    assert parser.result().dropped == 1


def test_invalid_numbers_dropped_and_counted() -> None:
    r = every_split("LoRA adds low-rank updates [4]. It freezes the base [0][2]. Cheap [99].")
    assert r.text == "LoRA adds low-rank updates. It freezes the base [2]. Cheap."
    assert r.dropped == 3
    assert sorted(r.dropped_numbers) == [0, 4, 99]
    assert r.cited == (2,)


def test_dropped_marker_between_words_keeps_one_space() -> None:
    assert parse_citations("the cache [7] grows", 3).text == "the cache grows"
    assert parse_citations("the cache [7]grows", 3).text == "the cache grows"
    assert parse_citations("the cache[7]. Next", 3).text == "the cache. Next"


@pytest.mark.parametrize(
    ("raw", "clean", "numbers"),
    [
        ("Both [1, 2].", "Both [1][2].", [1, 2]),
        ("Both [1,2].", "Both [1][2].", [1, 2]),
        ("Both [1; 3].", "Both [1][3].", [1, 3]),
        ("Both [1][2].", "Both [1][2].", [1, 2]),
        ("Both [1, 1].", "Both [1].", [1]),
        ("All [1-3].", "All [1][2][3].", [1, 2, 3]),
        ("All [1\u20132].", "All [1][2].", [1, 2]),
        ("Labelled [Passage 2].", "Labelled [2].", [2]),
        ("Labelled [passages 1, 3].", "Labelled [1][3].", [1, 3]),
        ("Labelled [source #1].", "Labelled [1].", [1]),
        ("Mixed [1, 9].", "Mixed [1].", [1]),
    ],
)
def test_multi_marker_forms(raw: str, clean: str, numbers: list[int]) -> None:
    r = every_split(raw)
    assert r.text == clean
    assert [m.number for m in r.markers] == numbers


def test_mixed_valid_and_invalid_in_one_marker_counts_the_invalid() -> None:
    r = parse_citations("Mixed [1, 9, 12].", 3)
    assert r.text == "Mixed [1]."
    assert r.dropped == 2


@pytest.mark.parametrize(
    "text",
    [
        "Read [the guide](https://example.org/guide) first.",
        "Link with a number [1](https://example.org) is a link.",
        "A checkbox [x] and an empty pair [] stay.",
        "Brackets [see below] and [note 1] are prose.",
        "Escaped \\[1] is literal.",
        "A long bracket [passage passage passage passage passage passage 1] stays.",
        "Range too wide [1-900] is not a citation list.",
    ],
)
def test_not_citations_pass_through(text: str) -> None:
    r = every_split(text)
    if "[1-900]" in text:  # a marker shape, but no sensible citation: dropped, counted
        assert r.text == "Range too wide is not a citation list."
        assert r.dropped == 1
        return
    assert r.text == text
    assert r.markers == ()
    assert r.dropped == 0


def test_bracket_then_marker() -> None:
    r = every_split("Nested [[1]] and [x][2].")
    assert r.text == "Nested [[1]] and [x][2]."
    assert [m.number for m in r.markers] == [1, 2]


# --- code ---------------------------------------------------------------------------


def test_inline_code_is_not_cited() -> None:
    r = every_split("Index with `xs[1]` or `xs[0]`; the rule is stated in [2].")
    assert r.text == "Index with `xs[1]` or `xs[0]`; the rule is stated in [2]."
    assert [m.number for m in r.markers] == [2]
    assert r.dropped == 0
    assert [r.text[s:e] for s, e in r.code_ranges] == ["`xs[1]`", "`xs[0]`"]


def test_double_backtick_span_with_single_backtick_inside() -> None:
    r = every_split("Use ``a[`1`]`` here [1].")
    assert r.text == "Use ``a[`1`]`` here [1]."
    assert [m.number for m in r.markers] == [1]


def test_fenced_code_block_is_untouched() -> None:
    text = (
        "Slicing works like this [1]:\n"
        "```python\n"
        "layers = model.layers[1:4]\n"
        "x = hidden[0]  # [7] is not a citation\n"
        "```\n"
        "After the block, citations count again [2]."
    )
    r = every_split(text)
    assert r.text == text
    assert [m.number for m in r.markers] == [1, 2]
    assert r.dropped == 0
    ((start, end),) = r.code_ranges
    assert r.text[start:end].startswith("```python") and r.text[start:end].endswith("```\n")


def test_tilde_fence_and_longer_fence() -> None:
    text = "~~~\na[9]\n~~~\n````md\n```\nb[9]\n```\n````\nok [1]"
    r = every_split(text)
    assert r.text == text
    assert [m.number for m in r.markers] == [1]
    assert r.dropped == 0


def test_unclosed_fence_runs_to_the_end() -> None:
    r = every_split("Look [1]:\n```\ncode[5]\n")
    assert r.text == "Look [1]:\n```\ncode[5]\n"
    assert r.dropped == 0


def test_unclosed_inline_backtick_is_literal() -> None:
    # No closing backtick before the paragraph ends: CommonMark shows a literal `
    # and the markers after it are citations.
    r = every_split("A stray ` tick [1] here.\n\nNext [2] and [8].")
    assert r.text == "A stray ` tick [1] here.\n\nNext [2] and."
    assert [m.number for m in r.markers] == [1, 2]
    assert r.dropped == 1
    r = every_split("Ends in a tick ` [1]")
    assert r.text == "Ends in a tick ` [1]"
    assert [m.number for m in r.markers] == [1]


def test_strikethrough_tildes_are_text() -> None:
    assert parse_citations("It is ~~not~~ linear [1].", 3).text == "It is ~~not~~ linear [1]."


# --- ends of the stream ---------------------------------------------------------------


def test_empty_text() -> None:
    shown, r = stream([])
    assert shown == "" and r.text == "" and r.markers == () and r.dropped == 0
    assert split_sentences("") == []
    _, r = stream(["", "", ""])
    assert r.text == ""


@pytest.mark.parametrize(
    ("deltas", "clean", "dropped"),
    [
        (["Ends with a citation [", "2", "]"], "Ends with a citation [2]", 0),
        (["Ends with a bad one [", "5", "]"], "Ends with a bad one", 1),
        (["Ends mid-marker [", "2"], "Ends mid-marker [2", 0),
        (["Ends in a bracket ["], "Ends in a bracket [", 0),
        (["Trailing space   "], "Trailing space   ", 0),
        (["Ends in code `x[1]`"], "Ends in code `x[1]`", 0),
        (["Ends in ticks ``"], "Ends in ticks ``", 0),
        (["[1] opens the answer."], "[1] opens the answer.", 0),
    ],
)
def test_markers_at_the_very_end(deltas: list[str], clean: str, dropped: int) -> None:
    shown, r = stream(deltas)
    assert shown == clean
    assert r.dropped == dropped


def test_finish_is_idempotent_and_feed_after_finish_fails() -> None:
    parser = CitationParser(1)
    parser.feed("Done [1]")
    assert parser.finish() == " [1]"
    assert parser.finish() == ""
    with pytest.raises(RuntimeError):
        parser.feed("more")


def test_citation_uses_count_and_positions() -> None:
    r = parse_citations("A [1]. B [2]. C [1][2]. D [1].", 2)
    assert r.citations == (
        CitationUse(1, 3, (2, 16, 26)),
        CitationUse(2, 2, (9, 19)),
    )
    assert r.cited == (1, 2)


def test_no_passages_means_every_marker_is_dropped() -> None:
    r = parse_citations("Made up [1]. Also [2].", 0)
    assert r.text == "Made up. Also."
    assert r.dropped == 2


# --- sentences ------------------------------------------------------------------------


def test_split_sentences_with_citations() -> None:
    text = (
        "KV caching stores keys and values [1]. It trades memory for speed, e.g. in "
        "decoding [1][2]! Is it free? No. [3]\n"
        "- Paged attention splits the cache into blocks [2].\n"
        "1. Quantised caches use 8 bits [3]."
    )
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "KV caching stores keys and values [1].",
        "It trades memory for speed, e.g. in decoding [1][2]!",
        "Is it free?",
        "No. [3]",
        "- Paged attention splits the cache into blocks [2].",
        "1. Quantised caches use 8 bits [3].",
    ]
    assert [s.citations for s in sentences] == [(1,), (1, 2), (), (3,), (2,), (3,)]
    for s in sentences:
        assert text[s.start : s.end] == s.text


def test_split_sentences_keeps_numbers_and_code_whole() -> None:
    text = (
        "Version 3.5 uses top-p 0.9 [1]. See:\n```\nx = 1. y = 2.\nz[4]\n```\n"
        "Then `a.b()` runs [2]."
    )
    sentences = split_sentences(text)
    assert [(s.text, s.citations, s.is_code) for s in sentences] == [
        ("Version 3.5 uses top-p 0.9 [1].", (1,), False),
        ("See:", (), False),
        ("```\nx = 1. y = 2.\nz[4]\n```", (), True),
        ("Then `a.b()` runs [2].", (2,), False),
    ]


def test_marker_alone_on_a_line_cites_the_sentence_before() -> None:
    sentences = split_sentences("The mask hides future tokens.\n[2]")
    assert [(s.text, s.citations) for s in sentences] == [("The mask hides future tokens.", (2,))]


def test_sentences_from_a_parse_see_only_valid_markers() -> None:
    r = parse_citations("Good [1]. Invented [4]. Uncited.", 2)
    assert [(s.text, s.citations) for s in parsed_sentences(r)] == [
        ("Good [1].", (1,)),
        ("Invented.", ()),
        ("Uncited.", ()),
    ]
