"""The app's learner memory: one `ProgressStore` per process, and who the learner is.

A learner has no account. Their browser keeps a random id (`new_learner_id`) in its local
storage (`gr.BrowserState`), made on the first visit; the page hands it over once, on load,
into the browser session's `gr.State`, and every handler reads it from there. A state is
no parameter of the API, so the id never shows in the page or an API call, and an API client
(which loads no page) has no learner and no memory. The id is shown only in the "Your
progress" panel (`tutor.app.learner`) and never logged.

The store can fail at any call (a full disk, a read-only data dir, a damaged file): every
call goes through `Memory.use`, which turns the failure into one line for the page while the
tab goes on without memory. A store that cannot even open leaves the app without memory for
its lifetime, said once when a page loads.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tutor.app.ui import error_message
from tutor.config import Settings
from tutor.errors import TutorError
from tutor.memory.progress import ProgressStore
from tutor.memory.progress_records import is_learner_id, new_learner_id

log = logging.getLogger(__name__)

T = TypeVar("T")

STORAGE_KEY = "interview-tutor-learner"
# The page receives this secret with its configuration, so it hides the id from no one who
# can read the browser's storage anyway. It is fixed so the id still decrypts after the app
# restarts: Gradio's default, a random secret per process, would forget every learner.
SECRET = "interview-tutor learner id, v1"
# Exports and decks are written for one download: Gradio serves its own copy, ours go after.
DOWNLOAD_TTL_S = 3600


class Memory:
    """The app's store of learners (None when it could not open) and its download folder."""

    def __init__(self, settings: Settings) -> None:
        self.store: ProgressStore | None = None
        self.unavailable = ""  # why there is no store, for the page
        try:
            self.store = ProgressStore.open(settings)
        except TutorError as exc:
            self.unavailable = str(exc)
            log.warning("the app runs without learner memory: %s", exc)
        self._downloads = tempfile.TemporaryDirectory(prefix="tutor-downloads-")

    def use(self, doing: str, call: Callable[[ProgressStore], T]) -> tuple[T | None, str]:
        """`call` on the store, and "" or the one line that says why it failed."""
        if self.store is None:
            return None, f"⚠ Your progress is not kept: {self.unavailable}"
        try:
            return call(self.store), ""
        # Any failure, not only the store's own: memory must never cost the learner the
        # answer or grade they came for. A bug is still logged with its traceback.
        except Exception as exc:
            return None, error_message(exc, doing)

    def visit(self, kept: Any) -> tuple[str, str | None, str]:
        """On page load: the id for the browser to keep (the one it kept, or a new one on a
        first visit), the learner for this session (None without a store), and a status
        line ("" when all is well)."""
        learner = kept if isinstance(kept, str) and is_learner_id(kept) else new_learner_id()
        if self.store is None:
            return learner, None, f"⚠ Your progress is not kept this time: {self.unavailable}"
        _, problem = self.use("opening your progress", lambda s: s.ensure_learner(learner))
        return learner, (None if problem else learner), problem

    def download_path(self, name: str) -> Path:
        """A fresh path named `name` for one download; downloads older than an hour go."""
        root = Path(self._downloads.name)
        cutoff = time.time() - DOWNLOAD_TTL_S
        for old in root.iterdir():
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        folder = root / uuid.uuid4().hex
        folder.mkdir()
        return folder / name

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        self._downloads.cleanup()
