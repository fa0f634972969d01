"""The Progress tab's readiness view: per syllabus topic, how much of it the learner has
shown and how well (`tutor.memory.readiness`), as a table and a bar chart, and a "Practise next"
button that starts an interview on the topic to work on (wired by `tutor.app.main`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from tutor.app.memory import Memory
from tutor.interview.interviewer import Interviewer
from tutor.memory.readiness import Readiness, TopicReadiness, ago

HEADERS = ["topic", "coverage", "mastery", "readiness", "last answered", "cards due"]
INTRO = ("Coverage: the share of the topic's key points you have been graded on. Mastery: how "
         "well you made them, recent answers counting more. Readiness: the two together.")


def ordered(readiness: Readiness) -> list[TopicReadiness]:
    """The topics practised first (they are what a learner looks for), then the others, each
    group by name."""
    return sorted(readiness.topics, key=lambda t: (t.mastery is None, t.title.lower()))


def rows(readiness: Readiness) -> list[list[Any]]:
    return [[t.title, f"{t.answered}/{t.points} ({t.coverage:.0%})",
             "–" if t.mastery is None else f"{t.mastery:.0%}", f"{t.readiness:.0%}",
             ago(t.recency_days), t.due_cards] for t in ordered(readiness)]


def chart(readiness: Readiness) -> pd.DataFrame:
    topics = ordered(readiness)
    return pd.DataFrame({"topic": [t.title for t in topics],
                         "readiness %": [round(100 * t.readiness) for t in topics]})


def why(topic: TopicReadiness) -> str:
    """Why "Practise next" picked the topic (the rule: tutor.memory.readiness.practise_next)."""
    if topic.due_cards:
        return f"{topic.due_cards} card(s) due, and your weakest such topic"
    if topic.mastery is not None:
        return f"your weakest topic so far (mastery {topic.mastery:.0%})"
    return "the topic you have covered least"


@dataclass(frozen=True, slots=True)
class ReadinessTab:
    memory: Memory
    interviewer: Interviewer

    def refresh(self, learner: str | None) -> tuple[Any, ...]:
        """Every output of the view, in `add_view`'s order."""
        hidden = gr.update(visible=False)
        if learner is None:
            return [], chart_empty(), hidden, None, "Your progress is not kept in this session."
        bank, titles = self.interviewer.bank, self.interviewer.titles
        found, problem = self.memory.use("reading your progress",
                                         lambda s: s.readiness(learner, bank, titles=titles))
        if found is None:
            return [], chart_empty(), hidden, None, problem
        topic = found.practise_next
        if topic is None:
            return rows(found), chart(found), hidden, None, ""
        chosen = found.topic(topic)
        return (rows(found), chart(found),
                gr.update(value=f"Practise next: {chosen.title}", visible=True), topic,
                f"Why this topic: {why(chosen)}.")


def chart_empty() -> pd.DataFrame:
    return pd.DataFrame({"topic": [], "readiness %": []})


def add_view(tab: ReadinessTab, learner: gr.State) -> tuple[list[Any], gr.Button, gr.State]:
    """The view's components; returns its outputs, the Practise next button and the state
    holding that button's topic (the caller wires it to the Interview tab)."""
    gr.Markdown(f"### Readiness per topic\n{INTRO}")
    with gr.Row(equal_height=True):
        practise = gr.Button("Practise next", variant="primary", visible=False, scale=1,
                             elem_id="practise-next")
        reason = gr.Markdown(elem_id="practise-reason")
    topic = gr.State(None)
    # Tall enough for the whole syllabus (about 20 topics) without scrolling.
    table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, max_height=900,
                         elem_id="readiness")
    plot = gr.BarPlot(chart_empty(), x="readiness %", y="topic", x_lim=[0, 100],
                      height=520, label="Readiness per topic", elem_id="readiness-plot")
    outputs: Sequence[Any] = [table, plot, practise, topic, reason]
    return list(outputs), practise, topic
