"""Prompt-injection defences that do not depend on the model obeying its prompt.

A 1.5B model follows the last instruction it read, so the rules in the system prompt are
not enough on their own: sentences that try to re-task the model are removed from the
question and from retrieved passages before the model sees them, and an answer that
repeats the system prompt is withheld.
"""

from __future__ import annotations

import re

# Phrasings that address the model rather than ask about the subject.
_OVERRIDE = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.?!\n]{0,40}\b(instruction|rule|prompt|"
    r"guideline|polic|above|previous|prior|system)\w*"
    r"|\b(reveal|print|show|repeat|output|leak|tell me)\b[^.?!\n]{0,30}\b(system prompt|your "
    r"(prompt|instructions|rules)|hidden (prompt|instructions))"
    r"|\byou are now\b|\bact as\b[^.?!\n]{0,30}\b(unrestricted|jailbr|dan\b|evil)|\bdeveloper mode\b"
    # Not the bare word "jailbreak": it names a topic of the notes ("do perplexity filters
    # stop jailbreaks?" is a question to answer, not an instruction to remove).
    r"|\bDAN\b|\bnew instructions?\s*:|\bsystem\s*:\s|\bassistant\s*:\s"
    r"|\b(reply|respond|answer|say)\b[^.?!\n]{0,20}\bonly (with|in)\b"
    # Planted "authority" notes that tell the model what to claim, and fake prompt markup.
    r"|\b(admin|developer)\s+(note|notice|message)\b|\bsystem\s+(note|notice)\b|\btell the user\b"
    r"|</?(context|system|passages?|instructions?)>",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.?!\n]+[.?!]?|\n")


def is_override(text: str) -> bool:
    return bool(_OVERRIDE.search(text))


def strip_overrides(text: str) -> tuple[str, int]:
    """The text without its instruction-like sentences, and how many were removed."""
    kept: list[str] = []
    removed = 0
    for match in _SENTENCE.finditer(text):
        piece = match.group(0)
        if is_override(piece):
            removed += 1
        else:
            kept.append(piece)
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(), removed


def leaks_prompt(answer: str, system_prompt: str, window: int = 8) -> bool:
    """True when the answer repeats any `window` consecutive words of the system prompt."""
    words = re.findall(r"\w+", system_prompt.lower())
    grams = {" ".join(words[i : i + window]) for i in range(len(words) - window + 1)}
    said = re.findall(r"\w+", answer.lower())
    return any(" ".join(said[i : i + window]) in grams for i in range(len(said) - window + 1))
