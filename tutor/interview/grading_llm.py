"""Grading by the LLM: method `llm` (the default with a served model) sends the key points and
the learner's numbered sentences in one request and gets a schema-constrained verdict and
sentence number per point back; method `embedding+judge` asks it only whether a sentence the
similarity credits is refuted by its key point (`llm_refutes`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from tutor.answering.support import llm_reply
from tutor.interview.grades import VERDICTS
from tutor.interview.knowledge import Question
from tutor.interview.verdicts import Verdict
from tutor.llm import LLM, prompt_messages
from tutor.prompts import load_prompt

log = logging.getLogger(__name__)

_GRADE_SCHEMA_ITEM = {
    "type": "object",
    "properties": {
        "sentence": {"type": "integer", "minimum": 0},
        "verdict": {"type": "string", "enum": list(VERDICTS)},
    },
    "required": ["sentence", "verdict"],
    "additionalProperties": False,
}


def llm_refutes(llm: LLM, point: str, sentence: str) -> bool:
    """Does the LLM say the key point shows the learner's sentence false? The `refutes`
    prompt asks whether the sentence agrees with the point: "yes", "no" (the point shows it
    false) or "other" (the point neither confirms nor refutes it).

    Asked of the sentence that earns a point credit, since MiniLM scores "X" and "not X"
    alike. The third answer is why this is not the answer check's yes / no (`agrees`): with
    only two, the 1.5B model said "no" to statements about another part of the topic. On the
    dev learners (eval/interview_cases.yaml) the same credited sentences called wrong went
    from 55 (36 % of them true or not about the point) to 37 (19 %), while 30 of the 67
    contradicted points were still caught; chosen there before the held-out learners were
    graded (README, bench:grading-default). Any reply but "no" keeps the credit, so a
    confused reply never calls a true statement wrong.
    """
    return llm_reply(llm, "refutes", point, sentence) == "no"


def llm_verdicts(llm: LLM, question: Question, chosen: Sequence[int], sentences: Sequence[str]
                 ) -> list[tuple[int, Verdict]]:
    """The LLM's (sentence number, 0 for none; verdict) for each of the `chosen` key points of
    `question`, given the learner's answer as `sentences`."""
    points = "\n".join(f"{n}. {question.key_points[i].point}" for n, i in enumerate(chosen, 1))
    numbered = "\n".join(f"[{n}] {s}" for n, s in enumerate(sentences, 1))
    messages = prompt_messages(load_prompt("grade"))
    messages.append({"role": "user", "content": (
        f"Question: {question.question}\nKey points:\n{points}\n"
        f"Learner's answer:\n<answer>\n{numbered}\n</answer>")})
    schema = {
        "type": "object",
        "properties": {"points": {"type": "array", "items": _GRADE_SCHEMA_ITEM,
                                  "minItems": len(chosen), "maxItems": len(chosen)}},
        "required": ["points"],
        "additionalProperties": False,
    }
    raw = llm.complete(messages, max_tokens=24 * len(chosen) + 24, temperature=0.0, json_schema=schema)
    return _parse(raw, len(chosen), len(sentences))


def _parse(raw: str, n_points: int, n_sentences: int) -> list[tuple[int, Verdict]]:
    """The judge's (sentence number, verdict) per point; anything unreadable counts as missed
    (a grader that cannot read its judge must not give credit)."""
    try:
        items = json.loads(raw).get("points", [])
    except (json.JSONDecodeError, AttributeError):
        log.warning("the LLM judge returned unreadable JSON; every point counts as missed")
        items = []
    out: list[tuple[int, Verdict]] = []
    for k in range(n_points):
        item = items[k] if k < len(items) and isinstance(items[k], dict) else {}
        verdict = item.get("verdict")
        n = item.get("sentence")
        n = n if isinstance(n, int) and 0 <= n <= n_sentences else 0
        out.append((n, verdict if verdict in VERDICTS else "missed"))
    return out
