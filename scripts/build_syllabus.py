"""Assemble corpus/SYLLABUS.md from the per-topic tables in corpus/syllabus-parts/.

Each topic's author keeps its own rows (no edit conflicts); this script writes the one
checklist a reader and the tests use: `.venv/bin/python scripts/build_syllabus.py`.
"""

from __future__ import annotations

import sys

import yaml

from tutor.config import REPO_DIR

CORPUS = REPO_DIR / "corpus"
HEADER = """---
title: Syllabus
---

# Syllabus

Every concept taught by the reference study pages, mapped to the file and section of our
notes that teaches it (checked by `tests/test_corpus.py`). Built from
`corpus/syllabus-parts/` by `scripts/build_syllabus.py`; edit the parts, not this file.
"""


def main() -> int:
    out = [HEADER]
    for part in sorted((CORPUS / "syllabus-parts").glob("*.md")):
        note = CORPUS / f"{part.stem}.md"
        title = part.stem
        if note.exists():
            meta = yaml.safe_load(note.read_text(encoding="utf-8").split("---")[1])
            title = meta.get("title", part.stem)
        rows = [line for line in part.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
        body = [r for r in rows if not r.lower().startswith("| concept") and not set(r) <= set("|-: ")]
        out += [f"## {title}", "", "| Concept | File | Section |", "|---|---|---|", *body, ""]
    (CORPUS / "SYLLABUS.md").write_text("\n".join(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
