"""Incremental ingest into a real Qdrant Edge shard, with bad input and a kill -9 mixed in."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import CORPUS, offline_cli

from tutor.config import Settings
from tutor.errors import IndexLockedError
from tutor.store.index import DENSE, Leg, open_index
from tutor.store.ingest import Ingestor, IngestProgress

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


def test_progress_after_each_document_with_an_estimate(settings: Settings, tmp_path: Path) -> None:
    notes, n = tmp_path / "notes", 6
    _versioned_notes(notes, "version one", n)
    seen: list[IngestProgress] = []
    index = open_index(settings)
    report = Ingestor(settings, index).run([notes], progress=False, on_progress=seen.append)
    index.close()
    assert [p.documents_done for p in seen] == list(range(1, n + 1)) and {p.documents for p in seen} == {n}
    chunks = [p.chunks_done for p in seen]
    assert chunks == sorted(chunks) and chunks[-1] == seen[-1].chunks == report.chunks_written
    assert seen[0].eta_s is not None and seen[0].eta_s > 0 and seen[-1].eta_s == 0
    assert seen[0].line().startswith(f"1 of {n} documents, {seen[0].chunks_done} of {report.chunks_written} passages, about ")
    assert seen[-1].line() == f"{n} of {n} documents, {report.chunks_written} of {report.chunks_written} passages"


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
        "from tutor.config import Settings\nfrom tutor.store.index import open_index\n"
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


def _versioned_notes(folder: Path, version: str, n: int) -> None:
    """`n` notes of three sections each, every sentence naming `version`."""
    folder.mkdir(exist_ok=True)
    for i in range(n):
        sections = "".join(
            f"## Part {s}\n\n" + " ".join(f"Fact {j} of part {s} in topic {i} is from {version}." for j in range(12))
            + "\n\n"
            for s in range(3)
        )
        (folder / f"topic-{i:02d}.md").write_text(f"# Topic {i}\n\n{sections}", encoding="utf-8")


def _versions_by_doc(settings: Settings, peek: Path) -> dict[str, set[str]]:
    """Which versions each document's chunks hold, read from a copy of the shard (opening the
    shard itself would take its lock from the ingest under test)."""
    for _ in range(50):  # a file the ingest replaces mid-copy fails the copy: take another
        shutil.rmtree(peek, ignore_errors=True)
        try:
            shutil.copytree(settings.index_path, peek / "index")
            break
        except shutil.Error:
            continue
    index = open_index(settings.model_copy(update={"data_dir": peek}))
    try:
        found: dict[str, set[str]] = {}
        for chunk in index.chunks():
            found.setdefault(chunk.doc, set()).update(v for v in ("version one", "version two") if v in chunk.text)
        return found
    finally:
        index.close()


def test_kill_9_during_ingest_leaves_every_document_whole(settings: Settings, tmp_path: Path) -> None:
    """A real kill -9 in the middle of re-ingesting 40 changed notes: each note is then wholly
    its old or wholly its new version (never a mix, never missing), and the next ingest
    completes the rest."""
    notes, n = tmp_path / "notes", 40
    _versioned_notes(notes, "version one", n)
    index = open_index(settings)
    Ingestor(settings, index).run([notes], progress=False)
    index.close()
    _versioned_notes(notes, "version two", n)

    command = [sys.executable, "-m", "tutor.cli.main", "--data-dir", str(settings.data_dir), "ingest", str(notes)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not any("version two" in v for v in _versions_by_doc(settings, tmp_path / "peek").values()):
            assert process.poll() is None, "the ingest ended before it could be interrupted"
    finally:
        process.kill()  # SIGKILL: no handler, no flush, no cleanup
        process.wait()

    after_kill = _versions_by_doc(settings, tmp_path / "peek")
    assert len(after_kill) == n and all(len(v) == 1 for v in after_kill.values()), after_kill
    assert 0 < sum(v == {"version two"} for v in after_kill.values()) < n  # truly cut mid-way
    index = open_index(settings)
    assert all(d.complete for d in index.documents())
    report = Ingestor(settings, index).run([notes], progress=False)
    assert report.updated and not report.added and not report.removed
    index.close()
    assert set(map(frozenset, _versions_by_doc(settings, tmp_path / "peek").values())) == {frozenset({"version two"})}


def test_a_version_left_beside_the_old_one_is_rewritten(settings: Settings, notes: Path) -> None:
    """A crash after a document's new version is written and before its old one is deleted
    leaves both; that is reported as incomplete, and the next ingest leaves one."""
    index = open_index(settings)
    Ingestor(settings, index).run([notes], progress=False)
    kv = next(c for c in index.chunks() if c.doc == "notes/kv.md")
    index.upsert([kv], [[0.1] * 384], index.bm25().documents([kv.text]), {"doc_hash": "next:version"})
    row = {d.doc: d for d in index.documents()}["notes/kv.md"]
    assert not row.complete and row.doc_hash == "" and row.chunks == 2
    report = Ingestor(settings, index).run([notes], progress=False)
    assert report.updated == ["notes/kv.md"]
    assert all(d.complete for d in index.documents()) and index.count() == 2
    index.close()


def test_two_folders_of_one_name_do_not_replace_each_other(settings: Settings, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "notes", tmp_path / "b" / "notes"
    for folder, body in ((first, "The KV cache stores keys and values."), (second, "LoRA trains low-rank updates.")):
        folder.mkdir(parents=True)
        _note(folder, "topic.md", "Topic", body)
    index = open_index(settings)
    Ingestor(settings, index).run([first], progress=False)
    report = Ingestor(settings, index).run([second], progress=False)
    assert not report.updated and not report.added
    assert "notes/topic.md is already indexed from" in report.rejected[0].reason
    assert "keys and values" in index.chunks()[0].text  # the first folder's note is intact
    both = Ingestor(settings, index).run([first, second], progress=False)
    assert both.rejected[0].reason.startswith("same document id notes/topic.md as ")
    # A folder that moved (its old path is gone) updates its documents instead.
    first.rename(tmp_path / "a" / "gone")
    assert Ingestor(settings, index).run([second], progress=False).updated == ["notes/topic.md"]
    index.close()


def test_removing_the_kept_copy_of_a_duplicate_indexes_the_other(settings: Settings, notes: Path) -> None:
    index = open_index(settings)
    ingest = Ingestor(settings, index)
    ingest.run([notes], progress=False)
    (notes / "copy.md").write_bytes((notes / "kv.md").read_bytes())
    assert "same content as notes/kv.md" in ingest.run([notes], progress=False).rejected[0].reason
    (notes / "kv.md").unlink()
    report = ingest.run([notes], progress=False)
    assert report.removed == ["notes/kv.md"] and report.added == ["notes/copy.md"] and not report.rejected
    index.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 200 MB tmpfs (a full disk without filling this machine's); needs mount rights."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def test_a_full_disk_is_one_line_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    """Writing until the disk is full stops with the fix, every note written so far whole;
    once space is freed, the next ingest completes the rest."""
    from tutor.store.index.edge import _SPACE_MARGIN

    notes = tmp_path / "notes"
    notes.mkdir()
    names = [p.name for p in sorted(CORPUS.glob("*.md"), key=lambda p: p.stat().st_size)[:6]]
    for name in names:
        shutil.copy(CORPUS / name, notes / name)
    # Room beyond the safety margin for about half of the notes (~13 KB a passage on disk).
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - _SPACE_MARGIN - 1_500_000))
    full = offline_cli("ingest", str(notes), data=small_disk / "data")
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert "free on the disk of" in full.stderr and "run `tutor ingest` again" in full.stderr
    filler.unlink()
    index = open_index(Settings(data_dir=small_disk / "data"))
    kept = index.documents()
    assert all(d.complete for d in kept) and 1 <= len(kept) < len(names), kept
    report = Ingestor(index.settings, index).run([notes], progress=False)
    assert len(report.added) == len(names) - len(kept) and len(report.unchanged) == len(kept)
    assert all(d.complete for d in index.documents())
    index.close()


def test_a_read_only_data_dir_is_read_from_a_copy_and_refuses_writes(small_disk: Path, notes: Path) -> None:
    """An index on a disk mounted read-only: reading commands work (from a private copy),
    ingest says what is wrong and how to fix it, and the index is as it was."""
    data = small_disk / "data"
    assert offline_cli("ingest", str(notes), data=data).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    found = offline_cli("retrieve", "--json", "What does the KV cache store?", data=data)
    assert found.returncode == 0 and "notes/kv.md" in found.stdout, found.stderr
    refused = offline_cli("ingest", str(notes), data=data)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: The data dir {data} cannot be written (Read-only file system): point TUTOR_DATA_DIR "
        "(or --data-dir) at a writable folder.")
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    index = open_index(Settings(data_dir=data))
    assert sorted(d.doc for d in index.documents()) == ["notes/kv.md", "notes/rope.md"]
    index.close()


def test_corpus_chunks_take_the_shipped_vectors_and_edited_ones_are_embedded(
        settings: Settings, tmp_path: Path) -> None:
    """A copy of a corpus note ingests from tutor/weights/corpus-vectors.npz, vectors equal
    to the embedder's own; a section edited since then misses and is embedded."""
    from tutor.retrieval.models import embed

    notes = tmp_path / "notes"
    notes.mkdir()
    text = (CORPUS / "rag.md").read_text(encoding="utf-8")
    (notes / "rag.md").write_text(text, encoding="utf-8")
    index = open_index(settings)
    report = Ingestor(settings, index).run([notes], progress=False)
    assert report.chunks_written > 10 and report.chunks_shipped == report.chunks_written
    assert f"({report.chunks_written} with shipped vectors)" in report.summary()
    # Each stored chunk, searched by the embedder's fresh vector of its own text, is found
    # first at cosine ~1: the stored (shipped) vector is the embedder's.
    for chunk in index.chunks()[:8]:
        found = index.search([Leg(DENSE, embed(settings, [chunk.text])[0].tolist(), 1, 1.0)], None, 60)
        assert found[DENSE][0].payload["text"] == chunk.text and found[DENSE][0].score > 0.9999

    first_section = text.index("\n## ")
    edited = text[:first_section] + "\n\nA sentence added after the vectors were built." + text[first_section:]
    (notes / "rag.md").write_text(edited, encoding="utf-8")
    again = Ingestor(settings, index).run([notes], progress=False)
    assert again.updated == ["notes/rag.md"]
    assert 0 < again.chunks_written - again.chunks_shipped < 3
    index.close()
