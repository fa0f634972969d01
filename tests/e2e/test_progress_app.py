"""Learner memory in the browser app: real Chromium, the real Gradio server, the scripted LLM
(apprunner.scripted_model grades each first answer covered / partial / missed..., and each
follow-up answer covered).

One learner (a browser context, so one local storage) asks the tutor a question and answers
two interview questions with their follow-ups; the tests below then reload, open a second
browser, review, export / delete / import and practise, in file order, on that one learner.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from e2e.apprunner import REPO, RunningApp
from tutor.interview.knowledge import Question, load_questions, topic_titles

pytestmark = pytest.mark.e2e
SHOTS = REPO / "docs" / "screenshots"
BANK = load_questions(REPO / "corpus")
RAG = topic_titles(REPO / "corpus")["rag"]
ASKED = "Why is attention scaled by sqrt(d_k)?"
ANSWER = ("RAG retrieves passages from an index at query time and puts them in the prompt. "
          "The model then answers from those passages and cites them.")
FOLLOW_UP_ANSWER = "The retrieved chunks are put into the prompt before the model answers."
WAIT = 60_000  # ms; grading runs the real retriever on two shared cores


@dataclass
class Learner:
    page: Any  # playwright Page
    questions: list[Question]  # the interview's, in order
    checked: tuple[int, list[str]]  # the live answer's ⚠ sentences and notes on what the check did


def review_tab(page: Any) -> Any:
    return page.get_by_role("tab", name=re.compile(r"^Review"))


def due(page: Any) -> int:
    """The number of cards due, as the Review tab's label says it."""
    found = re.search(r"\((\d+) due\)", review_tab(page).inner_text())
    return int(found.group(1)) if found else 0


def asked(page: Any) -> Question:
    shown = page.locator("#iv-question .iv-asked").inner_text()
    return next(q for q in BANK if q.question in shown)


def answer_checks(page: Any) -> tuple[int, list[str]]:
    """What the answer check marked in the chat: sentences flagged ⚠, and its notes (✎ / ⚠)."""
    chat = page.locator("#chat")
    return chat.locator(".unsupported").count(), chat.locator("small").all_inner_texts()


def answer_with_follow_up(page: Any) -> Question:
    question = asked(page)
    page.locator("#iv-answer textarea").fill(ANSWER)
    page.locator("#iv-submit").click()
    page.locator("#iv-question").get_by_text("Follow-up:").wait_for(timeout=WAIT)
    page.locator("#iv-answer textarea").fill(FOLLOW_UP_ANSWER)
    page.locator("#iv-submit").click()
    page.locator("#iv-feedback .iv-grade").nth(1).wait_for(timeout=WAIT)
    return question


@pytest.fixture(scope="module")
def learner(app: RunningApp, browser: Any) -> Iterator[Learner]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(app.url, wait_until="load")
    page.locator("#question textarea").fill(ASKED)
    page.locator("#ask").click()
    page.locator("#chat a.cite").first.wait_for(timeout=WAIT)
    checked = answer_checks(page)

    page.get_by_role("tab", name="Interview").click()
    page.locator("#iv-topics input").click()
    page.get_by_role("option", name=RAG, exact=True).click()
    page.locator("#iv-start").click()
    page.locator("#iv-question .iv-asked").wait_for(timeout=WAIT)
    first = answer_with_follow_up(page)
    page.locator("#iv-next").click()
    page.locator("#iv-question").get_by_text("Question 2/5").wait_for(timeout=WAIT)
    second = answer_with_follow_up(page)
    page.locator("#iv-question").get_by_text("Question 2/5 done").wait_for(timeout=WAIT)
    assert page.locator("#iv-status").inner_text() == ""  # stored without a problem
    yield Learner(page, [first, second], checked)
    context.close()


def test_a_reload_brings_back_the_chat_and_the_interview(learner: Learner) -> None:
    page = learner.page
    page.reload(wait_until="load")
    chat = page.locator("#chat")
    chat.get_by_text(ASKED).wait_for(timeout=WAIT)
    chat.get_by_text("to keep their spread independent of the head size").wait_for()
    assert chat.locator("a.cite").count() >= 1  # the restored answer still links its sources
    # ... and shows what the check marked (⚠ sentences no passage says, ✎ corrections) as live.
    assert answer_checks(page) == learner.checked
    assert page.locator("#sources mark").count() >= 1

    page.get_by_role("tab", name="Interview").click()
    page.locator("#iv-status").get_by_text("Welcome back").wait_for(timeout=WAIT)
    assert "2 of 5 question(s) answered" in page.locator("#iv-status").inner_text()
    assert "Question 2/5 done" in page.locator("#iv-question").inner_text()
    so_far = page.locator("#iv-report").inner_text()
    assert all(q.question in so_far for q in learner.questions) and RAG in so_far
    assert "follow-up 10.0/10" in so_far
    page.locator("#iv-feedback table.iv-verdicts").first.wait_for()  # the last grades
    page.locator("#iv-next").click()  # and it goes on
    page.locator("#iv-question").get_by_text("Question 3/5").wait_for(timeout=WAIT)
    third = asked(page)
    assert third not in learner.questions  # never asked twice, across the reload


