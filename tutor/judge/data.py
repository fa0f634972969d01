"""Training pairs for the judge, built from our own notes and question bank only.

No NLI model ships on any registry reachable here (MODELS.md), so the judge is ours: a
cross-encoder that reads (evidence, claim) and says whether the evidence entails the claim,
contradicts it, or neither. Its training pairs come from `corpus/` alone; the labelled
learner answers (`eval/interview_cases*.yaml`), the answer-support labels
(`eval/answer_support.yaml`) and gold questions are never used, so they stay a measurement.

Pairs, each seeded and rebuildable:
- entails: a key point against the note sentences that support it, and against the bank
  answer's sentence that states it (a paraphrase in a learner's register); a note sentence
  against its own leading clause (a claim may say less than its evidence); a sentence
  against itself lightly reworded (markup, brackets dropped).
- contradicts: the same hypotheses with their meaning flipped by a rule (`judge_flips`: a
  negation added or removed, a number changed, a direction word swapped for its opposite, two
  sibling concepts exchanged), and the notes' own pitfalls against their corrections.
- neither: other sentences of the same section and other key points of the same question
  (on topic, not the same claim), and a leading clause asked to carry its whole sentence
  (the evidence says too little).
- written claims (`corpus/judge-claims/<topic>.jsonl`): for every key point, six sentences
  written for this purpose (a paraphrase, a hurried learner's version, a true part of it, a
  confidently held misconception, a wrong detail, a true fact beside it), each read against
  the point both ways and against the note text that states it. What no rule can make: a
  claim reworded and still true, and one reworded and wrong.

Three notes are held out (their pairs are the judge's own held-out test, `docs/judge.md`).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from tutor.interview.knowledge import Question, load_questions
from tutor.judge.claims import claim_pairs, load_claims, other_claim_pairs
from tutor.judge.flips import flip
from tutor.judge.pairs import (
    CONTRADICTS,
    ENTAILS,
    NEITHER,
    OTHER_POINT_MAX_COSINE,
    SUPPORT_COSINE,
    Pair,
)
from tutor.sentences import split_sentences
from tutor.store.documents import split_front_matter

# Held out by note: their sentences and key points never reach training.
HELD_OUT_NOTES = ("positional-encodings.md", "evaluation.md", "multimodal-models.md")
_MIN_WORDS = 6
LEARNER_REPEATS = 3

# Texts -> unit-length embeddings (MiniLM), to find which note sentence states a key point.
EncodeFn = Callable[[Sequence[str]], np.ndarray]


# --------------------------------------------------------------------------------------
# Reading the notes
# --------------------------------------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_MARKUP = re.compile(r"\*\*|__|`|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d{1,2}[.)])\s+")
# Lines that state what NOT to believe ("**Pitfall:** Claiming that X ..."): their clauses
# are misconceptions, so they cannot serve as evidence for anything clipped out of them.
_SKIP_LINE = re.compile(r"^\s*(\||```|~~~|>|!\[|\*\*(Pitfall|Interview angle)\b)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NoteSection:
    note: str  # file name
    heading: str
    sentences: tuple[str, ...]
    # (misconception, correction) from the section's "Pitfall:" line, when it states one.
    pitfalls: tuple[tuple[str, str], ...] = ()


# "**Pitfall:** Assuming greedy avoids hallucination. A confidently wrong belief is ..." →
# the claim "Greedy avoids hallucination." and the note's correction after it.
_PITFALL = re.compile(
    r"^\*\*Pitfall:\*\*\s+(?:claiming|saying|assuming|believing|thinking)\s+(?:that\s+)?"
    r"(?P<claim>[^;.]{12,}?)[;.]\s+(?P<fix>.{20,})$", re.IGNORECASE)
_PITFALL_AS = re.compile(r"^\*\*Pitfall:\*\*\s+(?:treating|describing)\s+(?P<what>.+?)\s+as\s+"
                         r"(?P<claim>[^;.]{3,}?)[;.]\s+(?P<fix>.{20,})$", re.IGNORECASE)


def pitfall(line: str) -> tuple[str, str] | None:
    """A note's pitfall line as (the misconception as a claim, the correction), or None."""
    if m := _PITFALL.match(line.strip()):
        claim = m.group("claim")
    elif m := _PITFALL_AS.match(line.strip()):
        claim = f"{m.group('what')} is {m.group('claim')}"
    else:
        return None
    claim = plain(claim).strip(" ,")
    fix = plain(m.group("fix"))
    return f"{claim[0].upper()}{claim[1:]}.", f"{fix[0].upper()}{fix[1:]}"


