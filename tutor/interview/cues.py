"""Contradiction cues of the `embedding` grading method: word lists that guess when a learner's
clause says the opposite of a key point (a flipped negation, opposite direction words, a
different number, an absolute claim against a hedged point). MiniLM scores "X" and "not X"
alike and no NLI model ships (MODELS.md); the trained judge (`tutor/judge/model.py`, method `judge`)
is meant to replace these once it beats them on the held-out learners (docs/judge.md).
"""

from __future__ import annotations

import re

_NEGATION = re.compile(
    r"\b(not|no|never|cannot|without|nothing|none|neither|nor|lack|lacks|blocks|prevents|fails"
    r"|rather than|instead of)\b|n['’]t\b|\b(?!(?:un|regard|never)less\b)\w{3,}less\b",
    re.IGNORECASE,
)
_POLARITY_BREAK = re.compile(r"[,;:()]\s*|\s+(?:and|but|while|whereas|because|since|so|although|"
                             r"though|yet|otherwise|which)\s+", re.IGNORECASE)
_STOP_TEXT = """the a an of to in on at by for with from as it its that this and or each their them
    they than then is are was were be been has have had do does did can could will would should
    may might must not no never nothing none without"""
_STOP = frozenset(_STOP_TEXT.split())


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _TOKEN.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _polarity_flip(point: str, claim: str) -> bool:
    """A clause of the claim says "not X" where the point's clause about X says "X", or the
    reverse. Clauses are paired by shared content words, so a negation about another part of
    the point ("..., not task success") does not count against a claim that skips it."""
    point_clauses = [(c, _stems(c)) for c in _POLARITY_BREAK.split(point) if c and c.strip()]
    for clause in _POLARITY_BREAK.split(claim):
        stems = _stems(clause or "")
        if not stems:
            continue
        overlaps = [len(stems & s) for _, s in point_clauses]
        best = max(overlaps)
        if best < min(2, len(stems)):
            continue
        parity = len(_NEGATION.findall(clause)) % 2
        if any(n == best and len(_NEGATION.findall(c)) % 2 != parity
               for (c, _), n in zip(point_clauses, overlaps, strict=True)):
            return True
    return False


# Direction words that make two otherwise similar claims incompatible.
_OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(a.split()), frozenset(b.split()))
    for a, b in (
        ("increase increases increasing raise raises grow grows growing larger bigger higher "
         "longer more quadruples quadruple multiplies expensive slower",
         "decrease decreases reduce reduces reducing shrink shrinks smaller lower shorter fewer "
         "less cheaper faster"),
        ("linear linearly", "quadratic quadratically square squared"),
        ("before pre-ln", "after post-ln"),
        ("zero", "random randomly"),
        ("same sharing shared only", "any whatever different another"),
        ("self-supervised self-supervision unlabelled unlabeled", "labelled labeled human-labelled "
         "supervised"),
        ("top-k few subset", "all every"),
        ("worse", "better equally"),
    )
)
# Absolute claims; against a hedged point they are the typical confidently wrong answer.
_ABSOLUTE = frozenset({"completely", "entirely", "perfectly", "always", "exactly", "fully",
                       "guaranteed"})
_HEDGE = frozenset({"not", "but", "can", "may", "might", "often", "usually", "only", "still",
                    "although", "rather"})
_PARAPHRASE = 0.8
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(re.sub(r"(\d)\s*[x×]\s*(\d)", r"\1 \2", text))}


def conflict(point: str, claim: str, similarity: float) -> str | None:
    """The cue by which `claim` seems to say the opposite of `point`, or None.

    Both are already about the same thing (their embeddings are close). Each cue alone is
    weak; the grader applies them only to the learner's clauses that best match the point.
    A near-paraphrase (cosine >= 0.8) that moves a negation around ("no worked examples" /
    "few-shot puts worked examples first") is nearly always the same claim reworded, so
    polarity only counts below that.
    """
    if similarity < _PARAPHRASE and _polarity_flip(point, claim):
        return "polarity"
    p_words = set(_TOKEN.findall(point.lower()))
    c_words = set(_TOKEN.findall(claim.lower()))
    for a, b in _OPPOSITES:
        for mine, theirs in ((a, b), (b, a)):
            if c_words & mine and p_words & theirs and not p_words & mine and not c_words & theirs:
                return f"opposite: {sorted(c_words & mine)[0]} / {sorted(p_words & theirs)[0]}"
    p_numbers, c_numbers = _numbers(point), _numbers(claim)
    if c_numbers - p_numbers and p_numbers - c_numbers:
        return "number"  # each states a quantity the other does not: 50,176 vs 196 tokens
    if c_words & _ABSOLUTE - p_words and p_words & _HEDGE:
        return "absolute"
    return None
