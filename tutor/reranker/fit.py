"""The cross-encoder's training loop, on groups of (question, one positive, mined negatives).

Kept apart from the data building (`tutor/reranker/data.py`) and free of the rest of the package
(torch, transformers and sentence-transformers only) so that it also runs by path on a lent
GPU machine that has those libraries and nothing else of ours:

    python3 tutor/reranker/fit.py GROUPS.jsonl.xz BASE_MODEL OUT --device cuda [--eval CASES.jsonl.xz]

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


def cross_encoder(base: str, layers: int, max_length: int, device: str, outputs: int = 1) -> Any:
    """A cross-encoder whose head reads the mean of the encoder's token states, not [CLS]
    (`outputs` logits: one for the reranker, three for the judge).

    all-MiniLM-L6-v2 was trained with mean pooling, so its [CLS] state, which a standard
    (`AutoModelForSequenceClassification`) head reads, was never asked to carry anything:
    after layer 4 it is the same for every input (cosine 0.9999 between unrelated pairs),
    after layer 6 still close (0.79), while mean-pooled states differ (0.83 and 0.34). Read
    through the mean, the head starts from the signal MiniLM was trained to give: after 200
    steps on a CPU the reranker alone reached held-out MRR@10 0.48 against 0.36 through
    [CLS] (docs/reranker.md). It is still a sentence-transformers `CrossEncoder` (modules
    Transformer → Pooling → Dense), saved and loaded like any other.
    """
    import torch
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.sentence_transformer.modules import Pooling

    # A base saved in half precision still trains in full.
    encoder = Transformer(base, transformer_task="feature-extraction", max_seq_length=max_length,
                          model_kwargs={"dtype": torch.float32, "local_files_only": True},
                          processor_kwargs={"local_files_only": True},
                          config_kwargs={"local_files_only": True})
    # Fewer layers train and run faster, but below 6 the states carry less (see above).
    encoder.model.encoder.layer = encoder.model.encoder.layer[:layers]
    encoder.model.config.num_hidden_layers = layers
    width = encoder.model.config.hidden_size
    head = Dense(width, outputs, activation_function=None, module_output_name="scores")
    return CrossEncoder(modules=[encoder, Pooling(width, "mean"), head], device=device)


def optimizer(model: Any, steps: int, head_lr: float, body_lr: float) -> tuple[Any, Any]:
    """AdamW with a fast head and a gentle body: the head starts from random
    weights and must move far, while the pretrained encoder (module 0) should move little."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    named = list(model.named_parameters())
    head = [p for n, p in named if not n.startswith("0.")]
    body = [p for n, p in named if n.startswith("0.")]
    adamw = torch.optim.AdamW([{"params": head, "lr": head_lr}, {"params": body, "lr": body_lr}],
                                  weight_decay=0.01)
    return adamw, get_linear_schedule_with_warmup(adamw, int(0.1 * steps), steps)


def step(model: Any, adamw: Any, schedule: Any, loss: Any) -> float:
    """One optimisation step on `loss` (gradients clipped to norm 1); returns its value."""
    import torch

    adamw.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    adamw.step()
    schedule.step()
    return float(loss.item())


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
        loss: Loss = "listwise", head_lr: float = HEAD_LR, body_lr: float = BODY_LR,
        device: str = "cpu", cases: Sequence[Case] = (), manifest: dict[str, Any] | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Fine-tune `base` as a one-logit cross-encoder on `groups` and write it to `output`.

    A plain PyTorch loop rather than sentence-transformers' CrossEncoderTrainer: with the
    trainer (sentence-transformers 6.2) two full runs ended exactly at the label prior's
    entropy, while this loop, on the same model and data, separates positives from negatives
    within a few dozen steps. Each step scores every group's positive against its first
    `negatives` negatives: `listwise` is a softmax over the list (the positive must win),
    `pointwise` a yes/no per passage. Listwise is the default: with the mean-pooled head it
    learned most in the short runs a CPU affords (held-out MRR@10 0.48 after 200 steps,
    pointwise 0.41). Its scores rank; they are not calibrated probabilities. Returns the
    manifest it writes beside the model, with the reranker-alone MRR@10 on `cases` after each
    epoch when any are given.
    """
    from tqdm import tqdm
    from transformers import set_seed

    # Every group gets the same list length so a batch is one (groups × list) block.
    usable = [g for g in groups if len(g.negatives) >= negatives]
    if not usable:
        raise ValueError(f"None of the {len(groups)} training groups has {negatives} negatives: "
                         "the corpus is too small to train a reranker on.")
    set_seed(seed)
    started = time.perf_counter()
    model = cross_encoder(base, layers, max_length, device)
    rng = random.Random(seed)
    batches = [usable[i:i + batch_groups] for i in range(0, len(usable), batch_groups)]
    adamw, schedule = optimizer(model, len(batches) * epochs, head_lr, body_lr)
    losses: list[float] = []
    per_epoch: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        rng.shuffle(batches)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for batch in bar:
            losses.append(step(model, adamw, schedule, _batch_loss(model, batch, negatives, loss)))
            bar.set_postfix(loss=f"{sum(losses[-25:]) / len(losses[-25:]):.3f}")
        model.eval()
        row = {"epoch": epoch + 1, "loss": round(sum(losses[-len(batches):]) / len(batches), 4)}
        if cases:
            row["mrr@10"] = round(mrr_at_10(model, cases), 4)
        per_epoch.append(row)
    if output.exists():
        shutil.rmtree(output)
    # fp16 on disk halves the size (≈45 MB, small enough to commit); it loads back as fp32.
    model.half()
    model.save(str(output))
    written = {
        **(manifest or {}),
        "groups": len(usable), "list": negatives + 1, "loss": loss, "epochs": epochs, "seed": seed,
        "batch_groups": batch_groups, "head_lr": head_lr, "body_lr": body_lr, "layers": layers,
        "max_length": max_length, "device": device, "per_epoch": per_epoch,
        "final_loss": per_epoch[-1]["loss"], "seconds": round(time.perf_counter() - started, 1),
    }
    (output / "training.json").write_text(json.dumps(written, indent=2) + "\n")
    return written


def _batch_loss(model: Any, batch: Sequence[Group], negatives: int, loss: Loss) -> Any:
    """The loss of one batch: each group's positive scored against its first `negatives`
    negatives, as one (groups × list) block."""
    import torch
    from sentence_transformers.util import batch_to_device

    pairs = [(g.query, p) for g in batch for p in (g.positive, *g.negatives[:negatives])]
    features = batch_to_device(model.preprocess(pairs), model.device)
    # bf16 on a GPU: fp32 there ran at a fraction of the chip's speed (docs/reranker.md).
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=model.device.type == "cuda"):
        logits = model(features)["scores"].view(len(batch), negatives + 1).float()
    if loss == "listwise":
        target = torch.zeros(len(batch), dtype=torch.long, device=model.device)
        return torch.nn.functional.cross_entropy(logits, target)
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


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
    parser.add_argument("--loss", choices=["listwise", "pointwise"], default="listwise")
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
