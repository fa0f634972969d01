"""`tutor ingest` end to end as typed (`tutor.cli.main.main` in this process, so the models load
once for the whole suite): a valid PDF and a valid HTML page become passages `tutor retrieve`
finds, and `--rebuild` starts the index from what it is given now.

The documents are written here, in our own words. The PDF is made with pypdf (the library
tutor/store/documents.py reads PDFs with; the only PDF writer in the environment): a page whose
content stream draws text in the standard Helvetica font, so it has a real text layer, as a
PDF exported from a word processor does, and pypdf writes the xref table.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from support import Cli

PDF_LINES = [
    "Speculative decoding",
    "",
    "A small draft model proposes several tokens ahead, and the large target model checks",
    "all of them in one forward pass. Tokens the target agrees with are kept for free; at the",
    "first disagreement the target's own token is used and drafting starts again from there.",
    "The output distribution is exactly the target model's, so quality does not change; only",
    "the number of slow target passes per generated token goes down.",
]

HTML_PAGE = """<!doctype html>
<html><head><title>Adapters</title><style>body { font-family: serif; }</style></head>
<body>
<nav><a href="/">Home</a> | <a href="/blog">Blog</a> | Subscribe to the newsletter</nav>
<main>
<h1>Low-rank adapters</h1>
<p>LoRA freezes the pretrained weight matrix and learns a low-rank update next to it: two thin
matrices whose product has the shape of the frozen weight. Only the thin matrices get
gradients, so the optimizer state shrinks to a small fraction of full fine-tuning.</p>
<p>After training the product can be merged into the frozen weight, which means the adapted
model runs with no extra latency at inference time.</p>
</main>
<script>window.trackPageView("adapters-page-analytics-beacon");</script>
<footer>Copyright the example site</footer>
</body></html>
"""

DISTRACTOR = """# Tokenizers

## Byte-pair encoding

Byte-pair encoding starts from single bytes and repeatedly merges the most frequent adjacent
pair into a new symbol, until the vocabulary reaches the size chosen in advance.
"""


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds `lines`, one per line, in Helvetica."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    helvetica = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    })
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): helvetica})})
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    content = DecodedStreamObject()
    content.set_data("\n".join(ops).encode("latin-1"))
    page.replace_contents(content)
    out = io.BytesIO()
    writer.write(out)
    raw = out.getvalue()
    # The file itself is sound (a strict reader accepts it), so a failure below is the tutor's.
    assert "draft model proposes" in PdfReader(io.BytesIO(raw), strict=True).pages[0].extract_text()
    return raw


def retrieve_all(cli: Cli, data: Path, questions: dict[str, str], tmp_path: Path, *, k: int
                 ) -> dict[str, Any]:
    """`tutor retrieve --file --json` over `questions` (id -> question) in one process."""
    batch = tmp_path / f"questions-{len(list(tmp_path.glob('questions-*')))}.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in questions.items()))
    done = cli("retrieve", "--file", str(batch), "--json", "--k", str(k), data=data)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {row["id"]: row for row in rows}


def test_a_pdf_and_an_html_page_are_ingested_and_found(cli: Cli, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "decoding.pdf").write_bytes(text_pdf(PDF_LINES))
    (docs / "adapters.html").write_text(HTML_PAGE, encoding="utf-8")
    (docs / "tokenizers.md").write_text(DISTRACTOR, encoding="utf-8")
    data = tmp_path / "data"

    done = cli("ingest", str(docs), data=data)
    assert done.returncode == 0, done.stderr
    assert "3 added, 0 updated, 0 unchanged, 0 removed, 0 rejected" in done.stdout

    found = retrieve_all(cli, data, {
        "pdf": "How does a draft model make generation faster without changing the output?",
        "html": "Why can a LoRA update be merged so that inference has no extra latency?",
    }, tmp_path, k=1)
    pdf_hit = found["pdf"]["hits"][0]
    assert found["pdf"]["relevant"] and pdf_hit["doc"] == "docs/decoding.pdf"
    assert "exactly the target model's" in " ".join(pdf_hit["text"].split())  # the PDF's own words
    html_hit = found["html"]["hits"][0]
    assert found["html"]["relevant"] and html_hit["doc"] == "docs/adapters.html"
    assert "merged into the frozen weight" in " ".join(html_hit["text"].split())
    # The page's chrome and script are not part of the passage a learner is shown.
    assert "Subscribe" not in html_hit["text"] and "analytics-beacon" not in html_hit["text"]


KEPT = """# Quantization

## Weight-only quantization

Weight-only quantization stores the weights in four or eight bits and turns them back into
sixteen-bit values just before each matrix multiply, so memory traffic drops while the
arithmetic stays in higher precision.
"""

GONE = """# Beam search

## Keeping several hypotheses

Beam search keeps the few highest-scoring partial sequences at every step instead of only the
single best one, and returns the finished sequence with the best total log-probability.
"""

ELSEWHERE = """# Mixture of experts

## Routing

A router sends every token to a small number of expert feed-forward blocks chosen from many,
so the parameter count grows while the compute per token stays close to a dense model's.
"""

QUESTIONS = {
    "kept": "Why does storing weights in four bits reduce memory traffic?",
    "gone": "How does beam search keep several partial sequences?",
    "elsewhere": "How does a router pick expert blocks for each token?",
}


def test_rebuild_keeps_only_what_it_is_given_now(cli: Cli, tmp_path: Path) -> None:
    notes, other = tmp_path / "notes", tmp_path / "other"
    notes.mkdir()
    other.mkdir()
    (notes / "quantization.md").write_text(KEPT, encoding="utf-8")
    (notes / "beam-search.md").write_text(GONE, encoding="utf-8")
    (other / "moe.md").write_text(ELSEWHERE, encoding="utf-8")
    data = tmp_path / "data"
    done = cli("ingest", str(notes), str(other), data=data)
    assert done.returncode == 0, done.stderr
    assert "3 added" in done.stdout

    # The control: before the rebuild, each question finds its own document.
    before = retrieve_all(cli, data, QUESTIONS, tmp_path, k=1)
    assert before["kept"]["hits"][0]["doc"] == "notes/quantization.md"
    assert before["gone"]["hits"][0]["doc"] == "notes/beam-search.md"
    assert before["elsewhere"]["hits"][0]["doc"] == "other/moe.md"

    (notes / "beam-search.md").unlink()
    done = cli("ingest", "--rebuild", str(notes), data=data)
    assert done.returncode == 0, done.stderr
    # From scratch: the kept note is embedded again ("added"), not skipped as unchanged as a
    # plain `tutor ingest` would, and the command says what it did and what left the index.
    assert "1 added, 0 updated, 0 unchanged, 2 removed, 0 rejected" in done.stdout
    assert "note: index rebuilt from scratch from the paths given (3 document(s) were indexed before)" in done.stderr

    after = retrieve_all(cli, data, QUESTIONS, tmp_path, k=5)
    assert after["kept"]["hits"][0]["doc"] == "notes/quantization.md" and after["kept"]["relevant"]
    # The file deleted from the folder, and the folder not given this time (which a plain
    # ingest of notes/ would have kept), are gone from the index: no question reaches them.
    docs_left = {hit["doc"] for row in after.values() for hit in row["hits"]}
    assert docs_left == {"notes/quantization.md"}
