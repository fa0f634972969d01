"""Ingest: files and folders → clean documents → chunks → the index, incrementally.

A document is re-embedded only when its bytes (or the chunking settings) changed; chunks of
documents that vanished from an ingested folder are removed. Every run ends with a one-line
summary, and every rejected file says why, so a bad file never costs the others.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from tutor.config import Settings
from tutor.errors import DocumentError
from tutor.records import Chunk
from tutor.store.chunking import Chunker
from tutor.store.documents import SUPPORTED_SUFFIXES, Document, read_document
from tutor.store.index import Bm25Encoder, Index, IndexedDocument
from tutor.store.shipped_vectors import embedder_key, shipped_vectors

log = logging.getLogger(__name__)

# Bump when cleaning or splitting changes, so every document is re-chunked on the next run.
PIPELINE_VERSION = "1"
IGNORE_FILE = ".tutorignore"
_SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".tutor"}
# Chunks embedded per group across documents (Ingestor._embedded): a few full batches of the
# model (TUTOR_EMBED_BATCH_SIZE, 16), and few enough that documents reach the index every
# few seconds of a long run rather than all at its end.
_EMBED_GROUP = 64


@dataclass(frozen=True, slots=True)
class Rejected:
    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chunks_written: int = 0
    chunks_shipped: int = 0  # of those, how many took their vector from tutor/store/shipped_vectors.py
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        counts = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.rejected)} rejected"
        )
        if self.rejected:
            counts += " (" + "; ".join(f"{r.path}: {r.reason}" for r in self.rejected) + ")"
        shipped = f" ({self.chunks_shipped} with shipped vectors)" if self.chunks_shipped else ""
        chunks = f"{self.chunks_written} chunk{'' if self.chunks_written == 1 else 's'}"
        return f"Ingest: {counts}; {chunks} written{shipped} in {self.seconds:.1f} s."


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """How far a run's writing has got, after each document (Ingestor.run's `on_progress`)."""

    documents_done: int
    documents: int
    chunks_done: int
    chunks: int
    seconds: float

    @property
    def fraction(self) -> float:
        return self.chunks_done / self.chunks if self.chunks else 1.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None before the first document is written)."""
        if not self.chunks_done:
            return None
        return (self.chunks - self.chunks_done) * self.seconds / self.chunks_done

    def line(self) -> str:
        eta = self.eta_s
        left = "" if eta is None or self.chunks_done == self.chunks else f", about {_duration(eta)} left"
        return (f"{self.documents_done} of {self.documents} documents, "
                f"{self.chunks_done:,} of {self.chunks:,} passages{left}")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@dataclass(frozen=True, slots=True)
class Source:
    """A file to ingest, with its document id and the folder it was found in (if any)."""

    path: Path
    doc_id: str
    folder: Path | None


def discover(paths: Iterable[Path]) -> tuple[list[Source], list[Rejected], list[Path]]:
    """Files to ingest, paths rejected (with why) and the folders that were scanned."""
    sources: list[Source] = []
    rejected: list[Rejected] = []
    folders: list[Path] = []
    for given in paths:
        path = given.expanduser().resolve()
        if not path.exists():
            rejected.append(Rejected(str(given), "not found"))
        elif path.is_dir():
            folders.append(path)
            ignored = _ignore_patterns(path)
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not _SKIPPED_DIRS & set(p.relative_to(path).parts[:-1])
                and not p.name.startswith(".")
                and not any(fnmatch(p.relative_to(path).as_posix(), pat) for pat in ignored)
            )
            if not found:
                rejected.append(Rejected(
                    str(given), f"no files to ingest here (supported: {', '.join(SUPPORTED_SUFFIXES)})"
                ))
            sources.extend(Source(p, f"{path.name}/{p.relative_to(path).as_posix()}", path) for p in found)
        else:
            sources.append(Source(path, path.name, None))
    return sources, rejected, folders


def _ignore_patterns(folder: Path) -> list[str]:
    """Glob patterns from the folder's `.tutorignore` (like .gitignore, one per line), so a
    knowledge base can keep files that are not study material (indexes, authoring notes)."""
    ignore = folder / IGNORE_FILE
    if not ignore.is_file():
        return []
    lines = ignore.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


