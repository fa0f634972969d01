"""The mock interview's report: per topic (weakest first), each question with the learner's
answer, the verdict on every key point (what they said, what the notes say), the follow-up
and its answer, and what to read next. Written for the learner to keep (the app's download,
`tutor interview --export`): topics go by their names, passages read as prose, and no
internal id (a question's, a chunk's) shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tutor.interview.grades import Grade, Source
from tutor.quoting import as_prose, clip

if TYPE_CHECKING:
    from tutor.interview.session import Turn


def _verbatim(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class TopicScore:
    topic: str
    score: float  # mean of the topic's question scores
    questions: tuple[str, ...]
    read: tuple[Source, ...]  # passages behind the points still missed, one per section


@dataclass(frozen=True, slots=True)
class Report:
    topics: tuple[TopicScore, ...]  # weakest first
    turns: tuple[Turn, ...]
    method: str
    titles: Mapping[str, str] = field(default_factory=dict)  # topic id -> its note's title

    @property
    def score(self) -> float:
        scores = [t.score for t in self.turns]
        return round(sum(scores) / len(scores), 1) if scores else 0.0

    def title(self, topic: str) -> str:
        return self.titles.get(topic, topic)

    def markdown(self, quote: Callable[[str], str] = _verbatim) -> str:
        """The report as Markdown, for the learner to keep: per topic (weakest first), each
        question with the learner's answer, the verdict on every key point with what they
        said and what the notes say, the follow-up and its answer; then what to read. Topics
        go by their names and passages read as prose: no question ids, no table markup.
        `quote` is applied to every text from the learner, the bank, the LLM or the index
        (the app passes an escaper, so their own markup is shown, not rendered)."""
        lines = ["# Mock interview report", ""]
        if not self.turns:
            return "\n".join([*lines, "No question was answered."])
        lines += [f"{len(self.turns)} question(s), overall {self.score}/10; graded by "
                  f"`{self.method}`.", "", "| Topic | Score | Questions |", "|---|---:|---:|"]
        lines += [f"| {quote(_cell(self.title(t.topic)))} | {t.score}/10 | {len(t.questions)} |"
                  for t in self.topics]
        by_id = {turn.question.id: turn for turn in self.turns}
        for topic in self.topics:
            lines += ["", f"## {quote(self.title(topic.topic))}: {topic.score}/10"]
            for qid in topic.questions:
                lines += _turn_markdown(by_id[qid], quote)
            if topic.read:
                lines += ["", "### Read next", ""]
                # Plain "file › section", not a link: document ids are relative to whatever
                # folder was ingested, so a link would open nothing in the browser or the file.
                lines += [f"- {quote(s.doc)} › {quote(s.section)}: “{quote(clip(as_prose(s.text)))}”"
                          for s in topic.read]
        return "\n".join(lines) + "\n"


def _turn_markdown(turn: Turn, quote: Callable[[str], str]) -> list[str]:
    """One question of the report: the answer, its verdicts, the follow-up and its own."""
    grade = turn.grade
    assert grade is not None  # a report holds graded turns only
    hints = f", after {len(turn.hints)} hint(s)" if turn.hints else ""
    lines = ["", f"### {quote(turn.question.question)}", ""]
    if "skipped" in grade.flags:
        how = "explained by the tutor" if turn.explained else "skipped"
        lines += [f"**{turn.score}/10** ({how}{hints}). The key points:", "",
                  *_verdict_lines(grade, quote, with_verdict=False)]
    else:
        lines += [f"**{turn.score}/10**{hints}. Your answer:", "", *_blockquote(turn.answer, quote),
                  "", *_verdict_lines(grade, quote)]
    if grade.follow_up is None:
        return lines
    lines += ["", f"**Follow-up:** {quote(grade.follow_up.question)}", ""]
    follow = turn.follow_up_grade
    if follow is None:
        lines.append("Not answered.")
    elif "skipped" in follow.flags:
        lines.append("Skipped.")
    else:
        lines += [f"**{follow.score}/10**. Your answer:", "",
                  *_blockquote(turn.follow_up_answer, quote), "", *_verdict_lines(follow, quote)]
    return lines


def _verdict_lines(grade: Grade, quote: Callable[[str], str], *,
                   with_verdict: bool = True) -> list[str]:
    lines = []
    for v in grade.verdicts:
        verdict = f"**{v.verdict}**: " if with_verdict else ""
        lines.append(f"- {verdict}{quote(v.point)}")
        if v.learner_sentence:
            lines.append(f"  - You said: “{quote(' '.join(v.learner_sentence.split()))}”")
        if v.source is not None:
            lines.append(f"  - The notes ({quote(v.source.doc)} › {quote(v.source.section)}): "
                         f"“{quote(clip(as_prose(v.source.text), 300))}”")
    return lines


def _blockquote(text: str | None, quote: Callable[[str], str]) -> list[str]:
    lines = (text or "").strip().splitlines()
    return [f"> {quote(line)}" if line.strip() else ">" for line in lines] or ["> (empty)"]


def _cell(text: str) -> str:
    return text.replace("|", "/")
