"""Helpers shared by `scripts/bench_*.py`: timing statistics, peak memory, and writing a
named section of `bench/results.md` and of the README (between HTML comment markers), so
quoted numbers are always the last measured ones."""

from __future__ import annotations

import platform
import re
import resource
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tutor.config import REPO_DIR

RESULTS = REPO_DIR / "bench" / "results.md"
README = REPO_DIR / "README.md"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1] if len(ordered) > 1 else ordered[0]


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def machine() -> str:
    """The CPU model and whether it computes bfloat16 natively (the embedder runs about twice
    as fast where it does, see tutor/models.py), cores, Python: numbers from different
    machines differ by 2x and more, so each table says which it came from."""
    import os

    from tutor.models import native_bf16

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():  # Linux: the first processor's block names the model
        first = info.read_text().split("\n\n", 1)[0]
        pairs = (line.split(":", 1) for line in first.splitlines() if ":" in line)
        cpu = {key.strip(): value.strip() for key, value in pairs}.get("model name") or cpu
    bf16 = "native bf16" if native_bf16() else "no native bf16"
    return f"{cpu} ({bf16}), {os.cpu_count()} cores, Python {platform.python_version()}"


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def replace_section(path: Path, name: str, body: str, kind: str = "bench") -> None:
    """Put `body` between `<!-- KIND:NAME -->` markers, appending the section if absent."""
    start, end = f"<!-- {kind}:{name} -->", f"<!-- /{kind}:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def publish(name: str, title: str, lines: Sequence[str], *, readme: bool = True) -> None:
    """Write a benchmark's result to its section of bench/results.md (under `title`) and,
    with `readme`, of the README; print it too."""
    body = "\n".join(lines)
    replace_section(RESULTS, name, f"## {title}\n\n{body}")
    if readme:
        replace_section(README, name, body)
    print(body)


def ingest_corpus(prefix: str) -> Path:
    """A fresh temporary data folder with `corpus/` ingested by the real `tutor ingest`, in
    a subprocess so the benchmark's own process keeps no lock on the index folder."""
    import subprocess
    import sys
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run([sys.executable, "-m", "tutor.cli", "--data-dir", str(work), "ingest"],
                   check=True, capture_output=True, text=True)
    return work
