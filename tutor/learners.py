"""Simulated learners: the labelled answers of `eval/interview_cases.yaml`, and how well a
grader agrees with their labels (tests/test_grading.py, scripts/eval_interview.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml

from tutor.config import REPO_DIR
from tutor.errors import TutorError
from tutor.grading import VERDICTS, Grade, Grader, Verdict, follow_up_target
from tutor.knowledge import Question

CASES = REPO_DIR / "eval" / "interview_cases.yaml"

LearnerKind = Literal["correct", "partial", "wrong", "empty", "gibberish", "repeating"]
KINDS: tuple[LearnerKind, ...] = get_args(LearnerKind)
_DEFAULT_BAND: dict[str, tuple[float, float]] = {"repeating": (0.0, 1.0)}


@dataclass(frozen=True, slots=True)
class LearnerCase:
    question_id: str
    kind: LearnerKind
    answer: str
    previous_answer: str | None  # what the learner said before (a repeating learner repeats it)
    verdicts: tuple[Verdict, ...]  # the label per key point, in bank order
    band: tuple[float, float]  # the score a fair grader gives, inclusive
    held_out: bool  # written after the embedding grader was frozen

    @property
    def target(self) -> int | None:
        return follow_up_target(self.verdicts)


@dataclass(frozen=True, slots=True)
class Thresholds:
    agreement: float
    follow_up_target: float


def load_cases(questions: Sequence[Question], path: Path = CASES
               ) -> tuple[list[LearnerCase], Thresholds]:
    """Every labelled answer, checked against the bank (ids exist, one label per key point)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rows, marks = data["cases"], data["thresholds"]
        thresholds = Thresholds(float(marks["agreement"]), float(marks["follow_up_target"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise TutorError(f"{path}: not a simulated-learner file ({exc})") from exc
    bank = {q.id: q for q in questions}
    cases: list[LearnerCase] = []
    for row in rows:
        question = bank.get(row.get("question", ""))
        if question is None:
            raise TutorError(f"{path}: no bank question {row.get('question')!r}")
        n = len(question.key_points)
        for kind in KINDS:
            learner = row.get(kind)
            if learner is None:
                raise TutorError(f"{path}: {question.id} has no '{kind}' learner")
            verdicts = tuple(learner.get("verdicts") or ["missed"] * n)
            if len(verdicts) != n or not set(verdicts) <= set(VERDICTS):
                raise TutorError(f"{path}: {question.id}/{kind} needs {n} verdicts from {VERDICTS}")
            lo, hi = learner.get("score") or _DEFAULT_BAND.get(kind, (0.0, 0.0))
            answer = learner.get("answer") or ""
            cases.append(LearnerCase(question.id, kind, answer,
                                     answer if kind == "repeating" else None,
                                     verdicts, (float(lo), float(hi)), bool(row.get("held_out"))))
    return cases, thresholds


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: LearnerCase
    grade: Grade

    @property
    def agreed(self) -> int:
        return sum(v.verdict == label for v, label in zip(self.grade.verdicts, self.case.verdicts,
                                                          strict=True))

    @property
    def in_band(self) -> bool:
        lo, hi = self.case.band
        return lo <= self.grade.score <= hi


@dataclass(frozen=True, slots=True)
class Agreement:
    """A grader's results on the simulated learners."""

    method: str
    results: list[CaseResult]

    def agreement(self, kinds: Sequence[str] = KINDS, *, held_out: bool | None = None) -> float:
        """Share of key points whose verdict equals the label (only held-out cases, or only
        the others, when `held_out` says so)."""
        chosen = [r for r in self.results if r.case.kind in kinds
                  and (held_out is None or r.case.held_out == held_out)]
        total = sum(len(r.case.verdicts) for r in chosen)
        return sum(r.agreed for r in chosen) / total if total else float("nan")

    def follow_up_rate(self, kinds: Sequence[str] = KINDS) -> float:
        """Share of answers with something to follow up on where the grader aims at the
        labels' top miss."""
        chosen = [r for r in self.results if r.case.kind in kinds and r.case.target is not None]
        hits = sum(r.grade.target == r.case.target for r in chosen)
        return hits / len(chosen) if chosen else float("nan")

    def out_of_band(self) -> list[CaseResult]:
        return [r for r in self.results if not r.in_band]

    def confusion(self) -> dict[tuple[str, str], int]:
        """(label, verdict) -> count."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.results:
            for v, label in zip(r.grade.verdicts, r.case.verdicts, strict=True):
                counts[(label, v.verdict)] += 1
        return dict(counts)

    def markdown(self) -> str:
        lines = [f"Grading method: `{self.method}`", "",
                 "| learner | answers | verdict agreement | follow-up on top miss | in score band |",
                 "|---|---:|---:|---:|---:|"]
        for kind in (*KINDS, "all"):
            kinds = KINDS if kind == "all" else (kind,)
            chosen = [r for r in self.results if r.case.kind in kinds]
            rate = self.follow_up_rate(kinds)
            lines.append(
                f"| {kind} | {len(chosen)} | {self.agreement(kinds):.2f} | "
                f"{'–' if rate != rate else f'{rate:.2f}'} | "
                f"{sum(r.in_band for r in chosen)}/{len(chosen)} |")
        content = ("correct", "partial", "wrong")
        lines += ["", f"Verdict agreement on the correct, partial and wrong learners: "
                  f"{self.agreement(content):.2f} overall, {self.agreement(content, held_out=False):.2f}"
                  f" on the cases the grader was tuned on, {self.agreement(content, held_out=True):.2f}"
                  " on the held-out cases written after it was frozen."]
        return "\n".join(lines)


def evaluate(grader: Grader, questions: Sequence[Question], cases: Sequence[LearnerCase],
             progress: Callable[[int, int], None] | None = None) -> Agreement:
    bank = {q.id: q for q in questions}
    results = []
    for n, case in enumerate(cases, 1):
        grade = grader.grade(bank[case.question_id], case.answer,
                             previous_answer=case.previous_answer)
        results.append(CaseResult(case, grade))
        if progress is not None:
            progress(n, len(cases))
    method = results[0].grade.method if results else grader.method
    return Agreement(method, results)
