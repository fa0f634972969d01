"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import pytest

from tutor.config import REPO_DIR

SOURCE_PAGES = REPO_DIR.parent / "shared" / "source-pages"
CORPUS = REPO_DIR / "corpus"


class NetworkBlocked(RuntimeError):
    pass


def needs_source_pages() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not SOURCE_PAGES.is_dir(), reason=f"the user's source pages are not at {SOURCE_PAGES}"
    )
