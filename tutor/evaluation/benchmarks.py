"""Helpers shared by `scripts/bench_*.py`: timing statistics, peak memory, the machine a
number came from, a freshly ingested corpus. Results are written by `tutor.evaluation.published`."""

from __future__ import annotations

import platform
import re
import resource
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1] if len(ordered) > 1 else ordered[0]


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), in MB."""
    status = Path("/proc/self/status")
    if not children and status.exists():
        # Linux keeps ru_maxrss across fork and exec, so a process started from a large one
        # reports its parent's peak; VmHWM is this process's own.
        hwm = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if hwm:
            return int(hwm.group(1)) / 1024
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def machine() -> str:
    """The CPU model and whether it computes bfloat16 natively (the embedder runs about twice
    as fast where it does, see tutor/retrieval/models.py), cores, Python: numbers from different
    machines differ by 2x and more, so each table says which it came from."""
    import os

    from tutor.retrieval.models import native_bf16

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


def ingest_corpus(prefix: str) -> Path:
    """A fresh temporary data folder with `corpus/` ingested by the real `tutor ingest`, in
    a subprocess so the benchmark's own process keeps no lock on the index folder."""
    import subprocess
    import sys
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run([sys.executable, "-m", "tutor.cli.main", "--data-dir", str(work), "ingest"],
                   check=True, capture_output=True, text=True)
    return work
