"""The bad-input catalogue, table-driven: every case runs the real CLI (in-process, so the
models load once) on a real index and asserts the exit status, the one line that says what
went wrong and how to fix it, that nothing escaped as a traceback, and that the index holds
exactly what it held before.

Cases that need a process of their own (kill -9, a full disk, the app holding the index) are
in test_ingest.py and e2e/test_app.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from servers import Scripted, stream_reply

from tutor.cli.main import main
from tutor.config import Settings
from tutor.store.index import open_index
from tutor.store.ingest import Ingestor

NOTES = {
    "kv.md": "# KV cache\n\n## Memory\n\nThe KV cache stores the keys and values of earlier tokens, "
             "so decoding does not recompute them for every new token.\n",
    "lora.md": "# LoRA\n\n## Low rank\n\nLoRA freezes the pretrained weights and trains a low-rank "
               "update B times A beside each chosen matrix.\n",
}


@dataclass(frozen=True)
class Case:
    """`tutor ARGS` with `env` set; `setup(tmp)` returns extra arguments (files it wrote)."""

    name: str
    args: tuple[str, ...]
    code: int
    says: str  # a fragment of the one line on stderr (or stdout when code is 0)
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], list[str]] | None = None


def _file(name: str, data: bytes) -> Callable[[Path], list[str]]:
    def write(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_bytes(data)
        return [str(path)]
    return write


def _questions(*lines: str) -> Callable[[Path], list[str]]:
    return _file("questions.jsonl", "\n".join(lines).encode())


def _sparse_file(tmp: Path) -> list[str]:
    path = tmp / "huge.txt"
    with path.open("wb") as f:
        f.truncate(50_000_000)
    return [str(path)]


def _empty_folder(tmp: Path) -> list[str]:
    (tmp / "nothing").mkdir()
    (tmp / "nothing" / "picture.png").write_bytes(b"\x89PNG")
    return [str(tmp / "nothing")]


Q = "what does the kv cache store"
SETTINGS = [
    Case("mode", ("retrieve", Q), 1, "TUTOR_MODE='banana': Input should be 'bm25', 'dense', 'hybrid' or 'hybrid+rerank'",
         {"TUTOR_MODE": "banana"}),
    Case("dense floor not a number", ("retrieve", Q), 1, "TUTOR_DENSE_FLOOR='abc': Input should be a valid number",
         {"TUTOR_DENSE_FLOOR": "abc"}),
    Case("dense floor above 1", ("retrieve", Q), 1, "TUTOR_DENSE_FLOOR='2': Input should be less than or equal to 1",
         {"TUTOR_DENSE_FLOOR": "2"}),
    Case("rerank k 0", ("retrieve", Q), 1, "TUTOR_RERANK_K='0': Input should be greater than or equal to 1",
         {"TUTOR_RERANK_K": "0"}),
    Case("top n negative", ("retrieve", Q), 1, "TUTOR_TOP_N='-3'", {"TUTOR_TOP_N": "-3"}),
    Case("chunk tokens negative", ("ingest",), 1, "TUTOR_CHUNK_TOKENS='-10'", {"TUTOR_CHUNK_TOKENS": "-10"}),
    Case("chunk tokens above the embedder's 256", ("ingest",), 1, "TUTOR_CHUNK_TOKENS='512'",
         {"TUTOR_CHUNK_TOKENS": "512"}),
    Case("overlap not below chunk", ("ingest",), 1, "chunk_overlap_tokens (300) must be below chunk_tokens (220)",
         {"TUTOR_CHUNK_OVERLAP_TOKENS": "300"}),
    Case("max file mb 0", ("ingest",), 1, "TUTOR_MAX_FILE_MB='0'", {"TUTOR_MAX_FILE_MB": "0"}),
    Case("grade method", ("questions",), 1, "TUTOR_GRADE_METHOD='magic'", {"TUTOR_GRADE_METHOD": "magic"}),
    Case("embed precision", ("questions",), 1, "TUTOR_EMBED_PRECISION='int3'", {"TUTOR_EMBED_PRECISION": "int3"}),
    Case("negative weight", ("retrieve", Q), 1, "TUTOR_DENSE_WEIGHT='-1'", {"TUTOR_DENSE_WEIGHT": "-1"}),
    Case("llm timeout 0", ("questions",), 1, "TUTOR_LLM_TIMEOUT_S='0'", {"TUTOR_LLM_TIMEOUT_S": "0"}),
    Case("temperature 9", ("questions",), 1, "TUTOR_LLM_TEMPERATURE='9'", {"TUTOR_LLM_TEMPERATURE": "9"}),
    Case("two bad settings, one line", ("questions",), 1, "TUTOR_TOP_N='0': Input should be greater than or "
         "equal to 1; TUTOR_RRF_K='0'", {"TUTOR_TOP_N": "0", "TUTOR_RRF_K": "0"}),
]
OPTIONS = [
    Case("k 0", ("retrieve", Q, "--k", "0"), 1, "argument --k: must be 1 or more, got 0"),
    Case("k negative", ("retrieve", Q, "--k", "-1"), 1, "argument --k: must be 1 or more, got -1"),
    Case("k negative, hybrid", ("retrieve", Q, "--k", "-5", "--mode", "hybrid"), 1, "must be 1 or more, got -5"),
    Case("k not a number", ("retrieve", Q, "--k", "abc"), 1, "argument --k: expected a whole number, got 'abc'"),
    Case("unknown mode", ("retrieve", Q, "--mode", "banana"), 1, "argument --mode: invalid choice: 'banana'"),
    Case("unknown command", ("bogus",), 1, "invalid choice: 'bogus'"),
    Case("interview n 0", ("interview", "--n", "0"), 1, "argument --n: must be 1 or more, got 0"),
    Case("no question", ("retrieve",), 1, "Give either a QUESTION or --file"),
    Case("question and file", ("retrieve", Q, "--file"), 1, "Give either a QUESTION or --file",
         setup=_questions('{"question": "x"}')),
    Case("unknown bank question", ("grade", "--question", "no-such-id", "--answer", "x"), 1,
         "No question 'no-such-id' in the bank"),
    Case("unknown topic", ("interview", "--topic", "cooking"), 1, "No questions on cooking"),
]
QUESTIONS = [
    Case("empty", ("retrieve", ""), 1, "The question is empty"),
    Case("blank", ("retrieve", "   \n "), 1, "The question is empty"),
    Case("too long", ("retrieve", "why " * 1500), 1, "the limit is 4,000"),
    Case("empty ask", ("ask", ""), 1, "The question is empty"),
    Case("file missing", ("retrieve", "--file", "/no/such/questions.jsonl"), 1, "Cannot read /no/such/questions.jsonl"),
    Case("file not UTF-8", ("retrieve", "--file"), 1, "is not UTF-8 text (byte 17)",
         setup=_file("q.jsonl", b'{"question": "caf\xe9 au lait"}')),
    Case("line not JSON", ("retrieve", "--file"), 1, ':2: expected a JSON object like',
         setup=_questions('{"question": "ok"}', "not json")),
    Case("line a list", ("retrieve", "--file"), 1, ":1: expected a JSON object like", setup=_questions('["a"]')),
    Case("no question field", ("retrieve", "--file"), 1, ":1: expected a JSON object like",
         setup=_questions('{"id": "q1"}')),
    Case("question null", ("retrieve", "--file"), 1, '"question" must be a string, not NoneType',
         setup=_questions('{"question": null}')),
    Case("question a list", ("retrieve", "--file"), 1, '"question" must be a string, not list',
         setup=_questions('{"question": ["a", "b"]}')),
    Case("question a number", ("retrieve", "--file"), 1, '"question" must be a string, not int',
         setup=_questions('{"question": 7}')),
    Case("empty question in a file", ("retrieve", "--file"), 1, "The question is empty",
         setup=_questions('{"question": ""}')),
    Case("no questions in the file", ("retrieve", "--file"), 1, "holds no questions", setup=_questions("", "  ")),
]
INGEST = [
    Case("missing path", ("ingest", "/no/such/notes"), 1, "/no/such/notes: not found"),
    Case("empty file", ("ingest",), 1, "empty file", setup=_file("empty.md", b"")),
    Case("binary file", ("ingest",), 1, "binary file", setup=_file("blob.txt", b"\x00\x01\x02" * 100)),
    Case("huge file", ("ingest",), 1, "too large (50.0 MB", setup=_sparse_file),
    Case("folder of nothing supported", ("ingest",), 1, "no files to ingest here", setup=_empty_folder),
    Case("unsupported type", ("ingest",), 1, "unsupported type '.png' (supported: .md", setup=_file("picture.png", b"\x89PNG\r\n")),
    Case("damaged PDF", ("ingest",), 1, "cannot read this PDF", setup=_file("broken.pdf", b"%PDF-1.7\n1 0 obj <<\n")),
    Case("HTML of scripts only", ("ingest",), 1, "no readable text after cleaning",
         setup=_file("page.html", b"<html><script>var a = 1;</script><style>p{}</style></html>")),
    Case("headings only", ("ingest",), 1, "no readable text after cleaning", setup=_file("bare.md", b"# Title\n\n## Section\n")),
    Case("same content as an indexed note", ("ingest",), 1, "same content as notes/kv.md",
         setup=_file("kv-copy.md", NOTES["kv.md"].encode())),
]
INDEXLESS = [
    Case("retrieve", ("retrieve", Q), 1, "run `tutor ingest`"),
    Case("ask", ("ask", Q), 1, "run `tutor ingest`"),
    Case("interview", ("interview", "--n", "1"), 1, "run `tutor ingest`"),
    Case("serve", ("serve", "--port", "1"), 1, "run `tutor ingest`"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real index of two notes, which no case may change."""
    root = tmp_path_factory.mktemp("bad-input")
    notes = root / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    settings = Settings(data_dir=root / "data")
    index = open_index(settings)
    Ingestor(settings, index).run([notes], progress=False)
    index.close()
    return root / "data"


