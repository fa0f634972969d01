"""The mock interview over the real corpus index: choosing questions, follow-ups, hints,
skipping, the report, and the `tutor interview` command driven through stdin."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Scripted, text_reply
from support import offline_cli

from tutor.app.ui import escape_markdown
from tutor.config import REPO_DIR, Settings
from tutor.errors import InputError
from tutor.interview.grades import Grade
from tutor.interview.interviewer import Interviewer, choose_bank
from tutor.interview.knowledge import load_questions
from tutor.interview.session import Session, Turn
from tutor.llm import EmbeddedLLM
from tutor.store.index import Index

BANK = load_questions(REPO_DIR / "corpus")
PARTIAL_RAG = ("RAG lets the model use documents it was not trained on by retrieving them and "
               "adding them to the prompt. You split the documents into chunks, embed them and "
               "store them in a vector database.")


@pytest.fixture(scope="module")
def interviewer(corpus_settings: Settings, corpus_index: Index) -> Interviewer:
    # Template follow-ups and hints keep these tests free of the LLM; the LLM-written ones are
    # tested (slow) at the end.
    settings = corpus_settings.model_copy(update={"follow_up_writer": "template"})
    return Interviewer(settings, corpus_index, method="embedding")


def test_grading_without_an_llm_never_calls_one(corpus_settings: Settings, corpus_index: Index) -> None:
    """`embedding` grading is the no-LLM method: its follow-up and hint are the templates by
    default (the README promises it well under a second), so the endpoint sees no request."""
    server = Scripted([text_reply("Which step did you leave out?")])
    try:
        settings = corpus_settings.model_copy(update={"llm_base_url": server.url, "llm_model": "served-model"})
        interviewer = Interviewer(settings, corpus_index, method="embedding")
        question = interviewer.question("rag-001")
        grade = interviewer.grader.grade(question, PARTIAL_RAG)
        follow = interviewer.follow_up(question, grade)
        assert follow is not None and follow.question.endswith("?") and follow.written_by == "template"
        assert interviewer.hint(question, grade.target or 0).text
        assert server.posts == 0
        # Asked for, the LLM writes them even with this method; other methods use it by default.
        assert Interviewer(settings.model_copy(update={"follow_up_writer": "llm"}), corpus_index,
                           method="embedding").writes_with_llm
        assert Interviewer(settings, corpus_index, method="llm").writes_with_llm
    finally:
        server.close()


@pytest.fixture
def session(interviewer: Interviewer) -> Iterator[Session]:
    made = Session(interviewer, topics=["rag"], n=2, seed=3)
    yield made
    made.close()


def test_choose_bank_filters_and_explains_bad_choices() -> None:
    chosen = choose_bank(BANK, ["rag", "prompting"], "applied")
    assert chosen and {q.topic for q in chosen} <= {"rag", "prompting"}
    assert {q.level for q in chosen} == {"applied"}
    assert len(choose_bank(BANK)) == len(BANK)
    with pytest.raises(InputError, match="topics are"):
        choose_bank(BANK, ["cooking"])
    with pytest.raises(InputError, match="level"):
        choose_bank(BANK, [], "expert")  # type: ignore[arg-type]


def test_a_session_never_repeats_and_stops_at_n(interviewer: Interviewer) -> None:
    session = Session(interviewer, topics=["rag", "prompting"], n=5, seed=1)
    asked = []
    while (question := session.next_question()) is not None:
        assert session.next_question() is question  # unanswered: still the same one
        asked.append(question.id)
        session.skip()
    session.close()
    assert len(asked) == 5 == len(set(asked))
    assert {BANK[[q.id for q in BANK].index(i)].topic for i in asked} <= {"rag", "prompting"}


def test_weak_topics_come_back_more_often(interviewer: Interviewer) -> None:
    """After a 0/10 on one topic and a 10/10 on another, the weak one is asked again far
    more often than the strong one (over many seeded sessions)."""
    by_topic = {t: [q for q in BANK if q.topic == t] for t in ("rag", "prompting", "evaluation",
                                                               "long-context")}
    picked: Counter[str] = Counter()
    for seed in range(150):
        # No prefetch: only the choice matters here, not the drawn question's sources.
        session = Session(interviewer, topics=list(by_topic), n=4, seed=seed, prefetch=False)
        for topic, mark in (("rag", 0.0), ("prompting", 10.0)):
            question = by_topic[topic][0]
            grade = Grade(question.id, mark, [], "", "embedding")
            session.turns.append(Turn(question, answer="…", grade=grade))
        question = session.next_question()
        assert question is not None
        picked[question.topic] += 1
    assert picked["rag"] > 3 * max(1, picked["prompting"])
    assert picked["rag"] >= 30  # P = 1 / (1 + 1) for a 0/10 topic after two questions


def test_answer_follow_up_and_report(session: Session) -> None:
    question = session.next_question()
    # A topic starts with a fundamental question.
    assert question is not None and question.topic == "rag" and question.level == "fundamental"
    grade = session.submit(PARTIAL_RAG)
    assert grade.follow_up is not None and session.stage == "follow-up"
    target = grade.follow_up.point
    assert target == grade.target and grade.verdicts[target].verdict != "covered"
    assert session.asked == grade.follow_up.question

    point = question.key_points[target].point
    follow = session.submit(point)  # answering with the point itself covers it
    assert [v.index for v in follow.verdicts] == [target]
    assert follow.verdicts[0].verdict == "covered"
    assert session.current is None and session.stage == "answer"

    second = session.next_question()
    assert second is not None and second.id != question.id
    session.skip()
    assert session.next_question() is None  # n = 2

    report = session.report()
    assert [t.topic for t in report.topics] == ["rag"]
    text = report.markdown()
    assert question.question in text and second.question in text and "(skipped)" in text
    assert question.id not in text and second.id not in text
    read_next = text.split("### Read next")[1]
    assert "rag.md › " in read_next and "](" not in read_next  # a relative link would open nothing
    # The point fixed in the follow-up is off the reading list (unless another open point
    # shares its passage).
    fixed = grade.verdicts[target].source
    still_open = {v.source for v in grade.verdicts if v.verdict != "covered" and v.index != target}
    assert fixed in still_open or fixed not in session.turns[0].to_read()


def test_report_lists_weakest_topics_first(interviewer: Interviewer) -> None:
    session = Session(interviewer, topics=["rag", "prompting"], level="fundamental", n=2, seed=0)
    answers = {"rag": PARTIAL_RAG, "prompting": ""}
    while (question := session.next_question()) is not None:
        session.submit(answers[question.topic])
        if session.current is not None:
            session.skip()  # the follow-up
    session.close()
    report = session.report()
    assert [t.topic for t in report.topics] == ["prompting", "rag"]
    assert report.topics[0].score == 0.0 < report.topics[1].score
    assert report.topics[0].read, "a 0/10 topic must say what to read"


def test_escaped_text_shows_quotes_as_typed() -> None:
    shown = escape_markdown("what's the \"point\" of <b>top-k</b>?")
    assert shown == "what's the \"point\" of &lt;b&gt;top\\-k&lt;/b&gt;?"


def test_hint_points_at_the_source_without_the_answer(session: Session) -> None:
    question = session.next_question()
    assert question is not None
    hint = session.hint()
    assert hint.point == 0 and hint.written_by == "template"
    point = question.key_points[0]
    assert point.point not in hint.text and point.source.section in hint.text
    # The shape of the point, its long words reduced to their first letter.
    assert "_" in hint.text and hint.text.count("_") > len(point.point) // 4
    assert session.hint().point == 1  # the next hint leads to the next point


def test_repeating_the_last_answer_earns_nothing(interviewer: Interviewer) -> None:
    session = Session(interviewer, topics=["rag"], n=2, seed=5)
    session.next_question()
    session.submit(PARTIAL_RAG)
    if session.current is not None:
        session.skip()
    session.next_question()
    grade = session.submit(PARTIAL_RAG)
    session.close()
    assert "repeat" in grade.flags and grade.score == 0.0


def test_explained_question_counts_as_skipped(session: Session) -> None:
    session.next_question()
    session.explained()
    turn = session.turns[-1]
    assert turn.explained and turn.grade is not None and "skipped" in turn.grade.flags
    assert session.current is None


def test_no_question_waiting_is_a_clear_error(session: Session) -> None:
    with pytest.raises(InputError, match="next_question"):
        session.submit("an answer")


def test_app_deletes_its_report_file_when_the_interview_goes(session: Session) -> None:
    from tutor.app.interview import Interview, _end, close

    interview = Interview(session)
    _end(interview)  # what Finish does: the report file the download button serves
    assert interview.report is not None and interview.report.read_text(encoding="utf-8")
    close(interview)  # Gradio's delete callback (idle browser tab, or a new interview)
    assert not interview.report.parent.exists()


# --------------------------------------------------------------------------------------
# The real LLM writes follow-ups and hints
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_llm_follow_up_and_hint_do_not_give_the_point_away(corpus_settings: Settings,
                                                          corpus_index: Index) -> None:
    llm = EmbeddedLLM(Settings(data_dir=REPO_DIR / ".tutor", llm_temperature=0.0))
    interviewer = Interviewer(corpus_settings, corpus_index, llm=llm, method="judge")
    question = next(q for q in BANK if q.id == "rag-001")
    grade = interviewer.grader.grade(question, PARTIAL_RAG)
    follow = interviewer.follow_up(question, grade)
    assert follow is not None and follow.question.endswith("?")
    assert follow.point == grade.target
    point = question.key_points[follow.point].point
    assert point not in follow.question
    hint = interviewer.hint(question, follow.point)
    assert hint.text and point not in hint.text


# --------------------------------------------------------------------------------------
# `tutor interview` in a terminal
# --------------------------------------------------------------------------------------




def test_interview_runs_in_the_terminal(rag_only: Path, tmp_path: Path) -> None:
    export = tmp_path / "report.md"
    stdin = "\n".join(["hint", PARTIAL_RAG, "skip", "", "explain-not-a-command", "quit"]) + "\n"
    done = offline_cli("interview", "--topic", "rag", "--n", "2", "--seed", "4", "--export",
                   str(export), data=rag_only, stdin=stdin)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Question 1/2 [rag" in out and "Hint:" in out and "Follow-up:" in out
    assert "Question 2/2" in out and "No answer given" in out
    assert "# Mock interview report" in out and "### Read next" in out
    assert export.read_text(encoding="utf-8").startswith("# Mock interview report")
    assert "Traceback" not in done.stderr


def test_interview_ends_cleanly_on_eof(rag_only: Path) -> None:
    done = offline_cli("interview", "--topic", "rag", "--n", "1", data=rag_only, stdin="")
    assert done.returncode == 0, done.stderr
    assert "Interview ended early." in done.stdout and "No question was answered." in done.stdout
    assert "Traceback" not in done.stderr


def test_interview_bad_options_are_clear(rag_only: Path) -> None:
    done = offline_cli("interview", "--topic", "cooking", data=rag_only)
    assert done.returncode == 1 and done.stderr.startswith("error: No questions on cooking")
    done = offline_cli("interview", "--n", "0", data=rag_only)
    assert done.returncode == 1 and done.stderr == (
        "error: argument --n: must be 1 or more, got 0 (see `tutor interview --help`)\n")
