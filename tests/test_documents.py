"""Reading and cleaning documents, including the user's messy saved web pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import SOURCE_PAGES, needs_source_pages

from tutor.config import Settings
from tutor.errors import DocumentError
from tutor.store.chunking import Chunker
from tutor.store.documents import clean_markdown, html_to_markdown, plain_to_markdown, read_document

MB = 1_000_000
CHROME = re.compile(
    r"min read|Skip to content|Latest commit|File metadata and controls|Ask me anything|"
    r"learning assistant|%%\{init|flowchart LR|subgraph|style \w+ fill:|loc\) ·",
)


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@needs_source_pages()
@pytest.mark.parametrize("page", sorted(p.name for p in SOURCE_PAGES.glob("*")) if SOURCE_PAGES.is_dir() else [])
def test_source_pages_are_cleaned_and_chunked(page: str, tmp_path: Path) -> None:
    doc = read_document(SOURCE_PAGES / page, page, 20 * MB)
    assert not CHROME.search(doc.text), CHROME.search(doc.text)
    chunks = Chunker(Settings(data_dir=tmp_path)).split(doc)
    assert chunks
    sizes = [len(c.text) for c in chunks]
    assert min(sizes) >= 40, "an empty or near-empty chunk was produced"
    assert max(sizes) <= 2000, "a giant chunk was produced"
    assert len({c.id for c in chunks}) == len(chunks)


@needs_source_pages()
def test_source_page_headings_are_recovered(tmp_path: Path) -> None:
    expected = {
        "000_11fdec232bc23314.txt": ["1.2: Transformer Internals", "4.1: Context Extension Strategies"],
        "001_157f961151170c7b.txt": ["Scaled Dot-Product Attention", "KV Cache", "Speculative Decoding"],
        "002_1cde3a15f628737b.txt": ["5. Retrieval-Augmented Generation (RAG)", "Lost in the Middle"],
        "004_467876f4c617d2b9.txt": ["Conceptual Depth Questions", "Tricky or Edge-Case Questions"],
    }
    for page, headings in expected.items():
        doc = read_document(SOURCE_PAGES / page, page, 20 * MB)
        found = {line.lstrip("#").strip() for line in doc.text.splitlines() if line.startswith("#")}
        assert set(headings) <= found, (page, set(headings) - found)
        sections = {c.section for c in Chunker(Settings(data_dir=tmp_path)).split(doc)}
        assert any(headings[0] in s for s in sections)


def test_mermaid_block_removed_but_glued_prose_kept() -> None:
    text = (
        "Why Transformers\nSequential models are slow.\n"
        "%%{init: {'theme': 'base'}}%%\nflowchart LR\nsubgraph RNN[\"RNN\"]\n"
        "W1([\"Word 1\"]) --> H1{{\"h1\"}}\nend\n"
        "style RNN fill:#FEF3C7,stroke:#D97706,color:#000 In 2017 a new design appeared.\n"
    )
    out = plain_to_markdown(text)
    assert "flowchart" not in out and "-->" not in out and "subgraph" not in out
    assert "In 2017 a new design appeared." in out


def test_markdown_keeps_tables_code_and_headings() -> None:
    md = "# T\n\n## Part\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\n# not a heading\nx = 1\n```\n"
    out = clean_markdown(md)
    assert "| 1 | 2 |" in out and "# not a heading" in out and "## Part" in out


def test_mermaid_fence_dropped_from_markdown() -> None:
    out = clean_markdown("# T\n\n```mermaid\ngraph TD\nA-->B\n```\n\nText stays.\n")
    assert "graph TD" not in out and "Text stays." in out


def test_html_drops_navigation_and_scripts() -> None:
    html = (
        "<html><body><nav>Home | Blog</nav><main><h1>Attention</h1><p>Scores are scaled.</p>"
        "<pre><code>softmax(x)</code></pre><table><tr><th>a</th></tr><tr><td>1</td></tr></table>"
        "</main><script>alert(1)</script><footer>© site</footer></body></html>"
    )
    out = html_to_markdown(html)
    assert "# Attention" in out and "Scores are scaled." in out and "softmax(x)" in out
    assert "Home | Blog" not in out and "alert" not in out and "© site" not in out


def test_html_text_a_browser_hides_is_not_indexed() -> None:
    html = (
        "<main><h1>KV cache</h1><p>Keys and values are kept.</p>"
        "<div style=\"color: red; display: none\">Subscribe to our newsletter</div>"
        "<p style=\"visibility:hidden\">Variant B headline</p><div hidden>Cookie settings</div>"
        "<template><p>Modal body</p></template><p style=\"display: block\">It grows with length.</p></main>"
    )
    out = html_to_markdown(html)
    assert "Keys and values are kept." in out and "It grows with length." in out
    for hidden in ("newsletter", "Variant B", "Cookie", "Modal"):
        assert hidden not in out


def test_front_matter_gives_title(tmp_path: Path) -> None:
    path = _write(tmp_path, "n.md", "---\ntitle: Notes on RoPE\ntopics: [rope]\n---\n\n# Other\n\nRotations encode position.\n")
    doc = read_document(path, "n.md", MB)
    assert doc.title == "Notes on RoPE" and doc.meta["topics"] == ["rope"]
    assert "topics:" not in doc.text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blob.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary file"),
        ("spaces.md", b"   \n\n  \n", "no readable text"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "cannot read this PDF"),
        ("bad.md", b"---\ntitle: [unclosed\n---\n\nBody text that is long enough.\n", "malformed YAML"),
        ("image.png", b"\x89PNG", "unsupported type"),
    ],
)
def test_bad_documents_are_rejected_with_a_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        read_document(_write(tmp_path, name, data), name, MB)


def test_huge_file_is_rejected_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(50 * MB)  # sparse: 50 MB on paper, nothing written
    with pytest.raises(DocumentError, match=r"too large \(50.0 MB > 20 MB"):
        read_document(path, "huge.txt", 20 * MB)


def test_non_utf8_text_is_decoded_with_a_note(tmp_path: Path) -> None:
    text = "Café au lait — naïve résumé of attention: scores are scaled by the key size.\n" * 3
    path = _write(tmp_path, "latin.txt", text.encode("cp1252"))
    doc = read_document(path, "latin.txt", MB)
    assert "naïve résumé" in doc.text
    assert doc.notes and "not UTF-8" in doc.notes[0]
