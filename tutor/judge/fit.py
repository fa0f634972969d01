"""The judge's training loop: a three-way (entails / contradicts / neither) cross-encoder.

Same encoder as the reranker (the bundled MiniLM read through the mean of its token states,
`reranker_fit.cross_encoder`) with a three-logit head, trained with cross-entropy on the
pairs `tutor/judge/data.py` builds. `tutor train-judge` runs it in-process.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tutor.judge.pairs import LABELS, Pair
from tutor.reranker.fit import cross_encoder, optimizer, step

HEAD_LR, BODY_LR = 1e-3, 5e-5
# Label smoothing keeps the probabilities from saturating on rule-made pairs, so the
# thresholds chosen on labelled learner answers have room to sit between classes.
SMOOTHING = 0.05


def accuracy(model: Any, pairs: Sequence[Pair], batch_size: int = 64) -> dict[str, float]:
    """Accuracy over `pairs`, and recall per label, of the model's most likely label."""
    import numpy as np

    if not pairs:
        return {}
    logits = np.asarray(model.predict([(p.premise, p.hypothesis) for p in pairs],
                                      batch_size=batch_size, show_progress_bar=False))
    predicted = logits.argmax(axis=1)
    gold = np.array([p.label for p in pairs])
    out = {"accuracy": round(float((predicted == gold).mean()), 4), "n": len(pairs)}
    for k, name in enumerate(LABELS):
        mask = gold == k
        if mask.any():
            out[f"recall_{name}"] = round(float((predicted[mask] == k).mean()), 4)
    return out


def fit(pairs: Sequence[Pair], base: str, output: Path, *, epochs: int = 1, seed: int = 13,
        max_length: int = 128, batch_size: int = 16, device: str = "cpu",
        held_out: Mapping[str, Sequence[Pair]] | None = None, manifest: dict[str, Any] | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Fine-tune `base` on `pairs` and write the judge to `output` (fp16, with training.json);
    each named `held_out` set is measured after every epoch."""
    import torch
    from sentence_transformers.util import batch_to_device
    from tqdm import tqdm
    from transformers import set_seed

    if not pairs:
        raise ValueError("No training pairs: the corpus has no prose sentences to learn from.")
    set_seed(seed)
    started = time.perf_counter()
    model = cross_encoder(base, 6, max_length, device, outputs=len(LABELS))
    rng = random.Random(seed)
    order = list(pairs)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    adamw, schedule = optimizer(model, len(batches) * epochs, HEAD_LR, BODY_LR)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=SMOOTHING)
    per_epoch: list[dict[str, Any]] = []
    losses: list[float] = []
    for epoch in range(epochs):
        model.train()
        rng.shuffle(batches)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for batch in bar:
            features = batch_to_device(model.preprocess([(p.premise, p.hypothesis) for p in batch]),
                                       model.device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=model.device.type == "cuda"):
                logits = model(features)["scores"].float()
            target = torch.tensor([p.label for p in batch], device=model.device)
            losses.append(step(model, adamw, schedule, loss_fn(logits, target)))
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
        model.eval()
        row: dict[str, Any] = {"epoch": epoch + 1,
                               "loss": round(sum(losses[-len(batches):]) / len(batches), 4)}
        for name, kept_out in (held_out or {}).items():
            row[f"held_out_{name}"] = accuracy(model, kept_out)
        per_epoch.append(row)
    if output.exists():
        shutil.rmtree(output)
    model.half()  # ≈45 MB on disk, small enough to commit; loads back as fp32
    model.save(str(output))
    written = {
        **(manifest or {}),
        "labels": list(LABELS), "pairs": len(pairs), "epochs": epochs, "seed": seed,
        "batch_size": batch_size, "head_lr": HEAD_LR, "body_lr": BODY_LR,
        "label_smoothing": SMOOTHING, "max_length": max_length, "device": device,
        "per_epoch": per_epoch, "seconds": round(time.perf_counter() - started, 1),
    }
    (output / "training.json").write_text(json.dumps(written, indent=2) + "\n")
    return written
