"""The browser app (Gradio): the tutor chat, the mock interview, review, progress and the
library.

Everything a user or a document supplies is escaped before it is shown (questions,
answers, passages, file names): Markdown and HTML from outside are shown as text, never
rendered. Each browser session keeps its own chat history and interview in `gr.State`;
the index and the models are shared. Errors become one readable line, never a traceback
(`tutor.app.ui`).

The learner's memory (`tutor.app.memory`): each exchange of the chat is stored, and a page
that loads shows the learner's latest conversation again. The other tabs have their own
modules: `app_interview`, `app_review` (review cards), `app_readiness` and `app_learner`
(the Progress tab), `app_library` (documents, uploads, the retrieval inspector);
`app_answer` renders a cited answer and its sources.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from tutor.answering.answer import Answer, Turn, Tutor
from tutor.app import interview as app_interview
from tutor.app import interview_html as app_interview_html
from tutor.app import learner as app_learner
from tutor.app import library as app_library
from tutor.app import readiness as app_readiness
from tutor.app import review as app_review
from tutor.app.answer import (
    render_answer,
    render_sources,
    render_stored_answer,
    render_stored_sources,
)
from tutor.app.memory import SECRET, STORAGE_KEY, Memory
from tutor.app.ui import error_message, escape_html, escape_markdown, llm_queue
from tutor.config import AnswerLength, Settings
from tutor.errors import TutorError
from tutor.interview.interviewer import Interviewer
from tutor.memory.progress import ProgressStore
from tutor.records import to_json
from tutor.store.index import open_index

log = logging.getLogger(__name__)

CSS = """
.cite { font-weight: 600; text-decoration: none; }
.source { border-left: 3px solid #6366f1; padding: 4px 10px; margin: 8px 0; }
.source mark { background: #fde68a; }
.unsupported { background: #fee2e2; }
.backend { font-size: 0.85em; opacity: 0.75; }
.memory-status { font-size: 0.9em; }
""" + app_interview_html.CSS + app_review.CSS


class App:
    """State shared by all sessions: settings, index, the tutor and the interviewer (one LLM
    for both); plus the feedback log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index = open_index(settings)
        self.tutor = Tutor(settings, index=self.index)
        self.interviewer = Interviewer(settings, self.index, llm=self.tutor.llm)
        self.memory = Memory(settings)
        self.feedback_path = settings.data_dir / "feedback.jsonl"
        self._feedback_lock = threading.Lock()

    def close(self) -> None:
        self.memory.close()

    # -- tutor tab ------------------------------------------------------------------------
    def chat(self, question: str, chat: list[dict[str, Any]], length: AnswerLength | None,
             turns: list[Turn], answers: list[dict[str, Any]], learner: str | None = None,
             conversation: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat. The question box is cleared once, when the question
        is sent, and not touched again, so what the learner types meanwhile stays; the Stop
        button shows while the answer is written. The finished exchange goes into the
        learner's `conversation` in the store."""
        question = question or ""
        turn_id = len(answers)
        chat = [*chat, {"role": "user", "content": escape_markdown(question)},
                {"role": "assistant", "content": "…"}]
        no_suggestions = [gr.update(visible=False)] * 3
        keep, streaming = gr.update(), gr.update(visible=True)
        yield chat, turns, answers, "", render_sources(None, turn_id), "", streaming, *no_suggestions
        shown = ""
        try:
            for event in self.tutor.stream(question, turns, length or None):
                if event.kind == "sources":
                    chat[-1]["content"] = _READING
                    yield chat, turns, answers, keep, "<p>Reading these passages…</p>" + "".join(
                        f"<div class='source'>{html.escape(h.chunk.section)}</div>" for h in event.hits), "", \
                        streaming, *no_suggestions
                elif event.kind == "delta":
                    shown += event.text
                    chat[-1]["content"] = escape_html(shown)
                    yield chat, turns, answers, keep, keep, "", streaming, *no_suggestions
                elif event.kind == "checking":
                    chat[-1]["content"] = escape_html(shown) + _CHECKING
                    yield chat, turns, answers, keep, keep, "", streaming, *no_suggestions
                elif event.answer is not None:
                    answer = event.answer
                    chat[-1]["content"] = render_answer(answer, turn_id)
                    turns = [*turns, Turn(answer.question, answer.answer)]
                    answers = [*answers, {"question": answer.question, "answer": answer.answer,
                                          "chunk_ids": [h.chunk.id for h in answer.contexts],
                                          "backend": answer.backend}]
                    backend = f"<span class='backend'>Answered by {html.escape(answer.backend)} in {answer.timings_ms.get('total_ms', 0) / 1000:.1f} s</span>"
                    if problem := self._remember(learner, conversation, answer):
                        backend += f"<br><small>{problem}</small>"
                    buttons = [gr.update(value=s, visible=True) for s in answer.suggestions[:3]]
                    buttons += [gr.update(visible=False)] * (3 - len(buttons))
                    yield (chat, turns, answers, keep, render_sources(answer, turn_id), backend,
                           gr.update(visible=False), *buttons)
        except Exception as exc:  # a TutorError or a bug: one line in the chat either way
            chat[-1]["content"] = error_message(exc, "answering")
            # The question comes back to be sent again (an endpoint that fails does so at once,
            # before anything could have been typed).
            yield chat, turns, answers, question, keep, "", gr.update(visible=False), *no_suggestions

    def _remember(self, learner: str | None, conversation: str | None, answer: Answer) -> str:
        """Store the exchange; "" or the line saying it was not stored. Only whole exchanges
        are stored (not a question whose answer failed or was stopped), so a restored
        conversation reads as it was answered."""
        if learner is None or conversation is None:
            return ""

        def save(store: ProgressStore) -> None:
            store.add_turn(learner, conversation, "user", answer.question)
            store.add_turn(learner, conversation, "assistant", answer.answer,
                           [to_json(c) for c in answer.citations],
                           unsupported=answer.unsupported_sentences,
                           corrected=answer.corrected_sentences)

        return self.memory.use("saving this exchange to your progress", save)[1]

    def restore_chat(self, learner: str | None) -> tuple[Any, ...]:
        """On page load: the learner's latest conversation, to go on with; outputs as
        `new_chat`'s."""
        if learner is None:
            return self.new_chat()
        stored, problem = self.memory.use("reading your last chat",
                                          lambda s: s.conversation(learner))
        if not stored:
            return [], [], [], "", render_sources(None, 0), problem, str(uuid.uuid4())
        chat: list[dict[str, Any]] = []
        turns: list[Turn] = []
        answers: list[dict[str, Any]] = []
        sources = render_sources(None, 0)
        # Exchanges are stored question then answer; a question left alone (its answer's
        # write failed) is left out, as an unanswered question is in the live chat.
        for asked, said in zip(stored, stored[1:], strict=False):
            if asked.role != "user" or said.role != "assistant":
                continue
            turn_id = len(answers)
            chat += [{"role": "user", "content": escape_markdown(asked.text)},
                     {"role": "assistant",
                      "content": render_stored_answer(said.text, said.citations, turn_id,
                                                      said.unsupported, said.corrected)}]
            turns.append(Turn(asked.text, said.text))
            answers.append({"question": asked.text, "answer": said.text,
                            "chunk_ids": [c["chunk_id"] for c in said.citations],
                            "backend": "restored"})
            sources = render_stored_sources(said.citations, turn_id)
        return chat, turns, answers, "", sources, problem, stored[-1].conversation_id

    @staticmethod
    def new_chat() -> tuple[Any, ...]:
        """An empty chat under a new conversation id."""
        return [], [], [], "", render_sources(None, 0), "", str(uuid.uuid4())

    @staticmethod
    def stopped(chat: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
        """After Stop cancelled the answer being written: say so under what was shown. The
        stopped answer stays out of the conversation's history (a follow-up question is not
        read against half an answer)."""
        if chat and chat[-1].get("role") == "assistant":
            content = chat[-1]["content"]
            # The page sends a message's content back as a list of typed parts.
            if isinstance(content, list):
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            started = str(content).strip() not in ("…", _READING)
            chat = [*chat[:-1], {"role": "assistant", "content": (
                f"{content}\n\n_Stopped: the rest was not written._" if started
                else "_Stopped before the answer began._")}]
        return chat, gr.update(visible=False)

    def feedback(self, data: gr.LikeData, answers: list[dict[str, Any]]) -> None:
        # Chat rows alternate user/assistant, so assistant row i is answer i // 2.
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        number = int(index) // 2
        if not 0 <= number < len(answers):
            return
        row = {**answers[number], "liked": bool(data.liked), "at": datetime.now(UTC).isoformat()}
        self.feedback_path.parent.mkdir(parents=True, exist_ok=True)
        with self._feedback_lock, self.feedback_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


_READING = "_Reading the passages on the right…_"
# Shown under the written text while each sentence is checked against the passages (the LLM
# check takes ~2 s a sentence with the embedded model), so the pause reads as work.
_CHECKING = "\n\n<small class='checking'>Checking each sentence against the notes…</small>"


def footer(settings: Settings) -> str:
    """Where a learner's words go, in plain words (the retrieval mode and model names are in
    the Library tab's inspector and the answer's own line, not jargon under every page)."""
    if not settings.llm_base_url:
        return "Answers come from the notes in the Library. The model runs on this machine: nothing you type leaves it."
    host = urlsplit(settings.llm_base_url).hostname or settings.llm_base_url
    return (f"Answers come from the notes in the Library. Your questions and the passages "
            f"they need are sent to the model at {host}.")


@dataclass(frozen=True, slots=True)
class ChatView:
    outputs: list[Any]  # `App.new_chat`'s and `App.restore_chat`'s
    conversation: gr.State  # the id under which the learner store keeps this chat
    asking: list[Any]  # the question box and the Ask button, closed until the page has loaded


def _tutor_tab(app: App, settings: Settings, learner: gr.State) -> ChatView:
    turns = gr.State([])
    answers = gr.State([])
    conversation = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Tutor", height=480, elem_id="chat", sanitize_html=True,
                                 feedback_options=("Like", "Dislike"))
            # One line that grows to eight: Gradio sends a one-line box on Enter (Shift+Enter
            # breaks the line), as chat boxes do; a box of two lines or more sends only on
            # Shift+Enter, which learners did not guess.
            question = gr.Textbox(label="Your question", placeholder="e.g. Why is attention scaled by sqrt(d_k)?",
                                  lines=1, max_lines=8, elem_id="question", interactive=False)
            with gr.Row():
                send = gr.Button("Ask", variant="primary", elem_id="ask", interactive=False)
                stop = gr.Button("Stop", variant="stop", elem_id="stop", visible=False)
                new_chat = gr.Button("New chat", elem_id="new-chat")
            length = gr.Radio([("Shorter", "shorter"), ("Standard", "standard"), ("Deeper", "deeper")],
                              value=settings.answer_length, label="Answer length", elem_id="length")
            with gr.Row():
                suggestions = [gr.Button(visible=False, size="sm", elem_id=f"suggestion-{i}") for i in range(3)]
            backend = gr.HTML(elem_id="backend")
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            sources = gr.HTML(render_sources(None, 0), elem_id="sources")
    outputs = [chatbot, turns, answers, question, sources, backend, stop, *suggestions]
    # The learner and the conversation are states: no parameters of the API; the answer
    # length comes after the chat, so API calls of (question, chat) keep working.
    context = [chatbot, length, turns, answers, learner, conversation]
    queue = llm_queue(settings)
    asking: list[dict[str, Any]] = [
        send.click(app.chat, [question, *context], outputs, api_name="ask", **queue),
        question.submit(app.chat, [question, *context], outputs, api_visibility="private", **queue)]
    asking += [button.click(app.chat, [button, *context], outputs, api_visibility="private", **queue)
               for button in suggestions]
    # Cancelling the event closes the answer's generator, which hangs up on the LLM
    # server (Tutor.stream): generation stops and the model is free for the next one.
    # The note goes in once the cancel is done: an update the answer sent just before
    # it would otherwise land after the note and overwrite it.
    stop.click(None, None, None, cancels=asking, api_visibility="private").then(
        app.stopped, [chatbot], [chatbot, stop], api_visibility="private")
    restored = [chatbot, turns, answers, question, sources, backend, conversation]
    new_chat.click(app.new_chat, None, restored, api_name="new_chat")
    chatbot.like(app.feedback, [answers], None)
    return ChatView(restored, conversation, [question, send])


def build(settings: Settings) -> gr.Blocks:
    app = App(settings)
    private: dict[str, Any] = {"api_visibility": "private"}
    # Gradio's copies of the files it served (reports, exports, decks) go after an hour.
    with gr.Blocks(title="interview-tutor", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# interview-tutor\nAsk about LLM / ML engineering, or let the tutor interview you. "
                    "Every answer comes from the study notes, with its sources.")
        # Who the learner is (tutor.app.memory): the id the browser keeps, and this session's
        # copy of it once the page has loaded (None: no memory).
        browser_key = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=SECRET)
        learner = gr.State(None)
        memory_status = gr.HTML(elem_id="memory-status", elem_classes="memory-status")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Tutor", id="tutor"):
                chat = _tutor_tab(app, settings, learner)
            with gr.Tab("Interview", id="interview"):
                interview_tab = app_interview.InterviewTab(app.interviewer, app.memory)
                interview = app_interview.add_tab(interview_tab, settings, learner)
            with gr.Tab("Review", id="review") as review_block:
                review = app_review.ReviewTab(app.memory, {
                    q.id: app.interviewer.titles.get(q.topic, q.topic) for q in app.interviewer.bank})
                review_outputs = app_review.add_tab(review, review_block, learner)
            with gr.Tab("Progress", id="progress") as progress_block:
                readiness = app_readiness.ReadinessTab(app.memory, app.interviewer)
                readiness_outputs, practise, practise_topic = app_readiness.add_view(readiness, learner)
                with gr.Accordion("Your progress: name, export, import, delete", open=False,
                                  elem_id="learner-panel"):
                    panel = app_learner.LearnerPanel(app.memory)
                    learner_view = app_learner.add_panel(panel, learner, interview.state,
                                                        chat.conversation)
            with gr.Tab("Library", id="library"):
                app_library.add_tab(app_library.LibraryTab(settings, app.index, app.tutor.retriever), demo)
        gr.Markdown(f"<small>{html.escape(footer(app.settings))}</small>", elem_id="footer")

        def show_progress(event: Any) -> Any:
            """After `event`: the review cards and the readiness as they are now."""
            return event.then(review.refresh, [learner], review_outputs, **private).then(
                readiness.refresh, [learner], readiness_outputs, **private)

        visit = demo.load(app.memory.visit, [browser_key], [browser_key, learner, memory_status],
                          **private)
        # Asking and starting open once the last chat and interview are back: a question
        # asked before would race the restore (which would replace the chat it went into).
        visit.then(app.restore_chat, [learner], chat.outputs, **private).then(
            interview_tab.resume, [learner, interview.state], interview.outputs, **private).then(
            lambda: [gr.update(interactive=True)] * 3, None, [*chat.asking, interview.start],
            **private)
        visit.then(panel.refresh, [learner], learner_view.refresh, **private)
        show_progress(visit)
        for event in [*interview.graded, *learner_view.changed]:
            show_progress(event)
        progress_block.select(readiness.refresh, [learner], readiness_outputs, **private)
        # Opening the tab shows the cards as they are now (an interview may have added some).
        review_block.select(review.refresh, [learner], review_outputs, **private)
        practise.click(interview_tab.practise, [practise_topic, interview.state, learner],
                       [*interview.outputs, tabs, interview.topics], **private)
    demo.queue(default_concurrency_limit=4)
    demo.tutor_app = app  # type: ignore[attr-defined]
    return demo


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    demo = build(settings)
    # Start the local model while the page loads, so the first answer does not pay for it.
    threading.Thread(target=_warm_up, args=(demo.tutor_app,), daemon=True).start()  # type: ignore[attr-defined]
    try:
        demo.launch(server_name=host, server_port=port, share=False, show_error=False,
                    max_file_size=f"{app_library.MAX_UPLOAD_MB}mb", css=CSS)
    finally:  # launch returns when the server stops (Ctrl-C)
        demo.tutor_app.close()  # type: ignore[attr-defined]


def _warm_up(app: App) -> None:
    try:
        # The configured mode only: warming a reranker that is not in use (none is trained
        # by default) would only log a misleading warning at every start.
        app.tutor.retriever.search("warm up")
        start = getattr(app.tutor.llm, "start", None)
        if start is not None:
            start()
    except TutorError as exc:
        log.warning("warm-up: %s", exc)
