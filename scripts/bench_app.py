"""App benchmark (not a test): simulated users against the real browser app, all at once.

    .venv/bin/python scripts/bench_app.py [--users 20] [--duration 120] [--data-dir DIR]
                                          [--stand-in-llm]

Starts `tutor serve` on 127.0.0.1 (a free port) and lets each user, with a gradio_client
session of its own, alternate tutor questions (/new_chat, /ask) and interview rounds
(/interview_start, _answer, sometimes _hint, _skip of a follow-up, _report) until the
duration is up; a call under way then still finishes (within --grace seconds). Reports
p50 / p95 latency per endpoint, errors (an exception, or a ⚠ line in the reply) and the
server's peak RSS (the embedded LLM runs inside it). The server uses the LLM and grading the
environment configures (TUTOR_LLM_BASE_URL, TUTOR_GRADE_METHOD, ...; by default the embedded
model); --stand-in-llm replaces the model with fixed replies, to measure the app without it.
Without --data-dir the corpus is ingested into a temporary folder first. Writes the "app"
section of bench/results.md and of the README.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradio_client import Client

import tutor  # noqa: F401
from tutor.config import REPO_DIR, Settings
from tutor.evaluation.benchmarks import machine, percentile, stamp
from tutor.evaluation.published import publish
from tutor.interview.grading import resolve_method
from tutor.interview.knowledge import Question, load_questions
from tutor.llm import get_llm

# The e2e tests' launcher and stand-in model: the same subprocess, on loopback only.
sys.path[:0] = [str(REPO_DIR / "tests" / "e2e"), str(REPO_DIR / "tests")]
from apprunner import launch, scripted_model, stop  # noqa: E402
from servers import Scripted  # noqa: E402

ASK_SHARE = 0.5  # of a user's turns; the rest are interview rounds
HINT_SHARE = 0.5  # of interview rounds


@dataclass
class Stats:
    """Latencies and errors per endpoint, recorded by every user thread."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    running: int = 0  # calls under way
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, client: Client, api: str, *args: Any) -> tuple[Any, ...] | None:
        """One timed API call; None when it failed (counted, and the user goes on)."""
        with self.lock:
            self.running += 1
        started = time.perf_counter()
        try:
            out = client.predict(*args, api_name=f"/{api}")
            failed = _shows_error(api, out)
        except Exception:  # any failure is a number here, never the end of the run
            out, failed = None, True
        with self.lock:
            self.running -= 1
            self.seconds[api].append(time.perf_counter() - started)
            self.errors[api] += failed
        return None if failed else out


def _shows_error(api: str, out: Any) -> bool:
    """The app reports failures as one ⚠ line: the last chat message, or the status box."""
    if api == "ask":
        content = out[0][-1]["content"]
        text = content if isinstance(content, str) else " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict))
        return text.startswith("⚠")
    if api.startswith("interview_"):
        return str(out[2]).startswith("⚠")
    return False


def simulate(url: str, stats: Stats, bank: list[Question], seed: int,
             more: Callable[[], bool]) -> None:
    """One user: tutor questions and interview rounds until `more()` says stop."""
    rng = random.Random(seed)
    client = Client(url, verbose=False)
    topics = sorted({q.topic for q in bank})
    while more():
        if rng.random() < ASK_SHARE:
            stats.call(client, "new_chat")
            if more():
                stats.call(client, "ask", rng.choice(bank).question, [])
            continue
        shown = stats.call(client, "interview_start", [rng.choice(topics)], "mixed", 2)
        asked = next((q for q in bank if shown and html.escape(q.question) in shown[0]), None)
        if asked is None or not more():
            continue
        # A full answer or its first sentence: a strong or a partial learner.
        answer = asked.answer if rng.random() < 0.5 else asked.answer.split(". ")[0] + "."
        shown = stats.call(client, "interview_answer", answer)
        if shown and more() and rng.random() < HINT_SHARE and "Follow-up: " in shown[0]:
            stats.call(client, "interview_hint")
        if shown and more() and "Follow-up: " in shown[0]:
            stats.call(client, "interview_skip")
        if more():
            stats.call(client, "interview_report")


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def table(stats: Stats) -> list[str]:
    rows = ["| endpoint | calls | errors | p50 s | p95 s | max s |", "|---|---:|---:|---:|---:|---:|"]
    everything = [s for seconds in stats.seconds.values() for s in seconds]
    named = sorted(stats.seconds.items()) + [("all", everything)]
    for api, seconds in named:
        errors = sum(stats.errors.values()) if api == "all" else stats.errors[api]
        label = api if api == "all" else f"`/{api}`"
        rows.append(f"| {label} | {len(seconds)} | {errors} | {percentile(seconds, 50):.2f} | "
                    f"{percentile(seconds, 95):.2f} | {max(seconds, default=float('nan')):.2f} |")
    return rows


