"""The Interview tab's HTML: pure functions of an interview (the question, the grade and its
verdicts with their sources, the explanation of a skipped question, the report). Everything a
learner or the LLM wrote is escaped here."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from tutor.app.ui import escape_markdown
from tutor.interview.grades import Grade, PointGrade
from tutor.interview.session import Turn
from tutor.quoting import as_prose

if TYPE_CHECKING:
    from tutor.app.interview import Interview

CSS = """
.iv-header { font-size: 0.9em; opacity: 0.8; }
.iv-asked { font-size: 1.15em; font-weight: 600; }
.iv-hint { border-left: 3px solid #f59e0b; padding: 2px 10px; margin: 6px 0; }
.iv-said { white-space: pre-wrap; border-left: 3px solid #94a3b8; padding: 2px 10px; }
.iv-verdicts td { vertical-align: top; }
.iv-verdict { font-weight: 600; padding: 1px 6px; border-radius: 4px; }
.iv-covered { background: #dcfce7; }
.iv-partial { background: #fef9c3; }
.iv-missed { background: #e5e7eb; }
.iv-contradicted { background: #fee2e2; }
"""
INTRO = ("<p>Choose topics (none = all), a level and how many questions, then press "
         "<b>Start</b>. Each answer is graded key point by key point against the notes.</p>")


def render_question(interview: Interview | None) -> str:
    if interview is None:
        return INTRO
    if interview.over:
        return "<p>The interview is over: your report is below. Press <b>Start</b> for another.</p>"
    session = interview.session
    turn = session.current
    if turn is None:
        return (f"<p>Question {len(session.turns)}/{session.n} done. Press <b>Next question</b>, "
                "or <b>Finish</b> for your report.</p>")
    q = turn.question
    topic = session.interviewer.titles.get(q.topic, q.topic)
    header = (f"<div class='iv-header'>Question {len(session.turns)}/{session.n} · "
              f"{html.escape(topic)} · {q.level}</div>")
    if session.stage == "follow-up":
        asked = (f"<p><small>{html.escape(q.question)}</small></p>"
                 f"<p class='iv-asked'>Follow-up: {html.escape(session.asked)}</p>")
    else:
        asked = f"<p class='iv-asked'>{html.escape(q.question)}</p>"
    hints = "".join(f"<div class='iv-hint'>Hint: {html.escape(h.text)}</div>" for h in turn.hints)
    return header + asked + hints


def render_feedback(interview: Interview | None) -> str:
    """The latest question's grades (answer, then follow-up) and, if asked for, the tutor's
    explanation; empty while it waits for its first answer."""
    if interview is None or not interview.session.turns:
        return ""
    turn = interview.session.turns[-1]
    parts = [render_grade("Your answer", turn.answer, turn.grade),
             render_grade("Follow-up", turn.follow_up_answer, turn.follow_up_grade)]
    if turn.explained:
        parts.append(render_explanation(turn))
    return "\n".join(p for p in parts if p)


def render_grade(title: str, answer: str | None, grade: Grade | None) -> str:
    """The verdict table of an answer; one line for a skipped one (no answer to show)."""
    if grade is None:
        return ""
    if answer is None:
        return f"<p><b>{title}: skipped</b> ({grade.score}/10).</p>"
    quoted: set[tuple[str, str]] = set()
    rows = "".join(_verdict_row(v, quoted) for v in grade.verdicts)
    return (f"<div class='iv-grade'><h3>{title}: {grade.score}/10</h3>"
            f"<div class='iv-said'>{html.escape(answer)}</div>"
            f"<p>{html.escape(grade.feedback)}</p>"
            "<table class='iv-verdicts'><thead><tr><th>key point</th><th>verdict</th>"
            f"<th>what you said</th><th>source</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<small>graded by {html.escape(grade.method)}</small></div>")


def _verdict_row(verdict: PointGrade, quoted: set[tuple[str, str]]) -> str:
    said = f"“{html.escape(verdict.learner_sentence)}”" if verdict.learner_sentence else "—"
    return (f"<tr><td>{html.escape(verdict.point)}</td><td><span class='iv-verdict "
            f"iv-{verdict.verdict}'>{verdict.verdict}</span></td><td>{said}</td>"
            f"<td>{_source(verdict, quoted)}</td></tr>")


def _source(verdict: PointGrade, quoted: set[tuple[str, str]]) -> str:
    """Where the point is in the notes, and the notes' words; `quoted`: the (chunk, text) of
    the passages quoted above it. Two points are often backed by the same sentences, and the
    same long quote twice in one table reads as a glitch."""
    source = verdict.source
    if source is None:
        return "no passage in the index"
    where = f"<b>{html.escape(source.doc)}</b> › {html.escape(source.section)}"
    if (source.chunk_id, source.text) in quoted:
        return f"{where}<br><small>(the same passage as quoted above)</small>"
    quoted.add((source.chunk_id, source.text))
    # Passages are Markdown: as prose, no table pipes or bold markers show.
    return f"{where}<br><small>“{html.escape(as_prose(source.text))}”</small>"


def render_explanation(turn: Turn) -> str:
    """The bank's model answer and its key points with their passages. The grade of an
    explained question (a skip) carries the passage of every key point."""
    points = turn.grade.verdicts if turn.grade else []
    quoted: set[tuple[str, str]] = set()
    items = "".join(f"<li>{html.escape(v.point)}<br>{_source(v, quoted)}</li>" for v in points)
    return (f"<div class='iv-explained'><h3>Model answer</h3>"
            f"<p>{html.escape(turn.question.answer)}</p><h4>Key points</h4><ol>{items}</ol></div>")


def topic_rows(interview: Interview | None) -> list[list[Any]]:
    if interview is None:
        return []
    titles = interview.session.interviewer.titles
    return [[titles.get(topic, topic), round(sum(scores) / len(scores), 1), len(scores)]
            for topic, scores in sorted(interview.session.topic_scores().items())]


def render_report(interview: Interview | None) -> str:
    """The report once the interview is over; until then, the questions graded so far."""
    if interview is None:
        return ""
    if interview.over:
        return interview.session.report().markdown(quote=escape_markdown)
    session = interview.session
    done = [t for t in session.turns if t.grade is not None]
    if not done:
        return ""
    titles = session.interviewer.titles
    lines = ["### So far", ""]
    for i, turn in enumerate(done, 1):
        follow = turn.follow_up_grade
        extra = " (skipped)" if turn.grade and "skipped" in turn.grade.flags else ""
        if follow is not None and "skipped" not in follow.flags:
            extra += f", follow-up {follow.score}/10"
        lines.append(f"{i}. {escape_markdown(titles.get(turn.question.topic, turn.question.topic))}"
                     f": {escape_markdown(turn.question.question)} — {turn.score}/10{extra}")
    return "\n".join(lines)