def plain(text: str) -> str:
    """Markdown emphasis and code ticks removed, spaces collapsed: how a learner would write it."""
    return " ".join(_MARKUP.sub("", _LIST_MARKER.sub("", text)).split())


def note_sections(corpus_dir: Path) -> list[NoteSection]:
    """Every section of every note, as its prose sentences (tables, code, pitfalls left out)."""
    sections: list[NoteSection] = []
    for path in sorted(corpus_dir.glob("*.md")):
        if path.name.isupper() or path.stem.upper() == path.stem:
            continue  # SYLLABUS.md and the like: lists, not prose
        _, body = split_front_matter(path.read_text(encoding="utf-8"))
        heading, in_code = "", False
        lines: list[str] = []
        pits: list[tuple[str, str]] = []
        paragraph: list[str] = []
        for line in [*body.splitlines(), "# end"]:
            if line.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
                continue
            if in_code:
                continue
            m = _HEADING.match(line)
            if m or not line.strip() or line.lstrip().startswith(("|", "- ", "* ", ">")):
                # A paragraph ends: the notes are hard-wrapped, so its lines are one text.
                text = " ".join(paragraph)
                if (wrong := pitfall(text)) is not None:
                    pits.append(wrong)
                elif text and not _SKIP_LINE.match(text):
                    lines.append(text)
                paragraph = [line.strip()] if line.lstrip().startswith(("- ", "* ")) else []
            elif line.strip():
                paragraph.append(line.strip())
            if m:
                found = [plain(s.text) for s in split_sentences("\n".join(lines))]
                found = [s for s in found if len(s.split()) >= _MIN_WORDS]
                if heading and found:
                    sections.append(NoteSection(path.name, heading, tuple(found), tuple(pits)))
                heading, lines, pits = m.group(1), [], []
    return sections


# --------------------------------------------------------------------------------------
# Pairs
# --------------------------------------------------------------------------------------

_CLAUSE_END = re.compile(r"[,;:]\s|\s[-–—]\s|\s\(")
# A clause ending on one of these is cut mid-phrase ("... reduces the"), not a claim.
_DANGLING_TEXT = """a an the of to in on at by for with from and or but as than that which
    is are was were be its their this these"""
_DANGLING = frozenset(_DANGLING_TEXT.split())


def leading_clause(sentence: str) -> str | None:
    """The sentence's first clause when it is a claim on its own (six words or more, not
    ending on a function word), else None."""
    m = _CLAUSE_END.search(sentence)
    if not m:
        return None
    head = sentence[:m.start()].strip()
    words = head.split()
    if len(words) < _MIN_WORDS or words[-1].lower() in _DANGLING or head.lower().startswith(
            ("unlike", "if", "when", "while", "although", "because", "for example", "in ")):
        return None
    return head + "."


def _reworded(sentence: str) -> str:
    """Light surface changes a paraphrase keeps: brackets dropped, lower case."""
    text = re.sub(r"\s+\([^)]*\)", "", sentence)  # "(Wang et al., 2022)", not "sqrt(d_k)"
    return text[0].lower() + text[1:] if text else text


_ASIDE = re.compile(r"\s+\([^)]*\)|,\s+(?:such as|e\.g\.|for example|for instance|including|"
                    r"which|who|often|usually|typically)\b[^,;:.]*(?=[,;:.])")


def compressed(sentence: str) -> str | None:
    """The sentence without its asides (brackets, "such as ..." lists, relative clauses), as a
    tutor compresses a note; None when nothing was removed or too little is left."""
    text = _ASIDE.sub("", sentence)
    if text == sentence or len(text.split()) < _MIN_WORDS:
        return None
    return text


