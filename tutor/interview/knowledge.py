"""The knowledge base's structured parts: the question bank, the syllabus, section headings.

The notes themselves are plain Markdown read by `documents.py`; this module validates what
the interviewer, the reranker's training and the tests rely on (`docs/knowledge-base.md`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tutor.errors import DocumentError, TutorError
from tutor.store.documents import split_front_matter

Level = Literal["fundamental", "applied", "hard"]
Kind = Literal["fundamentals", "conceptual", "edge-case", "trade-off", "research", "design"]
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str
    section: str

    def names(self, doc: str, section: str) -> bool:
        """Whether an indexed chunk's `doc` and `section` path ("Title > Heading") are this
        note section (a chunk's doc carries the folder it was ingested from)."""
        return (doc == self.file or doc.endswith("/" + self.file)) and \
            section.split(" > ")[-1] == self.section


class KeyPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    point: str = Field(min_length=10)
    source: SourceRef


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9-]+-\d{3}$")
    topic: str
    level: Level
    kind: Kind
    question: str = Field(min_length=10)
    answer: str = Field(min_length=40)
    key_points: tuple[KeyPoint, ...] = Field(min_length=3, max_length=6)

    @field_validator("answer")
    @classmethod
    def _answer_length(cls, value: str) -> str:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", value.strip()) if s]
        if not 2 <= len(sentences) <= 8:
            raise ValueError(f"a model answer has 3-6 sentences, this one has {len(sentences)}")
        return value

    @model_validator(mode="after")
    def _id_matches_topic(self) -> Question:
        if not self.id.startswith(self.topic + "-"):
            raise ValueError(f"id {self.id} should start with its topic '{self.topic}-'")
        return self


@dataclass(frozen=True, slots=True)
class SyllabusRow:
    concept: str
    file: str
    section: str


@dataclass(frozen=True, slots=True)
class TrainingQuery:
    query: str
    file: str
    section: str


def load_questions(corpus_dir: Path) -> list[Question]:
    """Every question of `corpus/questions/*.yaml`, validated; errors name the file and field."""
    questions: list[Question] = []
    for path in sorted((corpus_dir / "questions").glob("*.yaml")):
        try:
            rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except yaml.YAMLError as exc:
            raise TutorError(f"{path}: not valid YAML ({exc})") from exc
        for i, row in enumerate(rows):
            try:
                questions.append(Question.model_validate(row))
            except ValidationError as exc:
                raise TutorError(f"{path} item {i + 1}: {exc}") from exc
    ids = [q.id for q in questions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TutorError(f"duplicate question ids in the bank: {', '.join(duplicates)}")
    return questions


@cache
def _headings(path: Path, mtime: float) -> frozenset[str]:
    found = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and (m := _HEADING.match(line)):
            found.add(m.group(2))
    return frozenset(found)


def headings(corpus_dir: Path, file: str) -> frozenset[str]:
    """The heading texts (any level) of one corpus file; empty when the file does not exist."""
    path = corpus_dir / file
    return _headings(path, path.stat().st_mtime) if path.is_file() else frozenset()


def section_text(corpus_dir: Path, file: str, heading: str) -> str:
    """The text under `heading` in one note, down to the next heading of its level or higher
    (its subsections included); empty when the file or heading does not exist."""
    path = corpus_dir / file
    if not path.is_file():
        return ""
    lines, level, in_code = [], 0, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m and level and len(m.group(1)) <= level:
            break
        if level:
            lines.append(line)
        elif m and m.group(2) == heading:
            level = len(m.group(1))
    return "\n".join(lines).strip()


def load_syllabus(corpus_dir: Path) -> list[SyllabusRow]:
    """Rows `| concept | file | section |` of every table in `corpus/SYLLABUS.md`."""
    rows = []
    for line in (corpus_dir / "SYLLABUS.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not line.lstrip().startswith("|") or set(cells[0]) <= set("-: "):
            continue
        if cells[0].lower() == "concept":
            continue
        rows.append(SyllabusRow(cells[0], cells[1].strip("`"), cells[2]))
    return rows


def topic_titles(corpus_dir: Path) -> dict[str, str]:
    """Topic id -> the human name shown for it: the `title:` of `corpus/<topic>.md` (the file
    stem is the topic id, docs/knowledge-base.md). Topics without a note keep their id."""
    titles = {}
    for path in sorted(corpus_dir.glob("*.md")):
        try:
            meta, _ = split_front_matter(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, DocumentError):
            continue  # a name is a nicety: the topic id still shows
        if isinstance(meta.get("title"), str):
            titles[path.stem] = meta["title"]
    return titles


def load_training_queries(corpus_dir: Path) -> Iterator[TrainingQuery]:
    for path in sorted((corpus_dir / "reranker-queries").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                yield TrainingQuery(row["query"], row["file"], row["section"])
