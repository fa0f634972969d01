"""The judge on the answer-support labels: does it find what supports an answer sentence?

    .venv/bin/python scripts/eval_judge.py               # report, per split
    .venv/bin/python scripts/eval_judge.py --tune        # choose the thresholds on dev only
    .venv/bin/python scripts/eval_judge.py --llm-check   # and the LLM check after the judge

For each sentence of eval/answer_support.yaml, the judge reads it against the sentences of
its labelled section (as the answer check does against the passages given to the LLM).
Reports, per split: supported / not-supported agreement, three-way agreement (supported,
contradicted, unsupported), and how often the span the judge picks is the labelled evidence
sentence. With --llm-check, each sentence the judge would cite is also put to the configured
LLM's yes / no check, as the answer check does (`support_llm_check`; ~2 s a sentence with the
embedded model on 2 cores, ~6 min in all), and both rows are reported: a "no" replaces the
sentence with the note's own, so it is no longer cited. The same sentences are also put to the
three-way `refutes` prompt (yes / no / other), whose "other" would flag the sentence instead of
citing it. The replies are cached in eval/results/judge/llm_replies.json (by LLM, prompt, fact
and sentence), so a rerun asks only what changed. Writes
eval/results/judge/{summary.json,report.md} and the `bench:judge-support` section of
bench/results.md and the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import tutor  # noqa: F401
from tutor.answering.support import (
    Evidence,
    Reply,
    SupportChecker,
    SupportLabel,
    SupportThresholds,
    claim_text,
    llm_reply,
    verdict,
)
from tutor.config import REPO_DIR, Settings
from tutor.evaluation.benchmarks import machine, stamp
from tutor.evaluation.published import publish
from tutor.evaluation.support_labels import SupportItem, judge_items, load_items, span_matches
from tutor.llm import get_llm
from tutor.prompts import prompt_versions

RESULTS = REPO_DIR / "eval" / "results" / "judge"
# The LLM checks after the judge, by the prompt they ask: `agrees` (yes / no, the answer
# check's) and `refutes` (yes / no / other, the grader's).
CHECKS = {"agrees": "judge + LLM yes / no", "refutes": "judge + LLM yes / no / other"}
# What the answer check shows for a sentence the judge would cite, by the LLM's reply.
_AFTER_REPLY: dict[Reply, SupportLabel] = {"yes": "supported", "no": "contradicted", "other": "unsupported"}


def predict(found: Sequence[Evidence], at: SupportThresholds,
            replies: Mapping[int, Reply] | None = None) -> list[SupportLabel]:
    """The answer check's label per sentence; `replies`: the LLM's reply for the sentences the
    judge would cite ("no": replaced by the note's own sentence, "other": flagged)."""
    replies = replies or {}
    return [_AFTER_REPLY[replies[n]] if n in replies else verdict(e, at) for n, e in enumerate(found)]


def measure(items: Sequence[SupportItem], found: Sequence[Evidence], at: SupportThresholds,
            replies: Mapping[int, Reply] | None = None) -> dict[str, float | int]:
    predicted = predict(found, at, replies)
    binary = sum((p == "supported") == (i.label == "supported") for p, i in zip(predicted, items, strict=True))
    three = sum(p == i.label for p, i in zip(predicted, items, strict=True))
    supported = [(i, e) for i, e in zip(items, found, strict=True) if i.label == "supported"]
    spans = sum(span_matches(i, e, at) for i, e in supported)
    called = [i for p, i in zip(predicted, items, strict=True) if p == "contradicted"]
    cited = [i for p, i in zip(predicted, items, strict=True) if p == "supported"]
    return {
        "n": len(items),
        "supported_agreement": round(binary / len(items), 4),
        "three_way_agreement": round(three / len(items), 4),
        "span_is_evidence": round(spans / len(supported), 4) if supported else float("nan"),
        "supported_labelled": len(supported),
        "supported_cited": sum(i.label == "supported" for i in cited),
        "contradicted_called": len(called),
        "contradicted_precision": round(sum(i.label == "contradicted" for i in called) / len(called), 4)
        if called else float("nan"),
        # Sentences the notes contradict that the check would cite as supported: the worst error.
        "contradicted_labelled": sum(i.label == "contradicted" for i in items),
        "contradicted_cited": sum(i.label == "contradicted" for i in cited),
    }


def llm_replies(items: Sequence[SupportItem], found: Sequence[Evidence], at: SupportThresholds,
                settings: Settings, prompt: str) -> dict[int, Reply]:
    """The LLM's reply to `prompt` for every sentence the judge would cite, by item index."""
    llm = get_llm(settings)
    path = RESULTS / "llm_replies.json"
    cache: dict[str, Reply] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    version = prompt_versions()[prompt]
    out = {}
    for n, (item, e) in enumerate(zip(items, found, strict=True)):
        if verdict(e, at) != "supported":
            continue
        fact, claim = e.read(), claim_text(item.sentence)
        key = json.dumps([llm.name, prompt, version, fact, claim])
        if key not in cache:
            cache[key] = llm_reply(llm, prompt, fact, claim)
        out[n] = cache[key]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cache, indent=0) + "\n", encoding="utf-8")
    return out


