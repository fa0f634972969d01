"""Simulated learners: labelled answers to bank questions, and how well a grader agrees.

Two files. `eval/interview_cases.yaml`: 25 questions, each answered by a correct, partial,
wrong, empty, gibberish and repeating learner; its questions without `held_out` are the dev
split, the only cases thresholds are chosen on. `eval/interview_cases_test.yaml`: 13 more
questions answered by correct, partial, wrong, mixed, terse, rambling, typos and
paraphrased learners, written blind to the judge (held out, like the first file's
`held_out` questions). Used by tests/test_grading.py and scripts/eval_interview.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml

from tutor.config import REPO_DIR
from tutor.errors import TutorError
from tutor.interview.grades import VERDICTS, Grade, follow_up_target
from tutor.interview.grading import Grader
from tutor.interview.knowledge import Question
from tutor.interview.verdicts import Verdict

CASES = REPO_DIR / "eval" / "interview_cases.yaml"
TEST_CASES = REPO_DIR / "eval" / "interview_cases_test.yaml"

LearnerKind = Literal["correct", "partial", "wrong", "mixed", "terse", "rambling", "typos",
                      "paraphrased", "empty", "gibberish", "repeating"]
KINDS: tuple[LearnerKind, ...] = get_args(LearnerKind)
# Learners who say something to grade (the others are caught before grading).
SUBSTANTIVE: tuple[LearnerKind, ...] = KINDS[:8]
_DEFAULT_BAND: dict[str, tuple[float, float]] = {"repeating": (0.0, 1.0)}


@dataclass(frozen=True, slots=True)
class LearnerCase:
    question_id: str
    kind: LearnerKind
    answer: str
    previous_answer: str | None  # what the learner said before (a repeating learner repeats it)
    verdicts: tuple[Verdict, ...]  # the label per key point, in bank order
    band: tuple[float, float]  # the score a fair grader gives, inclusive
    held_out: bool  # written blind to the grader's thresholds: never tuned on

    @property
    def target(self) -> int | None:
        return follow_up_target(self.verdicts)


@dataclass(frozen=True, slots=True)
class Thresholds:
    agreement: float
    follow_up_target: float


def load_cases(questions: Sequence[Question], paths: Sequence[Path] = (CASES, TEST_CASES)
               ) -> tuple[list[LearnerCase], Thresholds]:
    """Every labelled answer of `paths`, checked against the bank (ids exist, one label per
    key point); the thresholds are the first file's."""
    cases: list[LearnerCase] = []
    thresholds = None
    for path in paths:
        found, marks = _load_file(questions, path)
        cases.extend(found)
        thresholds = thresholds or marks
    assert thresholds is not None, "no case files given"
    return cases, thresholds


def _load_file(questions: Sequence[Question], path: Path) -> tuple[list[LearnerCase], Thresholds]:
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
        unknown = set(row) - {"question", "held_out", *KINDS}
        if unknown or not {"correct", "partial", "wrong"} <= set(row):
            raise TutorError(f"{path}: {question.id} needs correct, partial and wrong learners "
                             f"and knows only {', '.join(KINDS)} (found {', '.join(sorted(row))})")
        for kind in KINDS:
            learner = row.get(kind)
            if learner is None:
                continue
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

    def _chosen(self, kinds: Sequence[str], held_out: bool | None) -> list[CaseResult]:
        return [r for r in self.results if r.case.kind in kinds
                and (held_out is None or r.case.held_out == held_out)]

    def confusion(self, kinds: Sequence[str] = KINDS, *, held_out: bool | None = None
                  ) -> dict[tuple[str, str], int]:
        """(label, verdict) -> count."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for r in self._chosen(kinds, held_out):
            for v, label in zip(r.grade.verdicts, r.case.verdicts, strict=True):
                counts[(label, v.verdict)] += 1
        return dict(counts)

    def contradicted(self, *, held_out: bool | None = None) -> tuple[float, float, int, int]:
        """Precision and recall of `contradicted` on the substantive learners, with the counts
        behind them (verdicts given, labels)."""
        counts = self.confusion(SUBSTANTIVE, held_out=held_out)
        given = sum(n for (_, v), n in counts.items() if v == "contradicted")
        labelled = sum(n for (label, _), n in counts.items() if label == "contradicted")
        right = counts.get(("contradicted", "contradicted"), 0)
        nan = float("nan")
        return (right / given if given else nan, right / labelled if labelled else nan,
                given, labelled)

    def score_rate(self, kind: str, lo: float, hi: float, *, held_out: bool | None = None
                   ) -> tuple[int, int]:
        """How many of the `kind` learners scored within [lo, hi], of how many."""
        chosen = self._chosen((kind,), held_out)
        return sum(lo <= r.grade.score <= hi for r in chosen), len(chosen)

    def summary(self, held_out: bool | None = None) -> dict[str, float | int]:
        """The issue's numbers for one split (None = both)."""
        precision, recall, given, labelled = self.contradicted(held_out=held_out)
        correct_ok, correct_n = self.score_rate("correct", 7, 10, held_out=held_out)
        wrong_ok, wrong_n = self.score_rate("wrong", 0, 2, held_out=held_out)
        return {
            "agreement_substantive": round(self.agreement(SUBSTANTIVE, held_out=held_out), 4),
            "key_points_substantive": sum(len(r.case.verdicts)
                                          for r in self._chosen(SUBSTANTIVE, held_out)),
            "contradicted_precision": round(precision, 4), "contradicted_given": given,
            "contradicted_recall": round(recall, 4), "contradicted_labelled": labelled,
            "correct_at_least_7": correct_ok, "correct_answers": correct_n,
            "wrong_at_most_2": wrong_ok, "wrong_answers": wrong_n,
        }

    def markdown(self) -> str:
        lines = [f"Grading method: `{self.method}`", "",
                 "| learner | answers | verdict agreement | follow-up on top miss | in score band |",
                 "|---|---:|---:|---:|---:|"]
        for kind in (*KINDS, "all"):
            kinds = KINDS if kind == "all" else (kind,)
            chosen = [r for r in self.results if r.case.kind in kinds]
            if not chosen:
                continue
            rate = self.follow_up_rate(kinds)
            lines.append(
                f"| {kind} | {len(chosen)} | {self.agreement(kinds):.2f} | "
                f"{'–' if rate != rate else f'{rate:.2f}'} | "
                f"{sum(r.in_band for r in chosen)}/{len(chosen)} |")
        lines += ["", "Substantive learners (all but empty, gibberish and repeating), by split "
                  "(dev: thresholds were chosen here; held out: written blind, never tuned on):", "",
                  "| split | key points | agreement | contradicted precision | contradicted recall "
                  "| correct ≥ 7 | wrong ≤ 2 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, held_out in (("dev", False), ("held out", True), ("all", None)):
            m = self.summary(held_out)
            lines.append(
                f"| {name} | {m['key_points_substantive']} | {m['agreement_substantive']:.2f} | "
                f"{m['contradicted_precision']:.2f} ({m['contradicted_given']} given) | "
                f"{m['contradicted_recall']:.2f} ({m['contradicted_labelled']} labelled) | "
                f"{m['correct_at_least_7']}/{m['correct_answers']} | "
                f"{m['wrong_at_most_2']}/{m['wrong_answers']} |")
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
