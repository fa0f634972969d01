"""The cross-encoder's training loop, on groups of (question, one positive, mined negatives).

Kept apart from the data building (`tutor/reranker.py`) and free of the rest of the package
(torch, transformers and sentence-transformers only) so that it also runs by path on a lent
GPU machine that has those libraries and nothing else of ours:

    python3 tutor/reranker_fit.py GROUPS.jsonl.xz BASE_MODEL OUT --device cuda [--eval CASES.jsonl.xz]

where scale is cheap (see docs/reranker.md); `tutor train-reranker` calls `fit` in-process.
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Loss = Literal["listwise", "pointwise"]
HEAD_LR, BODY_LR = 1e-3, 8e-5


@dataclass(frozen=True, slots=True)
class Group:
    """One training question with one relevant passage and the passages that are not."""

    query: str
    positive: str
    negatives: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Case:
    """A question with the candidates retrieval gave it and which of them are relevant, to
    measure the reranker alone (MRR@10) while choosing how to train it."""

    query: str
    candidates: tuple[str, ...]
    relevant: tuple[bool, ...]


def write_jsonl(rows: Iterable[Group | Case], path: Path) -> None:
    # xz with its largest window, not gzip: every passage recurs in many groups, and gzip's
    # 32 KB window misses nearly all of those repeats (the files travel to a GPU machine).
    with lzma.open(path, "wt", encoding="utf-8", preset=9) as out:
        for row in rows:
            out.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


def read_groups(path: Path) -> list[Group]:
    with lzma.open(path, "rt", encoding="utf-8") as rows:
        return [Group(r["query"], r["positive"], tuple(r["negatives"])) for r in map(json.loads, rows)]


def read_cases(path: Path) -> list[Case]:
    with lzma.open(path, "rt", encoding="utf-8") as rows:
        return [Case(r["query"], tuple(r["candidates"]), tuple(r["relevant"])) for r in map(json.loads, rows)]


def keep_layers(model: Any, layers: int) -> None:
    """Keep the encoder's first `layers` transformer layers (fewer train and run faster).

    Not below 6 for the bundled all-MiniLM-L6-v2: it was trained with mean pooling, and its
    [CLS] state, which the classification head reads, is the same for every input after
    layer 4 (cosine 0.9999 between unrelated pairs) and only starts to differ after layer 6
    (0.79). Cut at 4 layers, the head has nothing to learn from (docs/reranker.md)."""
    encoder = model.model.base_model.encoder
    encoder.layer = encoder.layer[:layers]
    model.model.config.num_hidden_layers = layers


def _optimizer(model: Any, steps: int, head_lr: float, body_lr: float) -> tuple[Any, Any]:
    """AdamW with a fast head and a gentle body: the classification head (and BERT's pooler,
    which all-MiniLM never trained) start from random weights and must move far, while the
    pretrained encoder should move little."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    named = list(model.model.named_parameters())
    head = [p for n, p in named if n.startswith(("classifier", "bert.pooler"))]
    body = [p for n, p in named if not n.startswith(("classifier", "bert.pooler"))]
    optimizer = torch.optim.AdamW([{"params": head, "lr": head_lr}, {"params": body, "lr": body_lr}],
                                  weight_decay=0.01)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)


def mrr_at_10(model: Any, cases: Sequence[Case], batch_size: int = 64) -> float:
    """Mean reciprocal rank of the first relevant candidate when the model alone orders them."""
    total = 0.0
    for case in cases:
        scores = model.predict([(case.query, c) for c in case.candidates], batch_size=batch_size,
                               show_progress_bar=False)
        order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))[:10]
        total += next((1.0 / (rank + 1) for rank, i in enumerate(order) if case.relevant[i]), 0.0)
    return total / max(len(cases), 1)


