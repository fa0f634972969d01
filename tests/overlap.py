"""Find word sequences that a file shares with the user's source pages.

The knowledge base must be written in our own words (facts carry over, wording does
not), so the test suite fails on any 10-word sequence shared with `../shared/source-pages/`.
Run it by hand while writing notes: `python tests/overlap.py corpus/rag.md`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

SOURCE_PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "source-pages"
WINDOW = 10


def words(text: str) -> list[str]:
    # Case- and whitespace-insensitive; punctuation is dropped too, which only makes the
    # check stricter (a copied sentence cannot hide behind a changed comma).
    return re.findall(r"[a-z0-9]+", text.lower())


def ngrams(tokens: list[str], n: int = WINDOW) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def source_ngrams(folder: Path = SOURCE_PAGES) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for page in sorted(folder.iterdir()):
        grams |= ngrams(words(page.read_text(encoding="utf-8", errors="replace")))
    return grams


def shared_sequences(text: str, reference: set[tuple[str, ...]]) -> list[str]:
    return sorted({" ".join(g) for g in ngrams(words(text)) if g in reference})


def main(paths: Iterable[str]) -> int:
    reference = source_ngrams()
    failed = 0
    for name in paths:
        hits = shared_sequences(Path(name).read_text(encoding="utf-8"), reference)
        for hit in hits:
            print(f"{name}: shares '{hit}'")
        failed += bool(hits)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
