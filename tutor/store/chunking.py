"""Chunking: a clean document → passages of at most `chunk_tokens` embedder tokens, each
named by its section path ("Doc > Heading > Subheading")."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from tutor.config import Settings
from tutor.records import Chunk
from tutor.store.documents import Document


class Chunker:
    """Split on headings first (llama-index's Markdown parser keeps code blocks whole), then
    by embedder tokens with overlap, so no chunk is truncated by the embedder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _count(self) -> Callable[[str], list[int]]:
        # The embedder's own WordPiece tokenizer (via `tokenizers`, no torch import), so
        # "220 tokens" means what the embedder will see.
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(Path(self.settings.embedder_path()) / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return lambda text: tok.encode(text, add_special_tokens=False).ids

    @cached_property
    def _splitter(self):  # type: ignore[no-untyped-def]
        from llama_index.core.node_parser import SentenceSplitter

        return SentenceSplitter(
            chunk_size=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap_tokens,
            tokenizer=self._count,
        )

    def split(self, doc: Document) -> list[Chunk]:
        from llama_index.core import Document as LlamaDocument
        from llama_index.core.node_parser import MarkdownNodeParser

        nodes = MarkdownNodeParser().get_nodes_from_documents([LlamaDocument(text=doc.text)])
        pieces: list[tuple[str, str]] = []  # (section path, text)
        carry = ""
        for node in nodes:
            text = node.get_content().strip()
            heading, body = _split_heading(text)
            parts = [p for p in str(node.metadata.get("header_path", "/")).split("/") if p]
            if heading:
                parts.append(heading)
            if parts and parts[0] != doc.title:
                parts.insert(0, doc.title)
            section = " > ".join(parts) or doc.title
            if len(body) < self.settings.min_chunk_chars:
                # A heading with (almost) no text of its own: fold it into the next passage
                # instead of indexing an empty chunk.
                carry = f"{carry}\n\n{text}".strip()
                continue
            text = f"{carry}\n\n{text}".strip() if carry else text
            carry = ""
            pieces.extend(self._fit(section, heading, text))
        if carry and pieces:
            section, last = pieces[-1]
            pieces[-1] = (section, f"{last}\n\n{carry}")
        elif carry:
            pieces.append((doc.title, carry))
        return [
            Chunk(
                id=f"{doc.id}#{i:03d}", doc=doc.id, title=doc.title, section=section, text=text,
                hash=hashlib.sha256(text.encode()).hexdigest(),
            )
            for i, (section, text) in enumerate(pieces)
        ]

    def _fit(self, section: str, heading: str | None, text: str) -> list[tuple[str, str]]:
        if len(self._count(text)) <= self.settings.chunk_tokens:
            return [(section, text)]
        parts = self._splitter.split_text(text)
        # Later parts lose the heading line; put it back so each passage names its topic.
        prefix = f"{heading}\n\n" if heading else ""
        return [(section, p if i == 0 or not prefix else prefix + p) for i, p in enumerate(parts)]


def _split_heading(text: str) -> tuple[str | None, str]:
    first, _, rest = text.partition("\n")
    if first.startswith("#"):
        return first.lstrip("#").strip(), rest.strip()
    return None, text