def fit(groups: Sequence[Group], base: str, output: Path, *, epochs: int = 1, seed: int = 13,
        layers: int = 6, max_length: int = 128, negatives: int = 7, batch_groups: int = 2,
        loss: Loss = "pointwise", head_lr: float = HEAD_LR, body_lr: float = BODY_LR,
        device: str = "cpu", cases: Sequence[Case] = (), manifest: dict[str, Any] | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Fine-tune `base` as a one-logit cross-encoder on `groups` and write it to `output`.

    A plain PyTorch loop rather than sentence-transformers' CrossEncoderTrainer: with the
    trainer (sentence-transformers 6.2) two full runs ended exactly at the label prior's
    entropy, while this loop, on the same model and data, separates positives from negatives
    within a few dozen steps. Each step scores every group's positive against its first
    `negatives` negatives: `pointwise` is a yes/no per passage, `listwise` a softmax over the
    list (the positive must win). Pointwise is the default because in the short runs a CPU
    affords it learned more (held-out MRR@10 0.41 against 0.36 after 200 steps); listwise is
    the usual choice at scale and worth a try on a GPU. Returns the manifest it writes beside
    the model, with the reranker-alone MRR@10 on `cases` after each epoch when any are given.
    """
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder
    from tqdm import tqdm
    from transformers import set_seed

    set_seed(seed)
    started = time.perf_counter()
    model = CrossEncoder(base, num_labels=1, max_length=max_length, device=device, local_files_only=True)
    model.model.float()  # a base saved in half precision still trains in full
    keep_layers(model, layers)
    rng = random.Random(seed)
    # Every group gets the same list length so a batch is one (groups × list) block.
    usable = [g for g in groups if len(g.negatives) >= negatives]
    batches = [usable[i:i + batch_groups] for i in range(0, len(usable), batch_groups)]
    optimizer, schedule = _optimizer(model, len(batches) * epochs, head_lr, body_lr)
    width = negatives + 1
    losses: list[float] = []
    per_epoch: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.model.train()
        rng.shuffle(batches)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for batch in bar:
            queries = [g.query for g in batch for _ in range(width)]
            passages = [p for g in batch for p in (g.positive, *g.negatives[:negatives])]
            encoded = model.tokenizer(queries, passages, truncation=True, max_length=max_length,
                                      padding=True, return_tensors="pt").to(model.device)
            # bf16 on a GPU: fp32 there ran at a fraction of the chip's speed (docs/reranker.md).
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=model.device.type == "cuda"):
                logits = model.model(**encoded).logits.view(len(batch), width).float()
            if loss == "listwise":
                target = torch.zeros(len(batch), dtype=torch.long, device=model.device)
                value = torch.nn.functional.cross_entropy(logits, target)
            else:
                labels = torch.zeros_like(logits)
                labels[:, 0] = 1.0
                value = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            optimizer.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(value.item())
            bar.set_postfix(loss=f"{sum(losses[-25:]) / len(losses[-25:]):.3f}")
        model.model.eval()
        row = {"epoch": epoch + 1, "loss": round(sum(losses[-len(batches):]) / len(batches), 4)}
        if cases:
            row["mrr@10"] = round(mrr_at_10(model, cases), 4)
        per_epoch.append(row)
    if output.exists():
        shutil.rmtree(output)
    # fp16 on disk halves the size (≈38 MB for 4 layers, small enough to commit); it loads
    # back as fp32.
    model.model.half()
    model.save(str(output))
    written = {
        **(manifest or {}),
        "groups": len(usable), "list": width, "loss": loss, "epochs": epochs, "seed": seed,
        "batch_groups": batch_groups, "head_lr": head_lr, "body_lr": body_lr, "layers": layers,
        "max_length": max_length, "device": device, "per_epoch": per_epoch,
        "final_loss": per_epoch[-1]["loss"], "seconds": round(time.perf_counter() - started, 1),
    }
    (output / "training.json").write_text(json.dumps(written, indent=2) + "\n")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", type=Path, help="training groups (.jsonl.xz from `tutor train-reranker --export`)")
    parser.add_argument("base", help="folder of the encoder to start from")
    parser.add_argument("output", type=Path)
    parser.add_argument("--eval", type=Path, help="cases (.jsonl.xz) to report MRR@10 on after each epoch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--negatives", type=int, default=7)
    parser.add_argument("--batch-groups", type=int, default=2)
    parser.add_argument("--loss", choices=["listwise", "pointwise"], default="pointwise")
    parser.add_argument("--head-lr", type=float, default=HEAD_LR)
    parser.add_argument("--body-lr", type=float, default=BODY_LR)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    result = fit(read_groups(args.groups), args.base, args.output, epochs=args.epochs, seed=args.seed,
                 layers=args.layers, max_length=args.max_length, negatives=args.negatives,
                 batch_groups=args.batch_groups, loss=args.loss, head_lr=args.head_lr,
                 body_lr=args.body_lr, device=args.device,
                 cases=read_cases(args.eval) if args.eval else (), progress=False)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
