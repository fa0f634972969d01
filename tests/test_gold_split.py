"""The gold set's dev/test split and its well-formedness (fast: JSON and Markdown only, no models).

How the split was made (see also eval/README.md): the 163 cases that existed when issue 22
asked for a held-out split (g-001 .. g-163) were assigned by `tutor.evaluation.gold.assign_splits` with
seed `SPLIT_SEED` = 22: stratified by kind (each kind halved to within one case) and by topic
(each topic within a kind halved to within one case, odd cases sent to whichever split the
topic, then the kind, had fewer of, then a seeded coin), ordered inside a group by
sha256(f"{seed}:{id}"). Every case after `LAST_PRE_SPLIT_ID` was written after the split and
is `test`. The split is written out as a `"split"` field on every line, and
`test_pre_split_cases_follow_the_seeded_rule` checks that the file still matches the rule.

Dev may be tuned on; test never: no setting, threshold, prompt or guard pattern is chosen by
looking at test-split numbers.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections import Counter
from functools import cache
from pathlib import Path

from tutor.config import REPO_DIR
from tutor.evaluation.gold import LAST_PRE_SPLIT_ID, SPLIT_SEED, GoldCase, assign_splits, load_gold

GOLD_FILE = REPO_DIR / "eval" / "gold.jsonl"
CORPUS = REPO_DIR / "corpus"
GOLD = load_gold(GOLD_FILE)
RAW = [
    json.loads(line) for line in GOLD_FILE.read_text(encoding="utf-8").splitlines() if line.strip()
]
KINDS = {"in_scope", "multi_section", "out_of_scope", "adversarial"}
MIN_NEW_TEST_CASES = 60


def number(case: GoldCase) -> int:
    return int(case.id.removeprefix("g-"))


PRE_SPLIT = [c for c in GOLD if number(c) <= int(LAST_PRE_SPLIT_ID.removeprefix("g-"))]
POST_SPLIT = [c for c in GOLD if c not in PRE_SPLIT]


@cache
def headings(doc: str) -> frozenset[str]:
    """Heading texts of a corpus Markdown file (any level, `#`s stripped, code blocks skipped)."""
    found, fenced = set(), False
    for line in (CORPUS / doc).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)):
            found.add(m.group(1))
    return frozenset(found)


def test_ids_are_unique_and_numbered() -> None:
    ids = [c.id for c in GOLD]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"g-\d{3}", i) for i in ids), [
        i for i in ids if not re.fullmatch(r"g-\d{3}", i)
    ]
    assert [number(c) for c in GOLD] == list(range(1, len(GOLD) + 1))  # appended in order, no gaps


def test_questions_are_not_repeated_across_the_set() -> None:
    """A test question that also sits in dev (same words) would leak the test split."""
    seen = Counter(" ".join(c.question.lower().split()) for c in GOLD)
    assert [q for q, n in seen.items() if n > 1] == []


def test_every_line_states_its_split() -> None:
    """Explicit on every line, so the model's default ("dev") never decides a case's split."""
    assert [r["id"] for r in RAW if r.get("split") not in ("dev", "test")] == []


def test_reference_passages_resolve_to_corpus_headings() -> None:
    missing = [
        f"{c.id}: {p.doc} / {p.section}"
        for c in GOLD
        for p in c.reference_passages
        if not (CORPUS / p.doc).is_file() or p.section not in headings(p.doc)
    ]
    assert missing == []


def test_kinds_follow_the_conventions() -> None:
    assert {c.kind for c in GOLD} == KINDS
    for c in GOLD:
        if c.kind == "out_of_scope":
            assert not c.reference_passages and not c.reference_answer and c.topic == "none", c.id
        elif c.kind in ("in_scope", "multi_section"):
            assert c.reference_passages and c.reference_answer, c.id
            assert c.topic != "none" and (CORPUS / f"{c.topic}.md").is_file(), c.id
        else:  # adversarial: an answer and passages exactly when a real question is inside
            assert bool(c.reference_passages) == bool(c.reference_answer), c.id
        if c.kind == "multi_section":
            assert len({(p.doc, p.section) for p in c.reference_passages}) >= 2, c.id


def test_pre_split_cases_follow_the_seeded_rule() -> None:
    assert PRE_SPLIT and PRE_SPLIT[-1].id == LAST_PRE_SPLIT_ID
    expected = assign_splits(PRE_SPLIT, SPLIT_SEED)
    assert {c.id: c.split for c in PRE_SPLIT} == expected


def test_pre_split_assignment_is_stratified() -> None:
    by_kind: dict[str, Counter[str]] = {}
    by_topic: dict[str, Counter[str]] = {}
    for c in PRE_SPLIT:
        by_kind.setdefault(c.kind, Counter())[c.split] += 1
        by_topic.setdefault(c.topic, Counter())[c.split] += 1
    for name, counts in {**by_kind, **by_topic}.items():
        assert abs(counts["dev"] - counts["test"]) <= 1, (name, counts)


def test_assign_splits_is_seeded() -> None:
    assert assign_splits(PRE_SPLIT, SPLIT_SEED) == assign_splits(
        list(reversed(PRE_SPLIT)), SPLIT_SEED
    )
    assert assign_splits(PRE_SPLIT, SPLIT_SEED) != assign_splits(PRE_SPLIT, SPLIT_SEED + 1)


def test_cases_written_after_the_split_are_test_only() -> None:
    assert [c.id for c in POST_SPLIT if c.split != "test"] == []
    assert len(POST_SPLIT) >= MIN_NEW_TEST_CASES
    kinds = Counter(c.kind for c in POST_SPLIT)
    assert set(kinds) == KINDS, kinds
    assert kinds["out_of_scope"] >= 10 and kinds["multi_section"] >= 10, kinds
    topics = {c.topic for c in POST_SPLIT if c.reference_passages}
    assert len(topics) >= 15, topics  # spread over the notes, not one file


def test_both_splits_hold_every_kind() -> None:
    for split in ("dev", "test"):
        kinds = Counter(c.kind for c in GOLD if c.split == split)
        assert set(kinds) == KINDS, (split, kinds)
        assert kinds["out_of_scope"] >= 5, (split, kinds)
    assert sum(c.split == "test" for c in GOLD) >= len(PRE_SPLIT) // 2 + MIN_NEW_TEST_CASES


def test_source_pages_set_still_loads() -> None:
    """The other gold set shares the model; with no split field its cases default to dev."""
    cases = load_gold(Path(REPO_DIR / "eval" / "gold_source_pages.jsonl"))
    assert cases and {c.split for c in cases} <= {"dev", "test"}



def _explanations(path: Path) -> list[tuple[int, str]]:
    """A module's comments (runs of consecutive `#` lines joined) and docstrings, as (line,
    text): where the code says why a setting has its value."""
    source = path.read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    run: list[str] = []
    start = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            start = start if run else token.start[0]
            run.append(token.string.lstrip("#").strip())
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) and run:
            found.append((start, " ".join(run)))
            run = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                found.append((getattr(node, "lineno", 1), " ".join(doc.split())))
    return found


def test_no_setting_cites_a_number_measured_on_the_test_split() -> None:
    """Issue 22: code that quotes a gold-set measurement to explain a choice quotes the dev
    split (where tuning is allowed). A number from the test split, or from the whole gold set
    (which holds the test split), beside a setting would say it was chosen by looking at test
    cases."""
    measured = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.])")
    offenders = []
    for path in sorted((REPO_DIR / "tutor").rglob("*.py")):
        for n, text in _explanations(path):
            if not (re.search(r"\bgold\b", text) and measured.search(text)):
                continue
            if re.search(r"\bnever (?:on )?(?:eval/)?gold\b", text):
                continue  # says the choice did not look at gold at all
            if not re.search(r"\b(?:gold dev|dev gold|dev split)\b", text) or re.search(r"\btest split\b", text):
                offenders.append(f"{path.relative_to(REPO_DIR)}:{n}: {text[:110]}")
    assert offenders == [], "\n".join(offenders)
