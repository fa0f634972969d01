"""Incremental ingest into a real local Qdrant index, with bad input mixed in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tutor.config import Settings
from tutor.errors import IndexLockedError
from tutor.index import open_index
from tutor.ingest import Ingestor

NOTE = "# {title}\n\n## Idea\n\n{body} This sentence pads the section so it is a real passage.\n"


def _note(folder: Path, name: str, title: str, body: str) -> Path:
    path = folder / name
    path.write_text(NOTE.format(title=title, body=body), encoding="utf-8")
    return path


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    _note(folder, "kv.md", "KV cache", "The KV cache stores keys and values of past tokens.")
    _note(folder, "rope.md", "RoPE", "Rotary embeddings rotate queries and keys by position.")
    return folder


def test_incremental_runs(settings: Settings, notes: Path) -> None:
    index = open_index(settings)
    ingest = Ingestor(settings, index)

    first = ingest.run([notes], progress=False)
    assert sorted(first.added) == ["notes/kv.md", "notes/rope.md"] and first.chunks_written == 2

    again = ingest.run([notes], progress=False)
    assert again.added == again.updated == again.removed == [] and len(again.unchanged) == 2
    assert "0 added, 0 updated, 2 unchanged, 0 removed, 0 rejected" in again.summary()

    _note(notes, "kv.md", "KV cache", "The KV cache grows linearly with the sequence length.")
    (notes / "rope.md").unlink()
    _note(notes, "moe.md", "Mixture of experts", "A router sends each token to two experts.")
    changed = ingest.run([notes], progress=False)
    assert changed.updated == ["notes/kv.md"]
    assert changed.added == ["notes/moe.md"]
    assert changed.removed == ["notes/rope.md"]
    texts = " ".join(c.text for c in index.chunks())
    assert "grows linearly" in texts and "stores keys" not in texts and "Rotary" not in texts
    assert {d.doc for d in index.documents()} == {"notes/kv.md", "notes/moe.md"}
    index.close()


def test_bad_files_are_rejected_and_lose_nothing(settings: Settings, notes: Path, tmp_path: Path) -> None:
    index = open_index(settings)
    ingest = Ingestor(settings, index)
    ingest.run([notes], progress=False)
    (notes / "empty.md").write_bytes(b"")
    (notes / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    (notes / "copy.md").write_bytes((notes / "kv.md").read_bytes())
    with (notes / "huge.txt").open("wb") as f:
        f.truncate(50_000_000)
    empty_folder = tmp_path / "nothing"
    empty_folder.mkdir()
    (empty_folder / "picture.png").write_bytes(b"\x89PNG")

    report = ingest.run([notes, empty_folder, tmp_path / "missing.md"], progress=False)
    reasons = {r.path: r.reason for r in report.rejected}
    assert reasons["notes/empty.md"] == "empty file"
    assert reasons["notes/blob.txt"].startswith("binary file")
    assert "same content as notes/kv.md" in reasons["notes/copy.md"]
    assert reasons["notes/huge.txt"].startswith("too large (50.0 MB")
    assert reasons[str(empty_folder)].startswith("no files to ingest here")
    assert reasons[str(tmp_path / "missing.md")] == "not found"
    assert len(report.unchanged) == 2 and not report.removed
    assert {d.doc for d in index.documents()} == {"notes/kv.md", "notes/rope.md"}
    assert "6 rejected (" in report.summary()
    index.close()


def test_changing_chunk_settings_rechunks_everything(settings: Settings, notes: Path) -> None:
    index = open_index(settings)
    Ingestor(settings, index).run([notes], progress=False)
    resized = settings.model_copy(update={"chunk_tokens": 120})
    report = Ingestor(resized, index).run([notes], progress=False)
    assert sorted(report.updated) == ["notes/kv.md", "notes/rope.md"]
    index.close()


def test_a_second_process_writes_nowhere_but_can_read_a_copy(settings: Settings, notes: Path) -> None:
    """One process holds the Edge shard (the app, say): ingest beside it gets one sentence on
    what to do; a read-only command works on a copy of what the shard holds."""
    index = open_index(settings)
    Ingestor(settings, index).run([notes], progress=False)
    code = (
        "import sys\n"
        "from tutor.config import Settings\nfrom tutor.index import open_index\n"
        "from tutor.errors import IndexLockedError\n"
        f"settings = Settings(data_dir={str(settings.data_dir)!r})\n"
        "copy = open_index(settings, copy_if_locked=True)\n"
        "print(sorted(d.doc for d in copy.documents()), copy.count()); copy.close()\n"
        "try:\n    open_index(settings)\n"
        "except IndexLockedError as e:\n    print(e); sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "['notes/kv.md', 'notes/rope.md'] 2" in done.stdout
    assert "open in another tutor process" in done.stdout and "Library tab" in done.stdout
    assert index.count() == 2  # the copy's close left the shard as it was
    index.close()


def test_lock_error_type_in_process(settings: Settings, notes: Path) -> None:
    first = open_index(settings)
    Ingestor(settings, first).run([notes], progress=False)
    with pytest.raises(IndexLockedError):
        open_index(settings)
    first.close()


def test_tutorignore_skips_matching_files(settings: Settings, notes: Path) -> None:
    (notes / "drafts").mkdir()
    (notes / "drafts" / "todo.md").write_text("# Todo\n\nThings to write about attention later on.\n")
    (notes / ".tutorignore").write_text("# not notes\ndrafts/*\n")
    index = open_index(settings)
    report = Ingestor(settings, index).run([notes], progress=False)
    assert sorted(report.added) == ["notes/kv.md", "notes/rope.md"]
    index.close()
