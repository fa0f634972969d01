"""The Interview tab of the browser app: a mock interview per browser session.

The interviewer (question bank, grader and its caches, the LLM) is shared by every session;
each browser session keeps its own `Session` in `gr.State`, closed when the interview ends,
when the learner starts another, or when Gradio drops the session state. Every event shows
the whole tab again from that state, so the page and an API client always see the same
thing. The learner's answers, the LLM's follow-ups and hints and the passages are escaped
before they are shown.

A learner's interview is also kept in the learner store (`tutor.app.memory`): each graded
answer and follow-up as it is graded, the session's state after every action
(`tutor.interview.state`), its end. A page that loads with an unfinished interview takes it
up where it stopped. Without a learner (an API client) or a store, it runs unsaved.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from tutor.app.interview_html import (
    render_feedback,
    render_question,
    render_report,
    topic_rows,
)
from tutor.app.memory import Memory
from tutor.app.ui import error_message, llm_queue
from tutor.config import Settings
from tutor.errors import InputError
from tutor.interview.interviewer import LEVELS, Interviewer, LevelChoice
from tutor.interview.session import Session
from tutor.interview.state import restore_session, session_state
from tutor.memory.progress import ProgressStore

MAX_QUESTIONS = 10
# Gradio drops a closed tab's state after an hour; this also ends interviews left idle in an
# open tab, so their sessions are closed.
IDLE_TTL_S = 3 * 3600


@dataclass(slots=True)
class Interview:
    """One browser session's interview: its `Session`, and its report file once it ended."""

    session: Session
    report: Path | None = None
    # One action at a time: a second click must not grade against a half-updated session.
    lock: threading.Lock = field(default_factory=threading.Lock)
    record: str | None = None  # its id in the learner store, once saved there
    # The grades already in the store, by (turn index, is it the follow-up's).
    recorded: set[tuple[int, bool]] = field(default_factory=set)
    revision: int = 0  # of its state in the store, as this session last loaded or saved it

    @property
    def over(self) -> bool:
        return self.report is not None

    def grades(self) -> set[tuple[int, bool]]:
        """Every grade the session holds, as `recorded` names them."""
        return {(i, follow_up) for i, turn in enumerate(self.session.turns)
                for follow_up, grade in ((False, turn.grade), (True, turn.follow_up_grade))
                if grade is not None}

    @property
    def position(self) -> tuple[int, str, bool]:
        """Which question the learner faces; the answer box empties when this changes."""
        return len(self.session.turns), self.session.stage, self.session.current is None


def close(interview: Interview | None) -> None:
    """Gradio's delete callback for the state, also used when an interview is replaced."""
    if interview is not None:
        with interview.lock:
            interview.session.close()
            if interview.report is not None:
                # Gradio served its own copy of the report when it was shown; ours is done.
                shutil.rmtree(interview.report.parent, ignore_errors=True)


def shown(interview: Interview | None, *, status: str = "", answer: Any = "") -> tuple[Any, ...]:
    """Every output of the tab, in the order `add_tab` lists them. `answer` is the answer
    box's new value (`gr.update()` leaves what the learner typed)."""
    report = interview.report if interview is not None else None
    download = gr.DownloadButton(value=str(report) if report else None, visible=report is not None)
    return (interview, render_question(interview), answer, status, render_feedback(interview),
            topic_rows(interview), render_report(interview), download)


# --------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------

Action = Callable[[Session], object]
Learner = str | None  # the browser session's learner id (tutor.app.memory); None: no memory