def tune(items: Sequence[SupportItem], found: Sequence[Evidence]) -> SupportThresholds:
    grid = [x / 100 for x in range(5, 100, 5)]
    similar = [x / 100 for x in range(50, 100, 2)] + [1.01]  # 1.01: the judge alone
    scored = []
    for e in grid:
        for c in [*grid, 0.97, 0.99]:
            for s in similar:
                at = SupportThresholds(e, c, s)
                m = measure(items, found, at)
                # Ties on agreement go to the thresholds that cite fewer sentences the notes
                # contradict (the worst error), then to three-way agreement.
                scored.append(((m["supported_agreement"], -m["contradicted_cited"],
                                m["three_way_agreement"]), at))
    best = max(scored, key=lambda row: row[0])
    print(f"dev: best supported agreement {best[0][0]:.3f} ({-best[0][1]} contradicted cited, "
          f"three-way {best[0][2]:.3f}) at "
          f"entails >= {best[1].entails}, contradicts >= {best[1].contradicts}, "
          f"cosine >= {best[1].similar}")
    return best[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", action="store_true", help="choose the thresholds on the dev split")
    parser.add_argument("--llm-check", action="store_true",
                        help="also report the LLM's yes / no check after the judge (the answer check's default)")
    args = parser.parse_args()
    settings = Settings()
    items = load_items()
    found = judge_items(SupportChecker(settings), settings.corpus_dir, items)
    if args.tune:
        dev = [(i, e) for i, e in zip(items, found, strict=True) if i.split == "dev"]
        tune([i for i, _ in dev], [e for _, e in dev])
        return 0
    at = SupportThresholds.of(settings)
    summary = {"judge": settings.judge_path(), "thresholds": {
        "entails": at.entails, "contradicts": at.contradicts, "similar": at.similar}}
    replies = {prompt: llm_replies(items, found, at, settings, prompt) for prompt in CHECKS} \
        if args.llm_check else {}
    lines = ["| split | check | sentences | supported / not agreement | three-way agreement | "
             "span = evidence sentence | contradicted precision | true sentences cited | "
             "contradicted but cited |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for split in ("dev", "test"):
        chosen = [n for n, i in enumerate(items) if i.split == split]
        checks: dict[str, dict[int, Reply]] = {"judge": {}}
        for prompt, said in replies.items():
            checks[CHECKS[prompt]] = {k: said[n] for k, n in enumerate(chosen) if n in said}
        for check, replied in checks.items():
            m = measure([items[n] for n in chosen], [found[n] for n in chosen], at, replied)
            summary[f"{split}, {check}"] = m
            lines.append(f"| {split} | {check} | {m['n']} | {m['supported_agreement']:.2f} | "
                         f"{m['three_way_agreement']:.2f} | {m['span_is_evidence']:.2f} "
                         f"(of {m['supported_labelled']}) | {m['contradicted_precision']:.2f} "
                         f"(of {m['contradicted_called']}) | {m['supported_cited']} of "
                         f"{m['supported_labelled']} | {m['contradicted_cited']} of "
                         f"{m['contradicted_labelled']} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    training = json.loads((Path(settings.judge_path()) / "training.json").read_text())
    last = training["per_epoch"][-1]
    publish("judge-support", "The judge on answer sentences (eval/answer_support.yaml)", [
        f"Measured {stamp()} on {machine()}; judge data hash {training.get('data_hash')}; "
        f"thresholds entails ≥ {at.entails}, contradicts ≥ {at.contradicts}, cosine ≥ "
        f"{at.similar} (a near restatement), chosen on dev "
        "(`scripts/eval_judge.py --tune`)"
        + (f"; LLM checks: {get_llm(settings).name}, the `agrees` prompt (yes / no) and the "
           "`refutes` prompt (yes / no / other), nothing chosen on these labels (a \"no\" "
           "replaces the sentence with the note's own, an \"other\" flags it: neither is cited)."
           if args.llm_check else "."), "", *lines, "",
        f"The judge's own held-out pairs, from the notes {', '.join(training.get('held_out_notes', []))} "
        "(never trained on):", "", "| pairs | n | accuracy | entails recall | contradicts recall | neither recall |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {name} | {h.get('n')} | {h.get('accuracy')} | {h.get('recall_entails')} | "
          f"{h.get('recall_contradicts')} | {h.get('recall_neither')} |"
          for name, h in (("rule-made", last.get("held_out_rules", {})),
                          ("written claims", last.get("held_out_claims", {}))))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
