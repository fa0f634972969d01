"""The Library tab: what is indexed, uploads (ingested at once, the originals kept in the data
dir so re-ingesting and removal work later), removal, and the retrieval inspector (every
stage's score for any question). File names and passages from outside are escaped."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from tutor.app.ui import error_message
from tutor.config import Settings
from tutor.errors import TutorError
from tutor.retrieval.retrieve import Retriever
from tutor.store.documents import SUPPORTED_SUFFIXES
from tutor.store.index import Index
from tutor.store.ingest import Ingestor, Rejected

MAX_UPLOAD_MB = 20


@dataclass(frozen=True, slots=True)
class LibraryTab:
    """The tab's event handlers, over the app's index and retriever."""

    settings: Settings
    index: Index
    retriever: Retriever

    def documents(self) -> list[list[Any]]:
        rows = []
        for d in self.index.documents():
            when = datetime.fromtimestamp(d.ingested_at, UTC).strftime("%Y-%m-%d %H:%M") if d.ingested_at else ""
            rows.append([d.title, d.doc, d.chunks, when])
        return rows

    # Gradio injects progress tracking through this default (its documented pattern).
    def upload(self, files: list[Any] | None, progress: gr.Progress = gr.Progress()  # noqa: B008
               ) -> tuple[str, Any, Any]:  # noqa: B008
        if not files:
            return "Choose one or more files first.", gr.update(), gr.update()
        paths, problems = [], []
        for f in files:
            path = Path(getattr(f, "name", f))
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(f"{html.escape(path.name)}: unsupported type (use {', '.join(SUPPORTED_SUFFIXES)})")
            elif path.stat().st_size > MAX_UPLOAD_MB * 1_000_000:
                problems.append(f"{html.escape(path.name)}: larger than {MAX_UPLOAD_MB} MB")
            else:
                paths.append(path)
        summary = ""
        if paths:
            progress(0.1, desc="Reading and embedding…")
            uploads = self.settings.data_dir / "uploads"
            uploads.mkdir(parents=True, exist_ok=True)
            # Keep the originals, so re-ingesting and removal work later; an earlier upload of
            # the same name is held in memory until its new version has been read.
            earlier: dict[Path, bytes] = {}
            for path in paths:
                copy = uploads / path.name
                if copy.is_file():
                    earlier[copy] = copy.read_bytes()
                copy.write_bytes(path.read_bytes())
            report = Ingestor(self.settings, self.index).run(
                [uploads], progress=False, on_progress=lambda p: progress(p.fraction, desc=p.line()))
            summary = report.summary() + self._drop_rejected(report.rejected, uploads, earlier)
        message = "\n".join(["- " + p for p in problems] + ([html.escape(summary)] if summary else []))
        docs, choices = self.library()
        return message, docs, choices

    def _drop_rejected(self, rejected: Sequence[Rejected], uploads: Path,
                       earlier: Mapping[Path, bytes]) -> str:
        """Rejected uploads are not kept: a rejected file's copy would be rejected again by
        every later upload, with no way to clear it from the page (the learner still has the
        original). A rejected new version of an earlier upload gives the earlier file back
        (the index still holds it, and without its file the next upload would drop it); a
        rejected copy an indexed document was ingested from stays for the same reason."""
        indexed = {d.doc for d in self.index.documents()}
        restored = 0
        for r in rejected:
            copy = self.settings.data_dir / r.path
            if copy.parent != uploads:
                continue
            if copy in earlier:
                copy.write_bytes(earlier[copy])
                restored += 1
            elif r.path not in indexed:
                copy.unlink(missing_ok=True)
        if not rejected:
            return ""
        kept = f" {restored} earlier upload(s) of the same name kept as they were." if restored else ""
        return " Rejected files were not kept." + kept

    def library(self) -> tuple[list[list[Any]], Any]:
        docs = self.documents()
        return docs, gr.update(choices=[r[1] for r in docs], value=None)

    def remove(self, doc: str | None) -> tuple[str, Any, Any]:
        if not doc:
            return "Choose a document to remove.", gr.update(), gr.update()
        self.index.delete_doc(doc)
        if doc.startswith("uploads/"):  # an uploaded copy would come back on the next upload
            (self.settings.data_dir / doc).unlink(missing_ok=True)
        docs, choices = self.library()
        return f"Removed {html.escape(doc)}.", docs, choices

    def inspect(self, question: str) -> tuple[list[list[Any]], str]:
        """Each stage's scores for the passages the configured mode returns, side by side
        ("—": that stage did not run, or the passage was not in its own top-k)."""
        try:
            started = time.perf_counter()
            result = self.retriever.search(question, k=10)
        except TutorError as exc:
            return [], error_message(exc, "retrieving")
        rows = [[i, h.chunk.section, h.chunk.doc, _fmt(h.scores.bm25), _fmt(h.scores.dense),
                 _fmt(h.scores.fused), _fmt(h.scores.rerank)] for i, h in enumerate(result.hits, 1)]
        verdict = "above" if result.relevant else "below"
        note = (f"Mode {result.mode}: the best passage is {verdict} the relevance floor; "
                f"{(time.perf_counter() - started) * 1000:.0f} ms.")
        return rows, note


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def add_tab(tab: LibraryTab, demo: gr.Blocks) -> None:
    """The tab's components and events (inside the Library tab of `demo`)."""
    docs = gr.Dataframe(tab.documents(), headers=["title", "document", "chunks", "last ingested"],
                        interactive=False, elem_id="documents")
    with gr.Row():
        upload = gr.File(label=f"Add documents ({', '.join(SUPPORTED_SUFFIXES)}; ≤ {MAX_UPLOAD_MB} MB each)",
                         file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), elem_id="upload")
        with gr.Column():
            ingest_button = gr.Button("Ingest", variant="primary", elem_id="ingest")
            # No document chosen until the learner picks one: a default would make
            # one click of Remove delete whichever note happened to be first.
            remove_choice = gr.Dropdown([r[1] for r in tab.documents()], value=None,
                                        label="Remove a document", elem_id="remove-choice")
            remove_button = gr.Button("Remove", variant="stop")
    library_status = gr.Markdown(elem_id="library-status")
    ingest_button.click(tab.upload, [upload], [library_status, docs, remove_choice], api_name="upload")
    remove_button.click(tab.remove, [remove_choice], [library_status, docs, remove_choice], api_name="remove")
    # The list as it is now, not as it was when the server started: another window may
    # have added or removed documents since.
    demo.load(tab.library, None, [docs, remove_choice], api_visibility="private")
    gr.Markdown("### Retrieval inspector")
    probe = gr.Textbox(label="Question", elem_id="probe")
    probe_button = gr.Button("Inspect retrieval", elem_id="inspect")
    probe_note = gr.Markdown()
    probe_table = gr.Dataframe(headers=["rank", "section", "document", "bm25", "dense", "fused (RRF)", "rerank"],
                               interactive=False, elem_id="probe-table", wrap=True,
                               # Long section paths would push the scores off screen.
                               column_widths=["6%", "36%", "22%", "9%", "9%", "9%", "9%"])
    probe_button.click(tab.inspect, [probe], [probe_table, probe_note], api_name="inspect")
