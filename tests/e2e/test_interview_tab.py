"""The Interview tab, driven like a learner would: gradio_client for the API, Chromium for the
page. The app grades with its default for a served model (`llm`, follow-ups and hints by the
LLM); the scripted model answers each kind of request (apprunner.scripted_model)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from e2e.apprunner import REPO, RunningApp
from tutor.interview.knowledge import Question, load_questions, topic_titles

pytestmark = pytest.mark.e2e
SHOTS = REPO / "docs" / "screenshots"
BANK = load_questions(REPO / "corpus")
# What a learner reads for a topic (the API still takes its id, "rag").
TITLES = topic_titles(REPO / "corpus")
RAG = TITLES["rag"]
OUTPUTS = ("question", "answer", "status", "feedback", "scores", "report", "download")
UNCHANGED = {"__type__": "update"}  # what the API returns for a box left as the learner typed it
RAG_ANSWER = ("RAG retrieves passages from an index at query time and puts them in the prompt. "
              "The model then answers from those passages and cites them.")
PAYLOAD = "<img src=x onerror=alert(1)>"
XSS_ANSWER = f"The retriever finds the right chunks {PAYLOAD} before the model writes its answer."


def call(client: Client, *args: Any, api: str) -> dict[str, Any]:
    return dict(zip(OUTPUTS, client.predict(*args, api_name=f"/interview_{api}"), strict=True))


def asked(question_html: str) -> Question:
    return next(q for q in BANK if html.escape(q.question) in question_html)


def test_interview_round_over_the_api(app: RunningApp) -> None:
    client = Client(app.url, verbose=False)
    view = call(client, ["rag"], "mixed", 2, api="start")
    assert f"Question 1/2 · {RAG}" in view["question"] and view["status"] == ""
    question = asked(view["question"])

    view = call(client, RAG_ANSWER, api="answer")
    feedback = view["feedback"]
    score = round(10 * (1 + 0.5) / len(question.key_points), 1)  # one covered, one partial
    assert view["status"] == "" and view["answer"] == ""  # graded: the box is emptied
    assert f"<h3>Your answer: {score}/10</h3>" in feedback
    assert all(html.escape(p.point) in feedback for p in question.key_points)
    for verdict in ("covered", "partial", "missed"):  # the scripted grader's verdicts
        assert f"iv-{verdict}'>{verdict}</span>" in feedback
    assert "“RAG retrieves passages from an index" in feedback  # the learner's sentence
    assert feedback.count("<b>notes/rag.md</b> ›") == len(question.key_points)  # each point's source
    assert view["scores"]["data"] == [[RAG, score, 1]]
    assert "Follow-up: " in view["question"]

    view = call(client, api="hint")
    assert "<div class='iv-hint'>Hint: " in view["question"] and view["answer"] == UNCHANGED
    view = call(client, api="skip")  # the follow-up
    assert "Follow-up: skipped" in view["feedback"] and "Next question" in view["question"]
    view = call(client, api="next")
    assert f"Question 2/2 · {RAG}" in view["question"] and view["feedback"] == ""
    second = asked(view["question"])
    view = call(client, api="explain")
    assert "<h3>Model answer</h3>" in view["feedback"]
    assert html.escape(second.answer) in view["feedback"]
    assert all(html.escape(p.point) in view["feedback"] for p in second.key_points)

    # The second question was the last: the interview ended and wrote its report.
    # Shown escaped, topics by name, no internal question ids.
    assert view["report"].startswith("# Mock interview report")
    assert "## Retrieval\\-augmented generation: " in view["report"]
    assert "rag\\-0" not in view["report"] and "rag-0" not in view["report"]
    report = Path(view["download"]["value"])
    assert report.name.endswith(".md") and view["download"]["visible"] is True
    assert report.read_text(encoding="utf-8").startswith("# Mock interview report\n\n2 question(s)")
    view = call(client, RAG_ANSWER, api="answer")
    assert "This interview is over" in view["status"] and view["answer"] == UNCHANGED


def test_bad_answers_are_refused_and_the_text_kept(app: RunningApp) -> None:
    client = Client(app.url, verbose=False)
    view = call(client, api="hint")
    assert "Press <b>Start</b>" in view["status"]
    call(client, ["rag"], "fundamental", 1, api="start")
    for text, message in (("   ", "⚠ Type your answer first"), ("word " * 1000, "keep it under 3,000")):
        view = call(client, text, api="answer")
        assert message in view["status"] and view["answer"] == UNCHANGED and view["feedback"] == ""
    view = call(client, RAG_ANSWER, api="answer")  # the question still waits: nothing was lost
    assert "iv-verdicts" in view["feedback"] and view["status"] == ""


def test_each_browser_session_has_its_own_interview(app: RunningApp) -> None:
    first, second = Client(app.url, verbose=False), Client(app.url, verbose=False)
    call(first, ["rag"], "fundamental", 1, api="start")
    view = call(second, ["prompting"], "fundamental", 1, api="start")
    assert f"· {TITLES['prompting']} ·" in view["question"]
    view = call(first, RAG_ANSWER, api="answer")
    assert [row[0] for row in view["scores"]["data"]] == [RAG]
    view = call(second, api="report")  # nothing answered there
    assert "No question was answered." in view["report"]


def test_interview_with_a_dead_llm_is_a_clear_message(dead_llm_app: RunningApp) -> None:
    client = Client(dead_llm_app.url, verbose=False)
    call(client, ["rag"], "fundamental", 1, api="start")  # starting needs no LLM
    view = call(client, RAG_ANSWER, api="answer")
    status = view["status"]
    assert status.startswith("⚠") and "127.0.0.1:9" in status and "Traceback" not in status
    assert view["answer"] == UNCHANGED and view["feedback"] == ""  # the answer is kept
    view = call(client, api="skip")  # and the interview goes on
    assert "Your answer: skipped" in view["feedback"] and view["report"]


def test_interview_in_a_real_browser(app: RunningApp, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app.url, wait_until="load")
    page.get_by_role("tab", name="Interview").click()
    page.locator("#iv-topics input").click()
    page.get_by_role("option", name=RAG, exact=True).click()
    page.locator("#iv-start").click()
    page.locator("#iv-question .iv-asked").wait_for(timeout=60_000)

    page.locator("#iv-submit").click()  # nothing typed yet
    page.get_by_text("Type your answer first").wait_for(timeout=60_000)
    page.locator("#iv-answer textarea").fill(RAG_ANSWER)
    page.locator("#iv-submit").click()
    page.locator("#iv-feedback table.iv-verdicts").wait_for(timeout=60_000)
    assert "/10" in page.locator("#iv-feedback h3").first.inner_text()
    assert page.locator("#iv-feedback .iv-verdict").count() >= 3
    assert RAG in page.locator("#iv-scores").inner_text()
    page.locator("#iv-hint").click()
    page.locator("#iv-question .iv-hint").wait_for(timeout=60_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "interview.png"), full_page=True)

    page.locator("#iv-answer textarea").fill(XSS_ANSWER)  # the answer to the follow-up
    page.locator("#iv-submit").click()
    feedback = page.locator("#iv-feedback")
    feedback.locator(".iv-grade").nth(1).wait_for(timeout=60_000)  # the follow-up's grade
    feedback.get_by_text(PAYLOAD, exact=False).first.wait_for(timeout=60_000)
    assert feedback.locator("img").count() == 0 and not dialogs
    page.close()
