"""The records of an evaluation run, and its folder: eval/results/RUN/{config.json,
per_case.jsonl, summary.json} (report.md and the charts are tutor/evaluation/eval_report.py's).

Serialised like every record (`tutor.records.to_json` / `from_json`), so a run written by one
version reads back typed (fields added later have defaults, and older runs still load).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor.config import REPO_DIR
from tutor.errors import InputError
from tutor.evaluation.eval_metrics import Metric
from tutor.evaluation.gold import RetrievalScores
from tutor.evaluation.ragas_metrics import JUDGED_METRICS, Score
from tutor.records import from_json, to_json

EVAL_DIR = REPO_DIR / "eval"
RESULTS_DIR = EVAL_DIR / "results"
BASELINE = "baseline"


@dataclass(slots=True)
class AnswerRecord:
    """What the full pipeline did with one question, and how its answer measures up."""

    refused: bool
    llm_called: bool  # False: refused at the relevance floor or by the injection guard
    answer: str
    context_ids: list[str]
    citations: list[str]  # "[n] chunk id" of each shown citation
    valid_citations: int  # citations naming the passage given as [n], span taken from it
    relevant_citations: int  # citations of a reference passage of the case
    markers: int  # [n] markers left in the shown answer
    dropped_citations: int  # markers the model wrote that named no given passage
    unsupported_sentences: list[str]
    seconds: float
    judged: dict[str, Score] = field(default_factory=dict)
    # Cited falsehoods the judge caught and replaced by the passage's words (absent in runs
    # before the judge checked answers).
    corrected_sentences: list[str] = field(default_factory=list)
    # Why a refusal was given (tutor.answering.answer.RefusalReason); absent in older runs.
    refusal_reason: str = ""


@dataclass(slots=True)
class CaseResult:
    id: str
    kind: str
    topic: str
    level: str
    question: str
    should_refuse: bool  # no reference passage: the notes do not answer it
    ranked: list[str]  # chunk ids of the top hits, configured mode
    first_relevant: int | None  # rank of the first hit from a reference passage
    cleared_floor: bool  # retrieval found something above the relevance floor
    retrieval: RetrievalScores | None  # None for cases without reference passages
    context: dict[str, Score]  # RAGAS non-LLM metrics of the passages the LLM gets
    in_llm_sample: bool  # answered by the LLM and judged
    modes: dict[str, RetrievalScores] = field(default_factory=dict)  # --ablation
    pipeline: AnswerRecord | None = None  # the full pipeline ran on this case
    whole_corpus: AnswerRecord | None = None  # the whole-corpus-in-the-prompt baseline


@dataclass(frozen=True, slots=True)
class ModeResult:
    mode: str
    scores: RetrievalScores | None
    note: str = ""


@dataclass(slots=True)
class Summary:
    run: str
    gold_set: str
    mode: str
    started: str
    cases: int
    llm_cases: list[str]
    answer_backend: str | None
    judge_id: str | None
    judge_name: str | None
    metrics: list[Metric]
    ablation: list[ModeResult]
    whole_corpus: str
    per_topic: dict[str, RetrievalScores]
    seconds: dict[str, float]
    split: str = "all"  # a summary written before the split read as the whole set, which it was
    # The RAGAS LLM metrics this run asked the judge for (runs before the choice asked for all).
    judged: list[str] = field(default_factory=lambda: list(JUDGED_METRICS))

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)


@dataclass(slots=True)
class Run:
    config: dict[str, Any]  # a JSON snapshot of everything that produced the numbers
    summary: Summary
    cases: list[CaseResult]


RUN_FILES = ("config.json", "per_case.jsonl", "summary.json", "report.md", "diff.md",
             "per_topic.png", "ablation.png")


def write_run(run: Run, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:  # a rerun under the same name leaves nothing of the old one
        (folder / name).unlink(missing_ok=True)
    (folder / "config.json").write_text(json.dumps(run.config, indent=2) + "\n", encoding="utf-8")
    rows = [to_json(case) for case in run.cases]
    (folder / "per_case.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    summary = to_json(run.summary)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def load_run(folder: Path) -> Run:
    if not (folder / "summary.json").exists():
        raise InputError(f"No evaluation run at {folder}: run `tutor eval` first.")
    rows = [json.loads(line) for line in (folder / "per_case.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return Run(
        config=json.loads((folder / "config.json").read_text(encoding="utf-8")),
        summary=from_json(Summary, json.loads((folder / "summary.json").read_text(encoding="utf-8"))),
        cases=[from_json(CaseResult, row) for row in rows],
    )


def run_folder(name: str) -> Path:
    """A run by name under eval/results/, or a path to a run folder."""
    given = Path(name)
    return given if given.is_dir() and (given / "summary.json").exists() else RESULTS_DIR / name
