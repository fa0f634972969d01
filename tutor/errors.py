"""Named failures. Each message says what went wrong and how to fix it in one sentence,
so the CLI and the app can show it as it is (never a traceback)."""


class TutorError(Exception):
    """Base class: the message is meant for the user."""


class IndexMissingError(TutorError):
    """There is no index (or it is empty) where the settings point."""


class SettingsError(TutorError):
    """A setting (environment variable, .env line or option) holds a value it cannot take."""


class IndexWriteError(TutorError):
    """The index (or the data dir that holds it) cannot be written: a file, read-only, full."""


class IndexLockedError(TutorError):
    """Another process holds the local Qdrant folder."""


class DocumentError(TutorError):
    """A document cannot be ingested (empty, binary, too large, malformed)."""


class ModelError(TutorError):
    """A model's files are missing or do not match their recorded hash."""


class LLMError(TutorError):
    """The LLM endpoint is unreachable, too slow, or answered with an error."""


class InputError(TutorError):
    """A question or answer the tutor cannot take (empty, too long)."""


class ProgressStoreError(TutorError):
    """The learner store (progress.sqlite3 in the data dir) cannot be opened, read or written."""


class InterviewMovedOnError(ProgressStoreError):
    """The interview was saved from another tab or window since this one loaded it."""