def snapshot(data: Path) -> tuple[int, list[tuple[str, str]]]:
    """What the index holds: its point count, and each passage's id and text."""
    index = open_index(Settings(data_dir=data))
    try:
        return index.count(), [(c.id, c.text) for c in index.chunks()]
    finally:
        index.close()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
        ) -> Iterator[Callable[[Case, Path], tuple[int, str, str]]]:
    def go(case: Case, data: Path) -> tuple[int, str, str]:
        extra = case.setup(tmp_path) if case.setup else []
        with monkeypatch.context() as env:  # the case's settings hold for its command only
            for name, value in {"TUTOR_FOLLOW_UP_WRITER": "template", "TUTOR_GRADE_METHOD": "embedding",
                                "TUTOR_LLM_MAX_RETRIES": "0", **case.env}.items():
                env.setenv(name, value)
            try:
                code = main(["--data-dir", str(data), *case.args, *extra])
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err
    yield go


def _check(case: Case, code: int, out: str, err: str) -> None:
    assert code == case.code, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    said = err if case.code else out
    assert case.says in said, said
    if case.code:
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, err  # one line, not a report


@pytest.mark.parametrize("case", SETTINGS + OPTIONS + QUESTIONS, ids=lambda c: c.name)
def test_bad_settings_options_and_questions(case: Case, data: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    before = snapshot(data)
    _check(case, *run(case, data))
    assert snapshot(data) == before


@pytest.mark.parametrize("case", INGEST, ids=lambda c: c.name)
def test_bad_files_are_rejected_with_the_reason(case: Case, data: Path, tmp_path: Path,
                                                 run: Callable[..., tuple[int, str, str]]) -> None:
    """Each bad file alone: nothing usable, exit 1, the reason in the summary, and the index
    (a copy of the shared one, since some of these would write) exactly as it was."""
    mine = shutil.copytree(data, tmp_path / "data")
    before = snapshot(mine)
    code, out, err = run(case, mine)
    assert code == 1 and "Traceback" not in err
    assert "0 added, 0 updated" in out and "1 rejected (" in out
    assert case.says in out
    assert snapshot(mine) == before


@pytest.mark.parametrize("case", INDEXLESS, ids=lambda c: c.name)
def test_commands_without_an_index_say_how_to_make_one(case: Case, tmp_path: Path,
                                                       run: Callable[..., tuple[int, str, str]]) -> None:
    _check(case, *run(case, tmp_path / "empty-data"))


def test_a_data_dir_that_is_a_file(tmp_path: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    (tmp_path / "data").write_text("not a folder")
    case = Case("file", ("retrieve", Q), 1, f"The data dir {tmp_path / 'data'} is a file, not a folder")
    _check(case, *run(case, tmp_path / "data"))
    inside = Case("inside a file", ("retrieve", Q), 1, "point TUTOR_DATA_DIR (or --data-dir) at a writable folder")
    _check(inside, *run(inside, tmp_path / "data" / "sub"))


ENDPOINTS = [
    ("HTML page", (200, "text/html", b"<html><body>Welcome to nginx</body></html>"),
     "sent a body of type text/html instead of a chat-completion stream"),
    ("plain JSON", (200, "application/json", b'{"status": "ok"}'),
     "sent a body of type application/json instead of a chat-completion stream"),
    ("truncated stream", (200, "text/event-stream", b'data: {"id": "x", "choices": [{"del\n\n'),
     "sent a malformed stream chunk"),
    ("server error", (500, "application/json", b'{"error": {"message": "boom"}}'), "failed with HTTP 500 (boom)"),
    ("unknown model", (404, "application/json", b'{"error": {"message": "model not found"}}'), "TUTOR_LLM_MODEL"),
]


@pytest.mark.parametrize(("reply", "says"), [e[1:] for e in ENDPOINTS], ids=[e[0] for e in ENDPOINTS])
def test_an_endpoint_that_is_not_a_chat_api_is_an_error(reply: tuple[int, str, bytes], says: str, data: Path,
                                                        run: Callable[..., tuple[int, str, str]]) -> None:
    """Never "my notes don't cover this" with exit 0: the URL, what came back, the fix."""
    server = Scripted([reply])
    try:
        case = Case("endpoint", ("ask", Q), 1, says, {"TUTOR_LLM_BASE_URL": server.url, "TUTOR_LLM_MODEL": "served-model"})
        code, out, err = run(case, data)
        _check(case, code, out, err)
        assert server.url in err
    finally:
        server.close()


def test_a_dead_endpoint_is_an_error(data: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    case = Case("dead", ("ask", Q), 1, "Cannot reach the LLM at http://127.0.0.1:9/v1",
                {"TUTOR_LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    _check(case, *run(case, data))


def test_a_working_endpoint_answers(data: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    """The control: the same command against a real chat stream answers, exit 0."""
    server = Scripted([stream_reply(["The KV cache stores the keys and values of earlier tokens [1]."])])
    try:
        case = Case("ok", ("ask", Q), 0, "keys and values", {"TUTOR_LLM_BASE_URL": server.url,
                                                            "TUTOR_LLM_MODEL": "served-model"})
        _check(case, *run(case, data))
        assert json.dumps(server.requests[-1]).count("KV cache") >= 1  # the passages were sent
    finally:
        server.close()
