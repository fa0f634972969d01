"""The `tutor` command as a user runs it: real index, JSON contract; `--help` and the ingest
behind the shared index in a real process, the rest through `tutor.cli.main.main` in this one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import Cli, offline_cli

from tutor.config import REPO_DIR

HIT_KEYS = {"chunk_id", "doc", "title", "section", "text", "scores"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    notes = root / "notes"
    notes.mkdir()
    (notes / "kv.md").write_text("# KV cache\n\n## Memory\n\nThe KV cache stores keys and values "
                                 "for every past token, so its memory grows with sequence length.\n")
    (notes / "rope.md").write_text("# RoPE\n\n## Rotation\n\nRotary embeddings rotate queries and "
                                   "keys by an angle proportional to the token position.\n")
    (notes / "empty.md").write_text("")
    done = offline_cli("ingest", str(notes), data=root / "data")
    assert done.returncode == 0, done.stderr
    assert "2 added, 0 updated, 0 unchanged, 0 removed, 1 rejected (notes/empty.md: empty file)" in done.stdout
    return root / "data"


def test_help_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "tutor.cli.main", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("ingest", "retrieve", "serve", "train-reranker", "--data-dir"):
        assert command in done.stdout


def test_retrieve_json_contract(cli: Cli, data_dir: Path) -> None:
    done = cli("retrieve", "How much memory does the KV cache use?", "--json", "--k", "2", data=data_dir)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["mode"] == "hybrid+rerank" and len(out["hits"]) == 2 and out["relevant"] is True
    hit = out["hits"][0]
    assert set(hit) == HIT_KEYS and hit["doc"] == "notes/kv.md"
    assert set(hit["scores"]) == {"bm25", "dense", "fused", "rerank"}


def test_retrieve_batch_file(cli: Cli, data_dir: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "rotary position"}\n\n{"id": "b", "question": "kv memory"}\n')
    done = cli("retrieve", "--file", str(questions), "--json", "--mode", "bm25", data=data_dir)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["hits"][0]["doc"] == "notes/rope.md" and rows[1]["hits"][0]["doc"] == "notes/kv.md"
    assert set(rows[0]["hits"][0]["scores"]) == {"bm25", "dense", "fused", "rerank"}


def test_malformed_batch_line_names_the_line(cli: Cli, data_dir: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "rotary"}\nnot json\n')
    done = cli("retrieve", "--file", str(questions), "--json", data=data_dir)
    assert done.returncode == 1 and f"{questions}:2" in done.stderr and "Traceback" not in done.stderr


def test_missing_index_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    done = cli("retrieve", "what is rope", data=tmp_path / "nothing")
    assert done.returncode == 1
    assert "No index at" in done.stderr and "tutor ingest" in done.stderr and "Traceback" not in done.stderr


def test_empty_question_is_a_clear_error(cli: Cli, data_dir: Path) -> None:
    done = cli("retrieve", "   ", data=data_dir)
    assert done.returncode == 1 and "empty" in done.stderr and "Traceback" not in done.stderr


def test_ingesting_nothing_usable_fails_clearly(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG")
    done = cli("ingest", str(folder), data=tmp_path / "d")
    assert done.returncode == 1 and "no files to ingest here" in done.stdout


def test_train_reranker_exports_groups_for_another_machine(cli: Cli, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tutor.reranker.fit import read_cases, read_groups

    # Two notes with the bank and the written queries: the export mines negatives from an
    # index of the corpus it builds itself, and two notes make that quick.
    corpus = tmp_path / "corpus"
    for part in ("questions", "reranker-queries"):
        shutil.copytree(REPO_DIR / "corpus" / part, corpus / part)
    for note in ("rag.md", "decoding-and-sampling.md"):
        shutil.copy(REPO_DIR / "corpus" / note, corpus / note)
    monkeypatch.setenv("TUTOR_CORPUS_DIR", str(corpus))
    done = cli("train-reranker", "--export", str(tmp_path / "out"), "--max-queries", "12",
               "--held-out", "3", "--cloze", "all", data=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert "Training groups written to" in done.stdout
    groups = read_groups(tmp_path / "out" / "groups.jsonl.xz")
    cases = read_cases(tmp_path / "out" / "cases.jsonl.xz")
    assert len(groups) >= 12 and len(cases) == 3
    assert all(len(g.negatives) == 7 for g in groups)