def load(url: str, bank: list[Question], users: int, duration: float, grace: float) -> Stats:
    """`users` simulated learners against the app at `url` for `duration` seconds."""
    # Not timed: the first answer also starts the model and loads the embedder.
    Client(url, verbose=False).predict(bank[0].question, [], api_name="/ask")
    stats = Stats()
    deadline = time.monotonic() + duration
    threads = [threading.Thread(target=simulate, args=(url, stats, bank, seed,
                                                       lambda: time.monotonic() < deadline), daemon=True)
               for seed in range(users)]
    for user in threads:
        user.start()
    for user in threads:
        user.join(timeout=max(0.0, deadline + grace - time.monotonic()))
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20, help="simulated users at once (default 20)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (default 120)")
    parser.add_argument("--grace", type=float, default=300,
                        help="seconds the calls under way at the end may still take (default 300)")
    parser.add_argument("--data-dir", type=Path, default=None, help="an ingested data folder")
    parser.add_argument("--stand-in-llm", action="store_true",
                        help="fixed replies instead of the model: the app's own cost only")
    parser.add_argument("--parallel", type=int, nargs="+", default=None,
                        help="TUTOR_LLM_PARALLEL values to measure one after another "
                             "(default: the configured one)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tutor-bench-app-"))
    data = args.data_dir or work / "data"
    env = dict(os.environ)
    stand_in = Scripted(scripted_model) if args.stand_in_llm else None
    if stand_in is not None:
        env.update(TUTOR_LLM_BASE_URL=stand_in.url, TUTOR_LLM_MODEL="stand-in")
    if args.data_dir is None:
        print("Ingesting corpus/ into a temporary folder…", flush=True)
        subprocess.run([sys.executable, "-m", "tutor.cli.main", "--data-dir", str(data), "ingest"],
                       check=True, capture_output=True, text=True, env=env)
    settings = Settings(data_dir=data, llm_base_url=env.get("TUTOR_LLM_BASE_URL"))
    llm = "stand-in (fixed replies)" if stand_in else get_llm(settings).name
    in_process = stand_in is None and not settings.llm_base_url  # the embedded model
    method = resolve_method(settings)
    bank = load_questions(settings.corpus_dir)
    started_load = os.getloadavg()[0]

    parts = []
    for parallel in args.parallel or [settings.llm_parallel]:
        app = launch(data, {**env, "TUTOR_LLM_PARALLEL": str(parallel)}, work / f"app-{parallel}.log")
        print(f"App at {app.url} (TUTOR_LLM_PARALLEL={parallel}); one warm-up question, then "
              f"{args.users} users for {args.duration:g} s…", flush=True)
        stats = load(app.url, bank, args.users, args.duration, args.grace)
        with stats.lock:  # calls still under way end with the server, uncounted
            rows, unfinished = table(stats), stats.running
        rss = peak_rss_mb(app.process.pid)
        stop(app)
        parts += [
            f"**TUTOR_LLM_PARALLEL={parallel}**: answering calls (`/ask`, `/interview_answer`, "
            f"`/interview_hint`) run {parallel} at a time, the others wait in the app's queue; "
            "seconds per call, queueing included.", "",
            *rows, "",
            f"Calls still under way {args.grace:g} s after the end: {unfinished}. "
            f"Peak RSS of the server process{' (embedded LLM included)' if in_process else ''}: "
            f"{rss:.0f} MB.", "",
        ]
    if stand_in is not None:
        stand_in.close()

    command = f"--users {args.users} --duration {args.duration:g}" + (
        f" --parallel {' '.join(map(str, args.parallel))}" if args.parallel else "") + (
        " --stand-in-llm" if stand_in else "")
    lines = [
        f"Measured {stamp()} on {machine()}; load average at start {started_load:.1f}. "
        f"{args.users} simulated users for {args.duration:g} s against `tutor serve` on loopback "
        f"(`scripts/bench_app.py {command}`); LLM: {llm}; "
        f"grading: {method}; after one warm-up question.", "",
        *parts[:-1],
    ]
    publish("app", "App under load", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
