"""The browser app, driven like a user would: gradio_client for the API, Chromium for the page."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from support import offline_cli

from e2e.apprunner import REPO, SLOW, RunningApp

pytestmark = pytest.mark.e2e
SHOTS = REPO / "docs" / "screenshots"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> what is RoPE?'


def message_text(message: dict[str, object]) -> str:
    content = message["content"]
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def test_ask_returns_a_cited_answer_with_sources(app: RunningApp) -> None:
    client = Client(app.url, verbose=False)
    chat, _, sources, backend = client.predict("Why is attention scaled by sqrt(d_k)?", [], api_name="/ask")
    answer = message_text(chat[-1])
    # The judge cites each sentence to the passage that entails it: whichever that is, the
    # link in the answer opens that passage in the sources panel, its sentence highlighted.
    cited = re.findall(r'class="cite" href="#(src-0-\d+)"', answer)
    assert cited and "⚠" in answer  # the loose paraphrase is flagged
    assert f'id="{cited[0]}"' in sources and "<mark>" in sources
    # Passages are Markdown and shown rendered: a section's heading and bold labels are
    # markup, not "###" and "**" as text.
    assert "<strong>" in sources and "**" not in sources and "###" not in sources
    assert "openai-compatible" in backend


def test_the_answer_length_reaches_the_model(app: RunningApp) -> None:
    """Shorter asks for a sentence or two from less of the passages, deeper for a tutor's
    explanation from more; standard (the default) adds nothing to the measured prompt."""
    asked = {}
    for length in ("shorter", "standard", "deeper"):
        Client(app.url, verbose=False).predict("Why is attention scaled by sqrt(d_k)?", [], length,
                                              api_name="/ask")
        assert app.llm is not None
        asked[length] = app.llm.requests[-1]["messages"][-1]["content"]
    assert "one or two sentences" in asked["shorter"]
    assert "explain like a tutor" in asked["deeper"]
    assert "Answer length" not in asked["standard"]
    read = {length: len(content.split("\nQuestion:")[0]) for length, content in asked.items()}
    assert read["shorter"] < read["standard"] < read["deeper"], read


def test_sessions_keep_separate_histories(app: RunningApp) -> None:
    first, second = Client(app.url, verbose=False), Client(app.url, verbose=False)
    first.predict("What is the KV cache?", [], api_name="/ask")
    chat, *_ = second.predict("What is FlashAttention?", [], api_name="/ask")
    assert len(chat) == 2  # the second user's chat holds only their own exchange


def test_question_payloads_are_shown_as_text(app: RunningApp) -> None:
    chat, *_ = Client(app.url, verbose=False).predict(XSS, [], api_name="/ask")
    shown = message_text(chat[0])
    assert "<img" not in shown and "<script" not in shown and "&lt;img" in shown


def test_upload_inspect_and_remove(app: RunningApp, browser: object, tmp_path: Path) -> None:
    client = Client(app.url, verbose=False)
    note = tmp_path / "evil-notes.md"
    note.write_text("# Speculative decoding\n\n## Drafts\n\nA small draft model proposes tokens "
                    "<script>window.__xss=3</script> that the large model verifies in one pass.\n")
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x00\x00")
    with pytest.raises(AppError, match="Invalid file type"):  # Gradio refuses it before us
        client.predict([handle_file(str(bad))], api_name="/upload")
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.7 this is not really a PDF")
    status, docs, _ = client.predict([handle_file(str(note)), handle_file(str(damaged))], api_name="/upload")
    assert "1 added" in status and "1 rejected" in status and "damaged.pdf" in status
    assert any(row[1] == "uploads/evil-notes.md" for row in docs["data"])
    # The rejected copy is not kept, so the next upload does not report it again.
    assert not (app.data_dir / "uploads" / "damaged.pdf").exists()
    status, _, _ = client.predict([handle_file(str(note))], api_name="/upload")
    assert "0 rejected" in status and "1 unchanged" in status
    # A damaged new version under the same name is rejected and loses nothing: the earlier
    # upload's file stays as it was, still indexed, and is not reported again.
    kept = (app.data_dir / "uploads" / "evil-notes.md").read_bytes()
    broken = tmp_path / "again" / "evil-notes.md"
    broken.parent.mkdir()
    broken.write_bytes(b"\x00\x01 not text")
    status, docs, _ = client.predict([handle_file(str(broken))], api_name="/upload")
    assert "1 rejected" in status and "kept as they were" in status, status
    assert (app.data_dir / "uploads" / "evil-notes.md").read_bytes() == kept
    assert any(row[1] == "uploads/evil-notes.md" for row in docs["data"])
    status, _, _ = client.predict([handle_file(str(note))], api_name="/upload")
    assert "0 rejected" in status and "1 unchanged" in status
    # A page opened now lists the upload, with nothing chosen for removal.
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(app.url, wait_until="load")
    page.get_by_role("tab", name="Library").click()
    page.locator("#documents").get_by_text("uploads/evil-notes.md").first.wait_for(timeout=30_000)
    assert page.locator("#remove-choice input").input_value() == ""
    page.close()
    rows, note_text = client.predict("draft model proposes tokens", api_name="/inspect")
    assert rows["data"] and rows["data"][0][2] == "uploads/evil-notes.md"
    assert "relevance floor" in note_text
    assert all(cell != "—" for cell in rows["data"][0][3:6])  # bm25, dense and fused all scored it
    status, docs, _ = client.predict("uploads/evil-notes.md", api_name="/remove")
    assert "Removed" in status and all(row[1] != "uploads/evil-notes.md" for row in docs["data"])


def test_cli_commands_work_beside_the_running_app(app: RunningApp, tmp_path: Path) -> None:
    """The app holds the data dir's shard; a read-only command works on a copy of it, and
    ingest says in one line what to do instead of writing where the app cannot see it."""
    found = offline_cli("retrieve", "why divide attention scores by sqrt(d_k)", "--k", "1", data=app.data_dir)
    assert found.returncode == 0, found.stderr
    assert "transformer-architecture.md" in found.stdout
    (tmp_path / "extra.md").write_text("# Extra\n\n## More\n\nA note added from the command line.\n")
    refused = offline_cli("ingest", str(tmp_path / "extra.md"), data=app.data_dir)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "open in another tutor process" in refused.stderr and "Library tab" in refused.stderr


def test_dead_llm_endpoint_is_a_clear_message(dead_llm_app: RunningApp) -> None:
    chat, question_box, *_ = Client(dead_llm_app.url, verbose=False).predict(
        "Why is attention scaled by sqrt(d_k)?", [], api_name="/ask")
    shown = message_text(chat[-1])
    assert shown.startswith("⚠") and "127.0.0.1:9" in shown and "Traceback" not in shown
    assert question_box == "Why is attention scaled by sqrt(d_k)?"  # the question is kept


def test_in_a_real_browser(app: RunningApp, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(app.url, wait_until="load")
    page.locator("#question textarea").fill("Why is attention scaled by sqrt(d_k)?")
    page.locator("#ask").click()
    citation = page.locator("#chat a.cite").first
    citation.wait_for(timeout=60_000)
    citation.click()
    assert page.locator(f"#sources {citation.get_attribute('href')}").is_visible()
    page.locator("#chat button[aria-label='Like']").first.click()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "tutor.png"), full_page=True)

    # Shift+Enter breaks the line; Enter sends, as in any chat box.
    box = page.locator("#question textarea")
    box.fill("line one")
    box.press("Shift+Enter")
    assert box.input_value() == "line one\n"
    box.fill(XSS)
    box.press("Enter")
    page.get_by_text("window.__xss=1", exact=False).first.wait_for(timeout=60_000)
    assert page.evaluate("window.__xss") is None

    page.get_by_role("tab", name="Library").click()
    page.locator("#documents").wait_for()
    page.locator("#probe textarea").fill("How much memory does the KV cache need?")
    page.locator("#inspect").click()
    page.locator("#probe-table").get_by_text("KV cache", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "library.png"), full_page=True)
    feedback = app.data_dir / "feedback.jsonl"
    rows = [json.loads(line) for line in feedback.read_text().splitlines()]
    assert rows[-1]["liked"] is True and rows[-1]["chunk_ids"]
    page.close()


def test_stop_cuts_an_answer_short_and_typed_text_survives(app: RunningApp, browser: object) -> None:
    """In a real browser: while an answer streams, what the learner types stays in the box;
    Stop ends the answer, and the app hangs up on the model server within a second."""
    assert app.llm is not None
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(app.url, wait_until="load")
    box = page.locator("#question textarea")
    box.fill(SLOW + "?")
    page.locator("#ask").click()
    page.locator("#chat").get_by_text("to keep their spread", exact=False).first.wait_for(timeout=60_000)
    box.fill("And what about paged attention?")
    page.wait_for_timeout(1_000)  # more deltas arrive while the text sits in the box
    stop = page.locator("#stop")
    assert stop.is_visible()
    app.llm.hung_up_at = None
    clicked = time.monotonic()
    stop.click()
    page.get_by_text("Stopped: the rest was not written.").wait_for(timeout=10_000)
    deadline = clicked + 5
    while app.llm.hung_up_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.llm.hung_up_at is not None and app.llm.hung_up_at - clicked <= 1.0
    assert box.input_value() == "And what about paged attention?"
    assert not stop.is_visible()
    page.close()
