"""Real local HTTP servers for tests: a scripted OpenAI-compatible endpoint on 127.0.0.1.

It speaks the real protocol (JSON completions and server-sent-event streams), so the
`openai` client and everything above it run unchanged; it only stands in where a test needs
an exact model reply (a citation to a passage that does not exist, say).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tutor.prompts import load_prompt

MODEL = "served-model"
Reply = tuple[int, str, bytes]
# The system message of the answer check's yes / no requests (tutor.answering.support.llm_agrees), so a
# scripted model can tell them from the answer's own requests.
AGREES = load_prompt("agrees").split("### Example")[0].strip()


def completion_body(text: str, model: str = MODEL) -> dict[str, Any]:
    return {
        "id": "x", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
    }


def json_reply(status: int, body: dict[str, Any]) -> Reply:
    return status, "application/json", json.dumps(body).encode()


def text_reply(text: str) -> Reply:
    return json_reply(200, completion_body(text))


def stream_reply(deltas: list[str], model: str = MODEL) -> Reply:
    """A chat completion streamed as server-sent events, one event per delta."""
    events = []
    for delta in deltas:
        chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                 "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
        events.append(f"data: {json.dumps(chunk)}\n\n")
    done = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    events += [f"data: {json.dumps(done)}\n\n", "data: [DONE]\n\n"]
    return 200, "text/event-stream", "".join(events).encode()


@dataclass(frozen=True)
class Paced:
    """A streamed reply sent one delta every `interval_s` seconds, as a slow model would, so a
    test can act mid-answer; the server records when the client hung up (Scripted.hung_up_at)."""

    deltas: list[str]
    interval_s: float


class Scripted:
    """A real HTTP server on 127.0.0.1 answering each POST with the next scripted reply
    (the last one repeats), or with what `replies(request body)` returns when it is a
    function; it records the request bodies it received. The answer check's yes / no
    requests are answered apart, by `check(request body)` ("yes" unless told otherwise), and
    recorded in `checks`, not `requests`: the script is what the model says to everything else."""

    def __init__(self, replies: list[Reply | Paced] | Callable[[dict[str, Any]], Reply | Paced],
                 check: Callable[[dict[str, Any]], str] = lambda _: "yes") -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.hung_up_at: float | None = None  # time.monotonic() when a paced reply's client left
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                messages = body.get("messages") or [{}]
                if messages[0].get("content") == AGREES:
                    script.checks.append(body)
                    self._send(*text_reply(check(body)))
                    return
                script.requests.append(body)
                replies = script.replies
                reply = (replies(script.requests[-1]) if callable(replies)
                         else replies[min(len(script.requests) - 1, len(replies) - 1)])
                if isinstance(reply, Paced):
                    self._send_paced(reply)
                else:
                    self._send(*reply)

            def _send_paced(self, reply: Paced) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()  # no length: the body ends when the connection closes
                _, _, events = stream_reply(reply.deltas)
                try:
                    for event in events.decode().split("\n\n")[:-1]:
                        self.wfile.write(f"{event}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(reply.interval_s)
                except (BrokenPipeError, ConnectionResetError):
                    script.hung_up_at = time.monotonic()

            def do_GET(self) -> None:  # /v1/models
                models = {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
                self._send(200, "application/json", json.dumps(models).encode())

            def _send(self, status: int, ctype: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def posts(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
