"""The one configuration object, and the files that document it."""

from __future__ import annotations

import re

from tutor.config import REPO_DIR, Settings


def test_env_example_names_only_real_settings() -> None:
    names = set(re.findall(r"^# (\w+)=", (REPO_DIR / ".env.example").read_text(), re.MULTILINE))
    known = {f"TUTOR_{name.upper()}" for name in Settings.model_fields} | {"OPENAI_API_KEY"}
    assert len(names) >= 10 and names <= known, f"not settings: {sorted(names - known)}"