class Ingestor:
    def __init__(self, settings: Settings, index: Index) -> None:
        self.settings = settings
        self.index = index
        self.chunker = Chunker(settings)
        # The bundled embedder by its weights' hash, not its path: the path changes with the
        # checkout, and a moved or cloned repo must not re-embed every document.
        fingerprint = (
            f"{PIPELINE_VERSION}|{settings.chunk_tokens}|{settings.chunk_overlap_tokens}|"
            f"{settings.min_chunk_chars}|{embedder_key(settings)}"
        )
        self._fingerprint = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]

    def doc_hash(self, content_hash: str) -> str:
        return f"{content_hash}:{self._fingerprint}"

    def run(self, paths: Sequence[Path], *, rebuild: bool = False, progress: bool | None = None,
            on_progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        """Ingest `paths` (files or folders). `progress`: a terminal bar (None: only on a
        terminal, for a long run); `on_progress`: called after each document written (the
        app's progress bar)."""
        started = time.perf_counter()
        report = IngestReport()
        sources, report.rejected, folders = discover(paths)
        # A rebuild starts from an empty index: what was indexed before and is not read again
        # now is reported as removed (a learner should see that documents left the index).
        before = [d.doc for d in self.index.documents()] if rebuild and self.index.exists() else []
        if rebuild:
            self.index.drop()
            report.notes.append(f"index rebuilt from scratch from the paths given ({len(before)} "
                                "document(s) were indexed before)")
        self._check_model(report)
        stored = {d.doc: d for d in self.index.documents()}

        # Documents whose file is gone from a folder scanned now: removed at the end, and no
        # longer the kept copy that a surviving duplicate would be rejected against.
        vanished = {
            doc_id for doc_id, old in stored.items()
            if old.path and any(Path(old.path).is_relative_to(f) for f in folders) and not Path(old.path).exists()
        }
        todo, seen_docs = self._select(sources, stored, vanished, report)
        if todo:
            self._write(todo, report, progress, on_progress)
        # Documents that vanished from a folder we just scanned (never from other folders).
        for doc_id in sorted(vanished - seen_docs.keys()):
            self.index.delete_doc(doc_id)
            report.removed.append(doc_id)
        report.removed.extend(sorted(set(before) - set(report.added)))
        report.seconds = time.perf_counter() - started
        log.info(report.summary())
        return report

    def _select(self, sources: Sequence[Source], stored: dict[str, IndexedDocument], vanished: set[str],
                report: IngestReport) -> tuple[list[tuple[Document, bool]], dict[str, Path]]:
        """The documents to write (each with whether it replaces a stored one), and every
        document id read now with its path; rejections and unchanged ones go to `report`."""
        todo: list[tuple[Document, bool]] = []  # (document, is an update)
        seen_hashes = {d.doc_hash.split(":")[0]: d.doc for d in stored.values() if d.doc not in vanished}
        seen_docs: dict[str, Path] = {}
        max_bytes = int(self.settings.max_file_mb * 1_000_000)
        for source in sources:
            shown = _shown(source)
            clash = self._clash(source, seen_docs.get(source.doc_id), stored.get(source.doc_id))
            if clash:
                report.rejected.append(Rejected(shown, clash))
                continue
            seen_docs[source.doc_id] = source.path
            try:
                doc = read_document(source.path, source.doc_id, max_bytes)
            except DocumentError as exc:
                report.rejected.append(Rejected(shown, str(exc)))
                continue
            except OSError as exc:
                report.rejected.append(Rejected(shown, f"cannot read: {exc.strerror or exc}"))
                continue
            report.notes.extend(f"{shown}: {n}" for n in doc.notes)
            old = stored.get(doc.id)
            if old is not None and old.doc_hash == self.doc_hash(doc.hash):
                report.unchanged.append(doc.id)
                continue
            twin = seen_hashes.get(doc.hash)
            if twin is not None and twin != doc.id:
                report.rejected.append(Rejected(shown, f"same content as {twin}; skipped"))
                continue
            seen_hashes[doc.hash] = doc.id
            todo.append((doc, old is not None))
        return todo, seen_docs

    @staticmethod
    def _clash(source: Source, seen: Path | None, stored: IndexedDocument | None) -> str:
        """Why `source` cannot take its document id, or "": a document id is the folder's
        name plus the file's path in it, so two folders of one name (~/a/notes, ~/b/notes)
        would map to the same ids, and the second must not silently replace the first. A
        file whose recorded path is gone has moved: that is an update, not a clash."""
        if seen is not None and seen != source.path:
            return f"same document id {source.doc_id} as {seen} in this run; rename one of them"
        if stored is not None and stored.path and Path(stored.path) != source.path and Path(stored.path).exists():
            return (f"{source.doc_id} is already indexed from {stored.path}; rename this folder or file "
                    "so the names differ, or remove the other in the app's Library tab first")
        return ""

    def _check_model(self, report: IngestReport) -> None:
        if not self.index.exists():
            return
        built_with = self.index.metadata().get("embed_model")
        if built_with and built_with != self.settings.embedder_path():
            report.notes.append(f"embedding model changed (was {built_with}): index rebuilt")
            self.index.drop()

    def _write(self, todo: list[tuple[Document, bool]], report: IngestReport, progress: bool | None,
               on_progress: Callable[[IngestProgress], None] | None) -> None:
        from tqdm import tqdm

        started = time.perf_counter()
        chunked = [(doc, update, self.chunker.split(doc)) for doc, update in todo]
        total = sum(len(chunks) for _, _, chunks in chunked)
        if not self.index.exists():
            avg_len = sum(Bm25Encoder.token_count(c.text) for *_, cs in chunked for c in cs) / max(total, 1)
            dimension = shipped_vectors(self.settings).dimension or _dimension(self.settings)
            self.index.create(dimension, round(avg_len, 1), self.settings.embedder_path())
        bm25 = self.index.bm25()
        # A bar only where someone watches a long run (a terminal, more than a few batches).
        quiet = progress is False or (progress is None and (total <= 64 or not sys.stderr.isatty()))
        bar = tqdm(total=total, unit="chunk", desc="Embedding", disable=quiet, leave=False)
        done = 0
        for doc, update, chunks, dense in self._embedded(chunked, report):
            done += 1
            if not chunks:
                report.rejected.append(Rejected(doc.id, "no text left after cleaning"))
                continue
            doc_hash = self.doc_hash(doc.hash)
            extra = {"doc_hash": doc_hash, "path": str(doc.path), "ingested_at": time.time()}
            self.index.upsert(chunks, dense.tolist(), bm25.documents([c.text for c in chunks]), extra)
            # Upsert first, then drop the old version's leftovers: a crash in between leaves
            # the document searchable, never missing.
            self.index.delete_doc(doc.id, keep_hash=doc_hash)
            (report.updated if update else report.added).append(doc.id)
            report.chunks_written += len(chunks)
            bar.update(len(chunks))
            bar.set_postfix_str(f"{done}/{len(chunked)} documents", refresh=False)
            if on_progress is not None:
                on_progress(IngestProgress(done, len(chunked), report.chunks_written, total,
                                           time.perf_counter() - started))
        bar.close()

    def _embedded(self, chunked: list[tuple[Document, bool, list[Chunk]]], report: IngestReport
                  ) -> Iterator[tuple[Document, bool, list[Chunk], np.ndarray]]:
        """Each document with its chunks' vectors: the shipped ones where a chunk's text has
        one (tutor/store/shipped_vectors.py), the rest embedded in batches that run across
        documents, since a folder of small files would otherwise call the model with one or
        two chunks at a time. Documents still go to the index one by one (whole or not at
        all), in groups of about `_EMBED_GROUP` chunks so memory stays flat."""
        from tutor.retrieval.models import load_embedder

        shipped = shipped_vectors(self.settings)
        group: list[tuple[Document, bool, list[Chunk]]] = []

        def flush() -> Iterator[tuple[Document, bool, list[Chunk], np.ndarray]]:
            found = [[shipped.get(c.text) for c in chunks] for _, _, chunks in group]
            missing = [c.text for (_, _, chunks), got in zip(group, found, strict=True)
                       for c, v in zip(chunks, got, strict=True) if v is None]
            report.chunks_shipped += sum(v is not None for got in found for v in got)
            fresh = iter(load_embedder(self.settings).encode(
                missing, batch_size=self.settings.embed_batch_size, normalize_embeddings=True,
                show_progress_bar=False, convert_to_numpy=True) if missing else [])
            for (doc, update, chunks), got in zip(group, found, strict=True):
                rows = [v if v is not None else next(fresh) for v in got]
                yield doc, update, chunks, np.stack(rows) if rows else np.zeros((0, 0), np.float32)
            group.clear()

        pending = 0
        for item in chunked:
            group.append(item)
            pending += len(item[2])
            if pending >= _EMBED_GROUP:
                yield from flush()
                pending = 0
        yield from flush()


def _dimension(settings: Settings) -> int:
    from tutor.retrieval.models import embedder_dimension

    return embedder_dimension(settings)


def _shown(source: Source) -> str:
    return source.doc_id if source.folder else str(source.path)
