"""Prompts are files (`tutor/prompts/*.md`), versioned in git and loaded by name, so a
change to a prompt shows in a diff and in the evaluation's config.json."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

_DIR = Path(__file__).resolve().parent


@cache
def load_prompt(name: str) -> str:
    return (_DIR / f"{name}.md").read_text(encoding="utf-8").strip()


def prompt_versions() -> dict[str, str]:
    """Short content hashes of every prompt, written beside evaluation results."""
    return {
        p.stem: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in sorted(_DIR.glob("*.md"))
    }