class InterviewTab:
    """The tab's event handlers. Each returns `shown(...)` for its browser session."""

    def __init__(self, interviewer: Interviewer, memory: Memory) -> None:
        self.interviewer = interviewer
        self.memory = memory
        self.max_answer_chars = interviewer.settings.grade_max_answer_chars
        self.default_n = min(interviewer.settings.interview_questions, MAX_QUESTIONS)

    def topics(self) -> list[tuple[str, str]]:
        """The topic chooser's (name shown, id sent) pairs: the API takes topic ids."""
        titles = self.interviewer.titles
        return sorted((titles.get(t, t), t) for t in {q.topic for q in self.interviewer.bank})

    def start(self, topics: list[str] | None, level: LevelChoice, n: float,
              interview: Interview | None, learner: Learner = None) -> tuple[Any, ...]:
        try:
            session = Session(self.interviewer, topics=topics or (), level=level, n=int(n))
            session.next_question()
        except Exception as exc:
            return shown(interview, status=error_message(exc, "starting the interview"),
                         answer=gr.update())
        ended = self._abandon(interview, learner)
        close(interview)
        started = Interview(session)
        return shown(started, status=self._remember(started, learner) or ended)

    def practise(self, topic: str | None, interview: Interview | None, learner: Learner
                 ) -> tuple[Any, ...]:
        """"Practise next" (the Progress tab): a new interview on that topic, shown in this
        tab with the topic chosen."""
        view = self.start([topic] if topic else None, "mixed", self.default_n, interview, learner)
        return (*view, gr.Tabs(selected="interview"), gr.update(value=[topic] if topic else []))

    def resume(self, learner: Learner, interview: Interview | None) -> tuple[Any, ...]:
        """On page load: the learner's unfinished interview, where it stopped."""
        if interview is not None or learner is None:  # this session already shows one
            return shown(interview, answer=gr.update())
        record, problem = self.memory.use("reading your interview",
                                          lambda s: s.unfinished_interview(learner))
        if record is None:
            return shown(None, status=problem)
        try:
            session, notes = restore_session(self.interviewer, record.state)
        except Exception as exc:
            # Ended, so that it is not offered again at every visit.
            self.memory.use("closing your interview",
                            lambda s: s.finish_interview(learner, record.id))
            return shown(None, status=error_message(exc, "resuming your interview"))
        resumed = Interview(session, record=record.id, revision=record.revision)
        resumed.recorded = resumed.grades()  # what it holds came from the store
        answered = sum(t.grade is not None for t in session.turns)
        status = (f"Welcome back: your interview of {record.started_at:%d %b, %H:%M} UTC is "
                  f"restored, {answered} of {session.n} question(s) answered. Go on, or press "
                  "<b>Start</b> for a new one.")
        if _asked_all(session):  # it was saved after its last answer, but did not end
            _end(resumed)
            status = self._remember(resumed, learner) or "Your last interview is over: its report is below."
        return shown(resumed, status=" ".join([status, *map(html.escape, notes)]))

    def answer(self, text: str | None, interview: Interview | None, learner: Learner = None
               ) -> tuple[Any, ...]:
        text = text or ""

        def submit(session: Session) -> None:
            if not text.strip():
                raise InputError("Type your answer first, or press Hint, Skip or Explain.")
            if len(text) > self.max_answer_chars:
                raise InputError(f"Your answer is {len(text):,} characters: keep it under "
                                 f"{self.max_answer_chars:,} (a spoken answer is a few sentences).")
            session.submit(text)

        return self._act(interview, learner, submit, "grading your answer", needs_question=True)

    def hint(self, interview: Interview | None, learner: Learner = None) -> tuple[Any, ...]:
        return self._act(interview, learner, Session.hint, "writing a hint", needs_question=True)

    def skip(self, interview: Interview | None, learner: Learner = None) -> tuple[Any, ...]:
        return self._act(interview, learner, Session.skip, "skipping", needs_question=True)

    def explain(self, interview: Interview | None, learner: Learner = None) -> tuple[Any, ...]:
        return self._act(interview, learner, Session.explained, "explaining", needs_question=True)

    def next(self, interview: Interview | None, learner: Learner = None) -> tuple[Any, ...]:
        def advance(session: Session) -> None:
            if session.current is not None:
                raise InputError("Answer this question first, or press Skip.")
            session.next_question()

        return self._act(interview, learner, advance, "choosing the next question")

    def finish(self, interview: Interview | None, learner: Learner = None) -> tuple[Any, ...]:
        return self._act(interview, learner, lambda s: None, "writing the report", finish=True)

    def _act(self, interview: Interview | None, learner: Learner, action: Action, doing: str, *,
             needs_question: bool = False, finish: bool = False) -> tuple[Any, ...]:
        """Run `action` on the session; a failure becomes one line, and the answer box keeps
        what the learner typed. The interview ends (report written, session closed) on
        Finish or after the last question. Then the learner store catches up."""
        if interview is None:
            return shown(None, status="Press <b>Start</b> to begin an interview.",
                         answer=gr.update())
        with interview.lock:
            if interview.over:
                return shown(interview, status="This interview is over: press <b>Start</b> "
                             "for another.", answer=gr.update())
            before = interview.position
            try:
                if needs_question and interview.session.current is None:
                    # The session's own error names a method; the learner needs the button.
                    raise InputError("No question is waiting: press Next question, or Finish.")
                action(interview.session)
                if finish or _asked_all(interview.session):
                    _end(interview)
            except Exception as exc:
                return shown(interview, status=error_message(exc, doing), answer=gr.update())
            return shown(interview, status=self._remember(interview, learner),
                         answer="" if interview.position != before else gr.update())

    def _remember(self, interview: Interview, learner: Learner) -> str:
        """Bring the store up to date with the interview: its record, the grades not yet
        stored (review cards follow from them), the state to resume from, its end. Returns
        "" or the line saying what could not be saved; what failed is tried again after the
        next action."""
        if learner is None:
            return ""
        session = interview.session

        def save(store: ProgressStore) -> None:
            if interview.record is None:
                interview.record = store.start_interview(learner, session.topics,
                                                         session_state(session)).id
            for i, turn in enumerate(session.turns):
                for follow_up, text, grade in ((False, turn.answer, turn.grade),
                                               (True, turn.follow_up_answer, turn.follow_up_grade)):
                    if grade is not None and (i, follow_up) not in interview.recorded:
                        # A skipped answer is stored as "": its points count as missed.
                        store.record_answer(learner, interview.record, turn.question, text or "",
                                            grade, follow_up=follow_up)
                        interview.recorded.add((i, follow_up))
            interview.revision = store.save_interview_state(learner, interview.record,
                                                            session_state(session), interview.revision)
            if interview.over:
                store.finish_interview(learner, interview.record)

        return self.memory.use("saving your interview", save)[1]

    def _abandon(self, interview: Interview | None, learner: Learner) -> str:
        """A new interview replaces this one: it ends in the store too, so that the next
        visit does not offer to resume it."""
        if learner is None or interview is None or interview.over or interview.record is None:
            return ""
        record = interview.record
        return self.memory.use("closing your last interview",
                               lambda s: s.finish_interview(learner, record))[1]


