"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tutor.config import REPO_DIR

SOURCE_PAGES = REPO_DIR.parent / "shared" / "source-pages"
CORPUS = REPO_DIR / "corpus"


class NetworkBlocked(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Done:
    """What a `tutor` command did: its exit status and output (as subprocess reports them)."""

    returncode: int
    stdout: str
    stderr: str


# `tutor ARGS` in the test process: cli(*args, data=DIR, stdin="") -> Done (conftest's `cli`).
Cli = Callable[..., Done]


def needs_source_pages() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not SOURCE_PAGES.is_dir(), reason=f"the user's source pages are not at {SOURCE_PAGES}"
    )


def offline_cli(*args: str, data: Path, stdin: str = "", env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """`tutor ARGS` in a subprocess with no LLM: the fast grading method and template
    follow-ups (the LLM paths are tested in-process). `env` adds settings."""
    env = os.environ | {"TUTOR_FOLLOW_UP_WRITER": "template", "TUTOR_GRADE_METHOD": "embedding"} | (env or {})
    return subprocess.run([sys.executable, "-m", "tutor.cli.main", "--data-dir", str(data), *args],
                          input=stdin, capture_output=True, text=True, timeout=600, env=env,
                          cwd=REPO_DIR)
