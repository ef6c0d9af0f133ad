"""A small local receiver for metricdsl's JSON protocol, with injected failures.

    python examples/receiver.py [--port 0] [--faults 503,reset] [--fail-rate 0.3]
                                [--quiet]

Listens on 127.0.0.1 only, prints ``listening on URL`` first, then one line per
batch. ``--faults`` answers the first requests with the given failures, in
order (a status code, or ``reset`` to drop the connection); ``--fail-rate``
fails that share of the requests at random (503). A batch whose
Idempotency-Key was accepted before is acknowledged but not counted again, as
a real receiver would do. ``GET /stats`` answers the counts as JSON.
This is an example for the demo and the benchmark, not part of metricdsl.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.batches = 0
        self.events = 0
        self.failed = 0
        self.duplicates = 0
        self.keys: set[str] = set()


def make_handler(
    counts: Counts, faults: list[str], fail_rate: float, quiet: bool
) -> type[BaseHTTPRequestHandler]:
    chance = random.Random(42)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # answer at once, not after a delayed ACK

        def do_GET(self) -> None:
            with counts.lock:
                figures = {
                    "requests": counts.requests,
                    "batches": counts.batches,
                    "events": counts.events,
                    "failed": counts.failed,
                    "duplicates": counts.duplicates,
                }
            self._answer(200, json.dumps(figures).encode())

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with counts.lock:
                number = counts.requests
                counts.requests += 1
            fault = faults[number] if number < len(faults) else ""
            if not fault and fail_rate and chance.random() < fail_rate:
                fault = "503"
            if fault:
                with counts.lock:
                    counts.failed += 1
                self._say(f"request {number + 1}: injected failure: {fault}")
                if fault == "reset":
                    self._reset()
                else:
                    self._answer(int(fault), b'{"error":"injected"}')
                return
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            body = json.loads(raw)
            events = body.get("events", [])
            key = self.headers.get("Idempotency-Key", "")
            with counts.lock:
                duplicate = bool(key) and key in counts.keys
                counts.keys.add(key)
                if duplicate:
                    counts.duplicates += 1
                else:
                    counts.batches += 1
                    counts.events += len(events)
            if duplicate:
                self._say(f"request {number + 1}: batch {key[:8]} again, ignored")
            else:
                names = ", ".join(_describe(e) for e in events[:4])
                more = f", ... ({len(events)} events)" if len(events) > 4 else ""
                self._say(
                    f"request {number + 1}: batch {key[:8]} accepted: {names}{more}"
                )
            self._answer(200, b'{"ok":true}')

        def _answer(self, code: int, reply: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def _reset(self) -> None:
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()
            self.close_connection = True

        def _say(self, line: str) -> None:
            if not quiet:
                print(f"[receiver] {line}", flush=True)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _describe(event: dict[str, Any]) -> str:
    result = event.get("result")
    return f"{event.get('metricName')}" + (f" {result}" if result else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", default="", help="e.g. 503,reset,429")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    counts = Counts()
    handler = make_handler(counts, faults, args.fail_rate, args.quiet)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server(("127.0.0.1", args.port), handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