def sentence_pairs(section: NoteSection, rng: random.Random) -> Iterator[Pair]:
    """Pairs made from one section's own sentences."""
    sentences = section.sentences
    note = section.note
    for claim, fix in section.pitfalls:
        # The notes' own misconceptions, worded as a learner would state them: the closest
        # the corpus comes to a confidently wrong answer in other words than the truth's.
        yield Pair(fix, claim, CONTRADICTS, "pitfall", note)
        yield Pair(claim, fix, CONTRADICTS, "pitfall", note)
    for i, sentence in enumerate(sentences):
        if rng.random() < 0.2:
            yield Pair(sentence, _reworded(sentence), ENTAILS, "self", note)
        short = compressed(sentence)
        if short:
            yield Pair(sentence, short, ENTAILS, "compressed", note)
        head = leading_clause(sentence)
        if head:
            yield Pair(sentence, head, ENTAILS, "clause", note)
            if rng.random() < 0.5:
                yield Pair(head, sentence, NEITHER, "says-too-little", note)
        if i + 1 < len(sentences):
            # Evidence is often two neighbouring sentences: each alone is entailed by the pair,
            # and a claim joining one of them to a fact from elsewhere is not.
            window = f"{sentence} {sentences[i + 1]}"
            yield Pair(window, rng.choice([sentence, sentences[i + 1], short or sentence]),
                       ENTAILS, "window", note)
            elsewhere = [s for j, s in enumerate(sentences) if j not in (i, i + 1)]
            if head and elsewhere and rng.random() < 0.5:
                extra = leading_clause(rng.choice(elsewhere))
                if extra:
                    claim = f"{head.rstrip('.')}, and {extra[0].lower()}{extra[1:]}"
                    yield Pair(window, claim, NEITHER, "extra-claim", note)
        flipped = flip(head or sentence, rng)
        if flipped:
            yield Pair(sentence, flipped[0], CONTRADICTS, flipped[1], note)
            if rng.random() < 0.5:
                # The other way round: a false premise ("GPT-1 did not invent ...") must not
                # read as entailing the claim it negates.
                yield Pair(flipped[0], head or sentence, CONTRADICTS, f"premise-{flipped[1]}", note)
        others = [s for j, s in enumerate(sentences) if j != i]
        if others:
            other = rng.choice(others)
            yield Pair(sentence, other, NEITHER, "same-section", note)
            # A flipped sentence about something else is still unrelated: the judge must not
            # learn "a negation means a contradiction".
            flipped_other = flip(other, rng) if rng.random() < 0.3 else None
            if flipped_other:
                yield Pair(sentence, flipped_other[0], NEITHER, "same-section-flipped", note)


def point_pairs(question: Question, support: Sequence[tuple[str, float]],
                stated: Sequence[tuple[str, float]], others: Sequence[tuple[str, str, float]],
                rng: random.Random) -> Iterator[Pair]:
    """Pairs for one question's key points. For key point k: `support[k]` is the note text
    that best states it and `stated[k]` the bank answer's sentence that does (each with its
    cosine); `others` holds (answer sentence, key point, cosine) of different points."""
    for point, (evidence, cos_e), (said, cos_s) in zip(question.key_points, support, stated,
                                                       strict=True):
        text = point.point
        note = point.source.file
        if cos_e >= SUPPORT_COSINE:
            yield Pair(evidence, text, ENTAILS, "point-support", note)
        if cos_s >= SUPPORT_COSINE:
            # The learner's register: an answer sentence that states the point entails it.
            yield Pair(said, text, ENTAILS, "answer-states-point", note)
            wrong = flip(said, rng, about=text)
            if wrong:
                yield Pair(wrong[0], text, CONTRADICTS, f"answer-{wrong[1]}", note)
                yield Pair(text, wrong[0], CONTRADICTS, f"answer-{wrong[1]}", note)
        wrong_point = flip(text, rng, about=evidence) if cos_e >= SUPPORT_COSINE else None
        if wrong_point:
            yield Pair(evidence, wrong_point[0], CONTRADICTS, f"point-{wrong_point[1]}", note)
        head = leading_clause(text)
        if head:  # a learner who says part of a point says something the point entails
            yield Pair(text, head, ENTAILS, "point-clause", note)
            yield Pair(head, text, NEITHER, "says-too-little", note)
    for said, point_text, cos in others:
        if cos < OTHER_POINT_MAX_COSINE:
            yield Pair(said, point_text, NEITHER, "other-point", question.key_points[0].source.file)


def learner_half(question_id: str) -> Literal["train", "tune"]:
    """Which half of the dev learners a question's answers serve: training pairs, or choosing
    the grading thresholds (never both). Held-out learners serve neither."""
    return "train" if int(hashlib.sha256(question_id.encode()).hexdigest()[:8], 16) % 2 else "tune"


def evidence_window(sentences: Sequence[str], vectors: np.ndarray, point: np.ndarray) -> str:
    """The learner's two sentences closest to a key point, in the answer's order: what the
    grader asks the judge whether it states the point (a point is often made across two)."""
    best = sorted(np.argsort(-(vectors @ point))[:2].tolist())
    return " ".join(sentences[i] for i in best)


