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
sentence with the note's own, so it is no longer cited. Writes
eval/results/judge/{summary.json,report.md} and the `bench:judge-support` section of
bench/results.md and the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

import tutor  # noqa: F401
from tutor.answering.support import (
    Evidence,
    SupportChecker,
    SupportLabel,
    SupportThresholds,
    claim_text,
    llm_agrees,
    verdict,
)
from tutor.config import REPO_DIR, Settings
from tutor.evaluation.benchmarks import machine, stamp
from tutor.evaluation.published import publish
from tutor.evaluation.support_labels import SupportItem, judge_items, load_items, span_matches
from tutor.llm import get_llm

RESULTS = REPO_DIR / "eval" / "results" / "judge"


def predict(found: Sequence[Evidence], at: SupportThresholds,
            rejected: Collection[int] = ()) -> list[SupportLabel]:
    """The answer check's label per sentence; `rejected`: the sentences the LLM check said no
    to, replaced by the note's own sentence (so shown as corrected, not cited)."""
    return ["contradicted" if n in rejected else verdict(e, at) for n, e in enumerate(found)]


def measure(items: Sequence[SupportItem], found: Sequence[Evidence], at: SupportThresholds,
            rejected: Collection[int] = ()) -> dict[str, float | int]:
    predicted = predict(found, at, rejected)
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


def llm_rejected(items: Sequence[SupportItem], found: Sequence[Evidence], at: SupportThresholds,
                 settings: Settings) -> set[int]:
    """The sentences the judge would cite that the LLM check says no to."""
    llm = get_llm(settings)
    return {n for n, (item, e) in enumerate(zip(items, found, strict=True))
            if verdict(e, at) == "supported" and not llm_agrees(llm, e.read(), claim_text(item.sentence))}


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
    rejected = llm_rejected(items, found, at, settings) if args.llm_check else set()
    lines = ["| split | check | sentences | supported / not agreement | three-way agreement | "
             "span = evidence sentence | contradicted precision | true sentences cited | "
             "contradicted but cited |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for split in ("dev", "test"):
        chosen = [n for n, i in enumerate(items) if i.split == split]
        checks: dict[str, set[int]] = {"judge": set()}
        if args.llm_check:
            checks["judge + LLM check"] = {k for k, n in enumerate(chosen) if n in rejected}
        for check, said_no in checks.items():
            m = measure([items[n] for n in chosen], [found[n] for n in chosen], at, said_no)
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
        + (f"; LLM check: {get_llm(settings).name}, the `agrees` prompt, nothing chosen on these "
           "labels (a \"no\" replaces the sentence with the note's own, so it is not cited)."
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