def test_another_browser_sees_none_of_it(app: RunningApp, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(app.url, wait_until="load")
    page.get_by_role("tab", name="Interview").click()
    expect(page.locator("#iv-start")).to_be_enabled(timeout=WAIT)  # the page has loaded
    assert "Choose topics" in page.locator("#iv-question").inner_text()
    assert "Welcome back" not in page.locator("#iv-status").inner_text()
    review_tab(page).click()
    page.locator("#rv-header").get_by_text("Points you miss in an interview become cards here"
                                           ).wait_for(timeout=WAIT)
    assert review_tab(page).inner_text().strip() == "Review"
    assert ASKED not in page.locator("#chat").inner_text()
    context.close()


def test_missed_points_are_due_cards_and_rating_reschedules_one(learner: Learner) -> None:
    page = learner.page
    # Each first answer: point 0 covered, 1 partial, the rest missed: a card each for 1..k-1;
    # the follow-up on point 1 is covered, which reviews its card (Good: due in 10 min).
    expected = sum(len(q.key_points) - 2 for q in learner.questions)
    review_tab(page).click()
    page.locator("#rv-show").wait_for(timeout=WAIT)
    assert due(page) == expected
    front = page.locator("#rv-front").inner_text()
    card_question = next(q for q in learner.questions if q.question in front)
    assert "In particular" in front and "_" in front  # the point as a cloze
    page.locator("#rv-show").click()
    back = page.locator("#rv-back")
    back.wait_for(timeout=WAIT)
    missed = [k.point for k in card_question.key_points[2:]]
    assert any(point in back.inner_text() for point in missed)
    assert "From the notes (notes/rag.md ›" in back.inner_text()  # the cited span, doc › section
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "review.png"), full_page=True)

    page.locator("#rv-good").click()
    page.locator("#rv-status").get_by_text("this card is next due in 10 min").wait_for(timeout=WAIT)
    # The tab's label comes in the same update as the status but may render a moment later.
    expect(review_tab(page)).to_contain_text(f"({expected - 1} due)", timeout=WAIT)
    assert page.locator("#rv-front").inner_text() != front  # the next due card is up


def test_export_delete_import_restores_progress(learner: Learner, tmp_path: Path) -> None:
    page = learner.page
    before = due(page)
    page.get_by_role("tab", name="Progress").click()
    page.locator("#learner-panel").get_by_text("Your progress").first.click()
    page.locator("#learner-key code").wait_for(timeout=WAIT)  # the key shows here only
    name = page.locator("#learner-name textarea")
    name.fill("Ada")  # waits until the box is editable: the stored name has been filled in
    expect(name).to_have_value("Ada")
    page.locator("#learner-save").click()
    # expect(), not wait_for(): on failure it says what the status showed instead (once, in a
    # fresh-clone CI run, "hello, Ada" never came and the log could not say why).
    expect(page.locator("#learner-status")).to_contain_text("hello, Ada", timeout=WAIT)

    page.locator("#learner-export").click()
    link = page.locator("#learner-file a").first
    link.wait_for(timeout=WAIT)
    with page.expect_download() as download:
        link.click()
    export = tmp_path / "progress.json"
    download.value.save_as(export)
    assert '"answers"' in export.read_text(encoding="utf-8")

    page.locator("#learner-delete").click()
    page.locator("#learner-confirm").click()
    page.locator("#learner-status").get_by_text("Your progress was deleted").wait_for(timeout=WAIT)
    review_tab(page).get_by_text("Review", exact=True).wait_for(timeout=WAIT)  # nothing due

    with page.expect_file_chooser() as chooser:
        page.locator("#learner-import").click()
    chooser.value.set_files(str(export))
    page.locator("#learner-status").get_by_text("Imported").wait_for(timeout=WAIT)
    review_tab(page).get_by_text(f"Review ({before} due)").wait_for(timeout=WAIT)
    page.reload(wait_until="load")
    page.locator("#chat").get_by_text(ASKED).wait_for(timeout=WAIT)


def test_readiness_and_practise_next(learner: Learner) -> None:
    page = learner.page
    page.get_by_role("tab", name="Progress").click()
    table = page.locator("#readiness")
    table.get_by_text(RAG).wait_for(timeout=WAIT)
    points = sum(len(q.key_points) for q in BANK if q.topic == "rag")
    answered = sum(len(q.key_points) for q in learner.questions)
    rows = table.inner_text()
    assert rows.index(RAG) < rows.index("never")  # the practised topic comes first
    assert f"{answered}/{points} ({answered / points:.0%})" in rows
    practise = page.locator("#practise-next")
    practise.wait_for(timeout=WAIT)
    assert practise.inner_text() == f"Practise next: {RAG}"  # the only topic with cards due
    page.locator("#readiness-plot canvas, #readiness-plot svg").first.wait_for(timeout=WAIT)
    page.screenshot(path=str(SHOTS / "readiness.png"), full_page=True)

    practise.click()
    page.locator("#iv-question").get_by_text(f"Question 1/5 · {RAG}").wait_for(timeout=WAIT)
    assert RAG in html.unescape(page.locator("#iv-topics").inner_text())


def test_a_second_tab_cannot_undo_the_first(learner: Learner) -> None:
    """Two tabs of one learner show the interview "Practise next" just started; the first to
    answer moves it on, and the other tab's save is refused with what to do, not silently
    written over the first's progress."""
    first = learner.page
    second = first.context.new_page()  # the same browser: the same learner
    second.goto(first.url, wait_until="load")
    second.get_by_role("tab", name="Interview").click()
    second.locator("#iv-status").get_by_text("Welcome back").wait_for(timeout=WAIT)

    for page in (first, second):
        page.locator("#iv-answer textarea").fill(ANSWER)
        page.locator("#iv-submit").click()
        page.locator("#iv-question").get_by_text("Follow-up:").wait_for(timeout=WAIT)
    second.locator("#iv-status").get_by_text("reload the page").wait_for(timeout=WAIT)
    assert "reload the page" not in first.locator("#iv-status").inner_text()

    second.reload(wait_until="load")  # and it shows where the first tab got to
    second.get_by_role("tab", name="Interview").click()
    second.locator("#iv-status").get_by_text("Welcome back").wait_for(timeout=WAIT)
    assert "1 of 5 question(s) answered" in second.locator("#iv-status").inner_text()
    second.close()