def learner_pairs(cases_file: Path, bank: dict[str, Question], encode: EncodeFn) -> Iterator[Pair]:
    """Pairs from the training half of the dev learners (`learner_half`): their sentences
    closest to each key point against the point, labelled as the learner's verdict (covered:
    entails, contradicted: contradicts, missed: neither; partial is left out). Paraphrased
    right and wrong claims are what rule-made pairs cannot teach."""
    label = {"covered": ENTAILS, "contradicted": CONTRADICTS, "missed": NEITHER}
    for row in yaml.safe_load(cases_file.read_text(encoding="utf-8"))["cases"]:
        if row.get("held_out") or learner_half(row["question"]) != "train":
            continue
        question = bank[row["question"]]
        vectors = encode([p.point for p in question.key_points])
        for kind in ("correct", "partial", "wrong"):
            sentences = [plain(x.text) for x in split_sentences(row[kind]["answer"])]
            if not sentences:
                continue
            said = encode(sentences)
            for point, vector, verdict in zip(question.key_points, vectors, row[kind]["verdicts"],
                                              strict=True):
                if verdict in label:
                    premise = evidence_window(sentences, said, vector)
                    yield Pair(premise, point.point, label[verdict], f"learner-{verdict}",
                               point.source.file)


def reserved_questions(dev_cases: Path, test_cases: Path) -> frozenset[str]:
    """Questions whose labelled learners measure the judge or choose its thresholds (all of
    `test_cases`; of `dev_cases`, the held-out ones and the tuning half): no written claim
    about their points is trained on."""
    def questions(path: Path) -> list[dict[str, Any]]:
        return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]

    dev = {row["question"] for row in questions(dev_cases)
           if row.get("held_out") or learner_half(row["question"]) == "tune"}
    return frozenset(dev | {row["question"] for row in questions(test_cases)})


def build_pairs(corpus_dir: Path, seed: int, encode: EncodeFn, learners: Path | None = None,
                reserved: frozenset[str] = frozenset()) -> list[Pair]:
    """Every training pair, shuffled with `seed` (held-out notes included, marked by `note`);
    with `learners` (eval/interview_cases.yaml), also its training half's pairs. Written claims
    about the `reserved` questions' points are left out."""
    rng = random.Random(seed)
    sections = note_sections(corpus_dir)
    pairs = [p for s in sections for p in sentence_pairs(s, rng)]
    # Each section's sentences and neighbouring pairs of them (a key point often sums up
    # two), embedded once for all the questions that cite the section.
    windows = {(s.note, s.heading): [*s.sentences, *(f"{a} {b}" for a, b in
                                                     zip(s.sentences, s.sentences[1:], strict=False))]
               for s in sections}
    flat = [w for ws in windows.values() for w in ws]
    vectors = iter(encode(flat))
    embedded = {key: (ws, np.stack([next(vectors) for _ in ws])) for key, ws in windows.items()}
    bank = {q.id: q for q in load_questions(corpus_dir)}
    claims = load_claims(corpus_dir)
    for question in bank.values():
        written = {} if question.id in reserved else claims
        pairs.extend(_question_pairs(question, embedded, encode, rng, written))
    if learners is not None:
        # Few but closest to what the judge grades: each is seen three times an epoch.
        pairs.extend(list(learner_pairs(learners, bank, encode)) * LEARNER_REPEATS)
    rng.shuffle(pairs)
    return pairs


Embedded = dict[tuple[str, str], tuple[list[str], np.ndarray]]


def _question_pairs(question: Question, sections: Embedded, encode: EncodeFn,
                    rng: random.Random, claims: dict[str, list[tuple[str, str]]]) -> Iterator[Pair]:
    points = [p.point for p in question.key_points]
    answer = [plain(s.text) for s in split_sentences(question.answer)]
    point_vecs = encode(points)
    answer_vecs = encode(answer)
    support = []
    for k, point in enumerate(question.key_points):
        windows, vecs = sections.get((point.source.file, point.source.section), ([], None))
        if vecs is None:
            support.append(("", 0.0))
            continue
        cos = vecs @ point_vecs[k]
        best = int(cos.argmax())
        support.append((windows[best], float(cos[best])))
    sims = point_vecs @ answer_vecs.T  # (points, answer sentences)
    stated = [(answer[int(row.argmax())], float(row.max())) for row in sims]
    others = [(answer[int(sims[j].argmax())], points[k], float(sims[k, int(sims[j].argmax())]))
              for j in range(len(points)) for k in range(len(points)) if j != k]
    yield from point_pairs(question, support, stated, rng.sample(others, min(3, len(others))), rng)
    for k, point in enumerate(question.key_points):
        evidence, cos = support[k]
        yield from claim_pairs(point, evidence if cos >= SUPPORT_COSINE else None,
                               claims.get(f"{question.id}#{k}", []))
    yield from other_claim_pairs(question, point_vecs @ point_vecs.T, support, claims, rng)
