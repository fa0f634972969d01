"""The "Your progress" panel: the learner's own data. A display name, the browser's learner
key (shown here and nowhere else), export as JSON, import of such an export into this
browser's key, and deletion after a confirmation.

Importing takes the rows under this browser's key (`ProgressStore.import_` with its id), so
an export from another browser adds to whatever this one has; importing twice changes
nothing. Deleting removes every row of the learner from the store (`ProgressStore.delete`);
the browser keeps its key, and what the learner does next is kept under it again.
"""

from __future__ import annotations

import html
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from tutor.app.interview import Interview
from tutor.app.memory import Memory
from tutor.errors import InputError
from tutor.memory.progress import ProgressStore

MAX_IMPORT_MB = 20
NO_MEMORY = "Your progress is not kept in this session."
CONFIRM = ("<p><b>Delete every question, answer, interview and review card of yours from this "
           "server?</b> This cannot be undone: export your progress first to keep a copy.</p>")


@dataclass(frozen=True, slots=True)
class LearnerPanel:
    memory: Memory

    def refresh(self, learner: str | None) -> tuple[Any, str]:
        """The name box and the key line."""
        if learner is None:
            return gr.update(value="", interactive=False), NO_MEMORY
        me, problem = self.memory.use("reading your progress", lambda s: s.learner(learner))
        return (gr.update(value=(me.name or "") if me else "", interactive=True),
                problem or _key_line(learner))

    def rename(self, name: str | None, learner: str | None) -> str:
        if learner is None:
            return NO_MEMORY
        me, problem = self.memory.use("saving your name", lambda s: s.rename(learner, name or ""))
        if me is None:
            return problem
        return f"Saved: hello, {html.escape(me.name)}." if me.name else "Name removed."

    def export(self, learner: str | None) -> tuple[Any, str]:
        """Everything the learner has, as a JSON file for the file box."""
        if learner is None:
            return gr.update(visible=False), NO_MEMORY
        data, problem = self.memory.use("exporting your progress", lambda s: s.export(learner))
        if data is None:
            return gr.update(visible=False), problem
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = self.memory.download_path(f"interview-tutor-progress-{stamp}.json")
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        return (gr.update(value=str(path), visible=True),
                f"Exported {len(data['answers'])} answer(s), {len(data['cards'])} card(s) and "
                f"{len(data['turns'])} chat message(s). Import the file here, or in another "
                "browser, to take them along.")

    def import_(self, upload: str | None, learner: str | None) -> str:
        if learner is None:
            return NO_MEMORY
        if not upload:
            return "Choose a progress export (.json) to import."

        def restore(store: ProgressStore) -> str:
            store.import_(_read_export(Path(upload)), learner_id=learner)
            return (f"Imported: you now have {len(store.answers(learner))} answer(s) and "
                    f"{len(store.cards(learner))} card(s), {store.due_count(learner)} due. "
                    "Reload the page to see the chat and interview it holds.")

        done, problem = self.memory.use("importing your progress", restore)
        return done or problem

    @staticmethod
    def ask_delete() -> Any:
        return gr.update(visible=True)

    @staticmethod
    def keep() -> tuple[Any, str]:
        return gr.update(visible=False), "Nothing was deleted."

    def delete(self, learner: str | None, interview: Interview | None, conversation: str | None
               ) -> tuple[Any, ...]:
        """Forget the learner. The interview on screen is stored again from its next action
        on, without what it graded before; the chat goes on in a new conversation. Returns
        the confirmation row, the status, the interview and the conversation id."""
        hide = gr.update(visible=False)
        if learner is None:
            return hide, NO_MEMORY, interview, conversation
        gone, problem = self.memory.use("deleting your progress", lambda s: s.delete(learner))
        if gone is None:
            return hide, problem, interview, conversation
        if interview is not None:
            with interview.lock:  # what it graded so far went with the rest: not stored again
                interview.record = None
                interview.recorded = interview.grades()
        return (hide, "Your progress was deleted from this server." if gone
                else "There was nothing to delete.", interview, str(uuid.uuid4()))


def _read_export(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_IMPORT_MB * 1_000_000:
        raise InputError(f"{path.name} is larger than {MAX_IMPORT_MB} MB: not a progress export.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name} is not a progress export (not JSON: {exc}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not a progress export (not a JSON object).")
    return data


def _key_line(learner: str) -> str:
    return (f"Your progress is kept on this server under this browser's private key "
            f"<code>{html.escape(learner)}</code>. Whoever has the key sees your progress: "
            "do not share it. Another browser has its own; export and import to move.")


@dataclass(frozen=True, slots=True)
class LearnerView:
    refresh: list[Any]  # outputs of LearnerPanel.refresh
    changed: list[Any]  # events after which the learner's progress is different


def add_panel(panel: LearnerPanel, learner: gr.State, interview: gr.State,
              conversation: gr.State) -> LearnerView:
    """The panel's components and events; call inside a layout block."""
    with gr.Row():
        # Closed until `refresh` fills in the stored name: a name typed before that lands
        # would be overwritten by it, and "Save" would then remove the name.
        name = gr.Textbox(label="Your name (only you see it)", max_length=80, scale=3,
                          interactive=False, elem_id="learner-name")
        save = gr.Button("Save name", scale=1, elem_id="learner-save")
    key = gr.HTML(elem_id="learner-key")
    with gr.Row():
        export = gr.Button("Export progress (.json)", elem_id="learner-export")
        upload = gr.UploadButton("Import progress (.json)", file_types=[".json"],
                                 type="filepath", elem_id="learner-import")
        delete = gr.Button("Delete my progress", variant="stop", elem_id="learner-delete")
    with gr.Row(visible=False) as confirm_row:
        gr.HTML(CONFIRM)
        confirm = gr.Button("Yes, delete everything", variant="stop", elem_id="learner-confirm")
        cancel = gr.Button("Cancel", elem_id="learner-cancel")
    exported = gr.File(label="Your progress", visible=False, interactive=False,
                       elem_id="learner-file")
    status = gr.HTML(elem_id="learner-status")

    private: dict[str, Any] = {"api_visibility": "private"}
    save.click(panel.rename, [name, learner], [status], **private)
    export.click(panel.export, [learner], [exported, status], **private)
    imported = upload.upload(panel.import_, [upload, learner], [status], **private)
    delete.click(panel.ask_delete, None, [confirm_row], **private)
    cancel.click(panel.keep, None, [confirm_row, status], **private)
    deleted = confirm.click(panel.delete, [learner, interview, conversation],
                            [confirm_row, status, interview, conversation], **private)
    return LearnerView([name, key], [imported, deleted])
