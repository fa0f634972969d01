"""Rules that flip a claim's meaning, for the judge's `contradicts` training pairs only.

A negation added or removed, a number changed, a direction word swapped for its opposite, two
sibling concepts exchanged (keys / queries, PPO / DPO, top-k / top-p). Word lists are fine
*here*: they make training data (`tutor/judge/data.py`); the judge that learns from it
decides at run time, and nothing at run time imports this module.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

_OPPOSITES = [
    ("increases", "decreases"), ("increase", "decrease"), ("raises", "lowers"),
    ("more", "fewer"), ("higher", "lower"), ("larger", "smaller"), ("faster", "slower"),
    ("longer", "shorter"), ("better", "worse"), ("before", "after"), ("linear", "quadratic"),
    ("linearly", "quadratically"), ("first", "last"), ("cheaper", "more expensive"),
    ("maximises", "minimises"), ("maximizes", "minimizes"), ("online", "offline"),
    ("explicit", "implicit"), ("sparse", "dense"), ("input", "output"), ("early", "late"),
    ("most", "least"), ("high", "low"), ("large", "small"), ("always", "never"),
    ("improves", "hurts"), ("reduces", "increases"), ("helps", "hurts"), ("stable", "unstable"),
    ("frozen", "trained"), ("easier", "harder"), ("cheap", "expensive"), ("fixed", "learned"),
    ("absolute", "relative"), ("local", "global"), ("wider", "narrower"), ("many", "few"),
    ("memory-bound", "compute-bound"), ("prefill", "decode"), ("training", "inference"),
    ("precision", "recall"), ("bias", "variance"), ("underfitting", "overfitting"),
]
_SIBLINGS = [
    ("keys", "queries"), ("key", "query"), ("PPO", "DPO"), ("pre-LN", "post-LN"),
    ("top-k", "top-p"), ("encoder", "decoder"), ("BM25", "dense retrieval"), ("LoRA", "full fine-tuning"),
    ("RoPE", "ALiBi"), ("GQA", "MHA"), ("MQA", "MHA"), ("SFT", "RLHF"), ("GPT-1", "BERT"),
    ("FlashAttention", "PagedAttention"), ("L1", "L2"), ("softmax", "sigmoid"), ("BPE", "WordPiece"),
    ("greedy decoding", "beam search"), ("temperature", "top-p"), ("cross-encoder", "bi-encoder"),
    ("perplexity", "accuracy"), ("INT8", "INT4"), ("FP16", "BF16"), ("Chinchilla", "Kaplan"),
    ("tensor parallelism", "pipeline parallelism"), ("RAG", "fine-tuning"), ("ReLU", "GELU"),
    ("Adam", "SGD"), ("dropout", "weight decay"), ("CLIP", "ViT"), ("MoE", "dense model"),
]
Rewrite = tuple[str, "str | Callable[[re.Match[str]], str]"]
_NEGATE: list[Rewrite] = [  # (pattern, replacement) adding a negation
    (r"\b(is|are|was|were|can|should|must|will|does|do|did|has|have|may)\b(?! not\b)", r"\1 not"),
]
_UNNEGATE: list[Rewrite] = [  # removing one
    (r"\bcannot\b", "can"), (r"\b(is|are|was|were|does|do|did|has|have|will|should|must|can) not\b", r"\1"),
    (r"\b(is|are|was|were|does|do|did|has|have|ca|wo|should|must)n['’]t\b",
     lambda m: {"ca": "can", "wo": "will"}.get(m.group(1), m.group(1))),
    (r"\bnever\b", "always"), (r"\bno longer\b", "still"), (r"\bwithout\b", "with"),
]
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.]*\d)")


Flipped = tuple[str, str]  # (the flipped text, the word of the original that was changed)


def _word(w: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(w)}(?![\w-])", re.IGNORECASE)


def _cased(found: str, word: str) -> str:
    """`word` written with the capital of the text it replaces ("Keys" -> "Queries")."""
    return word[0].upper() + word[1:] if found[:1].isupper() and word[:1].islower() else word


def _swap_words(text: str, pairs: Sequence[tuple[str, str]], rng: random.Random) -> Flipped | None:
    candidates = [(x, y) for a, b in pairs for x, y in ((a, b), (b, a)) if _word(x).search(text)]
    if not candidates:
        return None
    x, y = rng.choice(candidates)
    if _word(y).search(text):
        # Both present ("A is faster than B"): exchange them, which flips the claim.
        both = re.compile(rf"(?<![\w-])({re.escape(x)}|{re.escape(y)})(?![\w-])", re.IGNORECASE)
        return both.sub(lambda m: _cased(m.group(0), y if m.group(0).lower() == x.lower() else x),
                        text), x
    return _word(x).sub(lambda m: _cased(m.group(0), y), text, count=1), x


def _negation(text: str, rng: random.Random) -> Flipped | None:
    for pattern, repl in [*_UNNEGATE, *_NEGATE]:
        if m := re.search(pattern, text):
            # The changed word is the one the negation is about: the next content word.
            after = re.findall(r"[A-Za-z][\w-]{3,}", text[m.end():])
            return re.sub(pattern, repl, text, count=1), after[0] if after else m.group(0)
    return None


def _number(text: str, rng: random.Random) -> Flipped | None:
    found = list(_NUMBER.finditer(text))
    if not found:
        return None
    m = rng.choice(found)
    value = float(m.group(1))
    new = rng.choice([value * 2, value * 10, value / 2, value + 1, max(value - 1, 0) or 3])
    shown = f"{new:g}" if "." in m.group(1) or new != int(new) else str(int(new))
    if shown == m.group(1):
        return None
    return text[:m.start(1)] + shown + text[m.end(1):], m.group(1)


FLIPS = {
    "negation": _negation,
    "number": _number,
    "opposite": lambda text, rng: _swap_words(text, _OPPOSITES, rng),
    "sibling": lambda text, rng: _swap_words(text, _SIBLINGS, rng),
}


def flip(text: str, rng: random.Random, about: str | None = None) -> tuple[str, str] | None:
    """`text` with its meaning reversed by one rule (tried in random order), and the rule.

    With `about` (the evidence the flipped text will be judged against), only a change to a
    word that `about` also contains counts: flipping a clause the evidence says nothing about
    makes a claim the evidence neither supports nor contradicts.
    """
    for name in rng.sample(sorted(FLIPS), len(FLIPS)):
        flipped = FLIPS[name](text, rng)
        if not flipped or flipped[0] == text:
            continue
        if about is not None and flipped[1].lower() not in about.lower():
            continue
        return flipped[0], name
    return None