def _end(interview: Interview) -> None:
    # A temporary file, for the download button only (Gradio serves its own copy); a
    # folder of its own keeps the file name readable and unique.
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.mkdtemp(prefix="tutor-report-")) / f"interview-report-{stamp}.md"
    path.write_text(interview.session.report().markdown(), encoding="utf-8")
    interview.session.close()
    interview.report = path


def _asked_all(session: Session) -> bool:
    return session.current is None and len(session.turns) >= session.n


# --------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InterviewView:
    """What the rest of the page wires to: the state, every output (`shown`'s order), the
    topic chooser, and the events after which the learner's progress has changed."""

    state: gr.State
    outputs: list[Any]
    topics: gr.Dropdown
    start: gr.Button  # closed until the page has loaded (`tutor.app.main.build`)
    graded: list[Any]


def add_tab(tab: InterviewTab, settings: Settings, learner: gr.State) -> InterviewView:
    """The tab's components and events; call inside `gr.Tab`."""
    state = gr.State(None, time_to_live=IDLE_TTL_S, delete_callback=close)
    with gr.Row():
        topics = gr.Dropdown(tab.topics(), multiselect=True, label="Topics (none = all)",
                             elem_id="iv-topics", scale=3)
        level = gr.Radio(list(LEVELS), value="mixed", label="Level", elem_id="iv-level", scale=2)
        n = gr.Slider(1, MAX_QUESTIONS, value=tab.default_n, step=1, label="Questions",
                      elem_id="iv-n", scale=2)
        start = gr.Button("Start", variant="primary", elem_id="iv-start", scale=1,
                          interactive=False)
    with gr.Row():
        with gr.Column(scale=3):
            question = gr.HTML(render_question(None), elem_id="iv-question")
            answer = gr.Textbox(label="Your answer", lines=5, max_lines=14, elem_id="iv-answer",
                                placeholder="Answer as you would out loud, in a few sentences.")
            with gr.Row():
                submit = gr.Button("Submit answer", variant="primary", elem_id="iv-submit")
                hint = gr.Button("Hint", elem_id="iv-hint")
                skip = gr.Button("Skip", elem_id="iv-skip")
                explain = gr.Button("Explain", elem_id="iv-explain")
                next_question = gr.Button("Next question", elem_id="iv-next")
                finish = gr.Button("Finish", variant="stop", elem_id="iv-finish")
            status = gr.HTML(elem_id="iv-status")
            feedback = gr.HTML(elem_id="iv-feedback")
        with gr.Column(scale=2):
            gr.Markdown("### Score per topic")
            scores = gr.Dataframe(headers=["topic", "score /10", "answered"], interactive=False,
                                  elem_id="iv-scores")
            report = gr.Markdown(elem_id="iv-report")
            download = gr.DownloadButton("Download report (.md)", visible=False,
                                         elem_id="iv-download")
    outputs = [state, question, answer, status, feedback, scores, report, download]
    # The learner (a gr.State) is no parameter of the API: an API client has none.
    graded = [start.click(tab.start, [topics, level, n, state, learner], outputs,
                          api_name="interview_start")]
    # Grading may ask the LLM (and a follow-up is written by it): these wait their turn with
    # the Tutor tab's answers (ui.llm_queue).
    graded.append(submit.click(tab.answer, [answer, state, learner], outputs,
                               api_name="interview_answer", **llm_queue(settings)))
    hint.click(tab.hint, [state, learner], outputs, api_name="interview_hint", **llm_queue(settings))
    for button, handler, name in (
                                  (skip, tab.skip, "interview_skip"),
                                  (explain, tab.explain, "interview_explain"),
                                  (next_question, tab.next, "interview_next"),
                                  (finish, tab.finish, "interview_report")):
        event = button.click(handler, [state, learner], outputs, api_name=name)
        if button is not next_question:
            graded.append(event)
    return InterviewView(state, outputs, topics, start, graded)
