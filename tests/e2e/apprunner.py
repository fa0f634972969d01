"""Helpers for the e2e tests: the real app in a subprocess on 127.0.0.1, a scripted OpenAI-compatible LLM server
(deterministic replies over the real protocol), and headless Debian Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import Paced, Reply, Scripted, stream_reply, text_reply

REPO = Path(__file__).resolve().parents[2]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTES = ("transformer-architecture.md", "inference-optimization.md", "rag.md")
# A sentence the notes state (cited) and a paraphrase too loose for the judge (shown flagged).
ANSWER = ["Dot products are divided by sqrt(d_k) ", "to keep their spread independent of the head size [1]. ",
          "Large dot products would otherwise push softmax into regions with tiny gradients [1]."]
DEAD_LLM = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
# A question the scripted model answers slowly (the Stop button test).
SLOW = "Walk me through the KV cache step by step"
FOLLOW_UP = "Which step of the pipeline did your answer leave out?"
# Verdicts the scripted grader gives, point by point (the rest are missed): one of each kind a
# first answer can earn, so the verdicts table shows them all.
VERDICTS = (("covered", 1), ("partial", 2), ("missed", 0))


def scripted_model(request: dict[str, Any]) -> Reply | Paced:
    """The reply a served model would give, by kind of request: a streamed cited answer (the
    Tutor tab), schema-constrained verdicts (grading), or one line (follow-ups and hints);
    `Scripted` says "yes" to the answer check."""
    if request.get("stream"):
        if SLOW in request["messages"][-1]["content"]:
            return Paced(ANSWER * 40, interval_s=0.1)  # ~12 s of answer, for Stop to cut short
        return stream_reply(ANSWER)
    response_format = request.get("response_format")
    if isinstance(response_format, dict):
        n = response_format["json_schema"]["schema"]["properties"]["points"]["minItems"]
        points = [{"verdict": v, "sentence": s} for v, s in VERDICTS][:n]
        points += [{"verdict": "missed", "sentence": 0}] * (n - len(points))
        return text_reply(json.dumps({"points": points}))
    return text_reply(FOLLOW_UP)


@dataclass
class RunningApp:
    url: str
    data_dir: Path
    llm: Scripted | None
    process: subprocess.Popen[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(llm_url: str) -> dict[str, str]:
    return {**os.environ, "TUTOR_LLM_BASE_URL": llm_url, "TUTOR_LLM_MODEL": "served-model",
            "TUTOR_LLM_TIMEOUT_S": "10", "TUTOR_LLM_MAX_RETRIES": "0", "TUTOR_CORPUS_DIR": str(REPO / "corpus")}


def ingest_notes(tmp: Path) -> Path:
    """A data folder with NOTES ingested (a small corpus keeps the apps' start-up quick)."""
    data = tmp / "data"
    notes = tmp / "notes"
    notes.mkdir(exist_ok=True)
    for name in NOTES:
        shutil.copy(REPO / "corpus" / name, notes / name)
    subprocess.run([sys.executable, "-m", "tutor.cli.main", "--data-dir", str(data), "ingest", str(notes)],
                   check=True, env=app_env(DEAD_LLM), capture_output=True, timeout=600)
    return data


def start_app(tmp: Path, ingested: Path, llm_url: str) -> RunningApp:
    """The app over a copy of `ingested` (each app process holds its own index folder)."""
    data = shutil.copytree(ingested, tmp / "data")
    return launch(data, app_env(llm_url), tmp / "app.log")


def launch(data: Path, env: dict[str, str], log_path: Path) -> RunningApp:
    """`tutor serve` over an ingested data folder, on a free loopback port; returns once the
    app accepts connections (also used by scripts/bench_app.py)."""
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "tutor.cli.main", "--data-dir", str(data), "serve",
                                "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        raise RuntimeError("the app did not start in 180 s")
    return RunningApp(url, data, None, process)


def stop(app: RunningApp) -> None:
    app.process.terminate()
    try:
        app.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        app.process.kill()
