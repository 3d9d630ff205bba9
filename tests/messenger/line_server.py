"""A fake LINE Messaging API on 127.0.0.1, over real HTTP (stdlib http.server in a thread).

It answers push and multicast like LINE does and can be told to answer the next
requests with 429 / 500 / 409 / 400 instead, with LINE's error body where it matters
(a 400 naming the `to` property is an unknown user id; any other 400 is the content).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeLine:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[int | tuple[int, dict[str, Any]]] = field(default_factory=list)
    accepted_keys: set[str] = field(default_factory=set)

    def answer_next(self, *answers: int | tuple[int, dict[str, Any]]) -> None:
        """Statuses (or status and error body) for the next requests, in order."""
        self.script.extend(answers)


INVALID_TO: tuple[int, dict[str, Any]] = (
    400,
    {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"},
)
"""What LINE answers for a push to a user id it does not know."""
BAD_CONTENT: tuple[int, dict[str, Any]] = (
    400,
    {
        "message": "The request body has 1 error(s)",
        "details": [
            {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
        ],
    },
)
"""What LINE answers for a message it cannot accept (the person is not the problem)."""


@contextmanager
def fake_line_server() -> Iterator[FakeLine]:
    state = FakeLine()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            key = self.headers.get("X-Line-Retry-Key", "")
            with lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body))
                answer = state.script.pop(0) if state.script else 200
                status, error = answer if isinstance(answer, tuple) else (answer, None)
                if status == 200 and key and key in state.accepted_keys:
                    status = 409  # LINE: a request with this retry key was already accepted
                if status == 200 and key:
                    state.accepted_keys.add(key)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-line-request-id", f"req-{len(state.received)}")
            if status == 409:
                self.send_header("x-line-accepted-request-id", "req-accepted")
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            payload: dict[str, Any]
            if status == 200 and self.path.endswith("/push"):
                payload = {"sentMessages": [{"id": f"line-{len(state.received)}"}]}
            elif status == 200:
                payload = {}
            else:
                payload = error or {"message": f"status {status}"}
            self.wfile.write(json.dumps(payload).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
