"""A real HTTP receiver on 127.0.0.1 for the delivery tests, with injected faults.

``Receiver(plan)`` serves in a background thread. ``plan(number, request)``
decides what each request gets (``number`` counts from 0):

- ``OK``: 200, the batch accepted (a batch whose Idempotency-Key was accepted
  before is not accepted twice, as a real receiver would do);
- ``status(code, **headers)``: that status, nothing accepted;
- ``RESET``: the connection reset, nothing accepted;
- ``LOST``: the body accepted, then the connection reset (the answer is lost);
- ``HANG``: no answer at all, until the receiver stops.

Everything that arrives is kept: ``requests`` (every one, in order) and
``accepted`` (Idempotency-Key -> the decoded body).
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    reply: bytes | None = None  # the body of the answer, when not the usual one


OK = Answer("ok")
RESET = Answer("reset")
LOST = Answer("lost")
HANG = Answer("hang")


def status(code: int, **headers: str) -> Answer:
    return Answer("status", code, {k.replace("_", "-"): v for k, v in headers.items()})


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    raw: bytes  # the body as sent (maybe gzipped)
    body: bytes  # the body, gunzipped
    answer: Answer

    def json(self) -> Any:
        return json.loads(self.body)


Plan = Callable[[int, "Request"], Answer]


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it receives."""

    def __init__(self, plan: Plan | None = None, *, tls: Any = None) -> None:
        """``tls``: a ``trustme.CA`` to serve HTTPS with a certificate it issued."""
        self.plan: Plan = plan or (lambda number, request: OK)
        self.requests: list[Request] = []
        self.accepted: dict[str, Any] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real backend
            disable_nagle_algorithm = True  # answer at once, not after a delayed ACK

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets and hangs end in errors: expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.issue_cert("127.0.0.1").configure_cert(context)
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True
            )
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what the tests read ---------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Every event of every accepted JSON batch, in the order accepted."""
        with self._changed:
            return [e for body in self.accepted.values() for e in body["events"]]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Wait (generously) until ``condition()`` holds; return whether it did."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True

    def posted(self) -> list[Request]:
        with self._changed:
            return list(self.requests)

    # -- serving -------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        raw = handler.rfile.read(int(headers.get("content-length", "0")))
        body = (
            gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        )
        with self._changed:
            number = len(self.requests)
        request = Request(handler.path, headers, raw, body, OK)
        answer = request.answer = self.plan(number, request)
        if answer.kind == "reset":
            self._record(request)
            _reset(handler)
            return
        if answer.kind in ("ok", "lost"):
            key = headers.get("idempotency-key", f"no-key-{number}")
            with self._changed:
                if key not in self.accepted:
                    self.accepted[key] = _decoded(request)
        self._record(request)
        if answer.kind == "lost":
            _reset(handler)
        elif answer.kind == "hang":
            self._stopping.wait(60)
            _reset(handler)
        else:
            reply = answer.reply
            if reply is None:
                reply = (
                    b'{"ok":true}' if answer.kind == "ok" else b'{"error":"injected"}'
                )
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(reply)))
            handler.end_headers()
            handler.wfile.write(reply)

    def _record(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()


def _decoded(request: Request) -> Any:
    if request.headers.get("content-type") == "application/json":
        return request.json()
    return request.body


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP reset, answering nothing."""
    connection: socket.socket = handler.connection
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
    handler.close_connection = True


def metric_ids(events: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[str]:
    return [event["metricId"] for event in events]


class FakeTime:
    """A clock and a sleep for the sender's retries: sleeping only moves the
    clock, so tests never wait for a backoff."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Collector:
    """A local sink that keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def ids(self) -> list[str]:
        return metric_ids(self.events)


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
