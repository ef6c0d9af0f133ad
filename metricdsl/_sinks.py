"""Local sinks: ``log`` (stderr), ``jsonl:PATH`` and ``null``, plus JSON rendering.

``log`` writes each event at once, a coloured line on a terminal and a JSON
line otherwise. ``jsonl:PATH`` renders each event on the caller's thread (a fast
encoder: orjson when installed) and writes the lines in batches: when enough
are waiting, every half second from a background thread started on first use,
on ``flush()``, before ``fork()`` and at exit.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Final

from . import _selflog
from ._config import Event, Settings, Sink, State
from ._pipeline import count_dropped

__all__ = ["JsonlSink", "LogSink", "dumps", "flush_buffers", "from_spec", "owned"]

_encoder = json.JSONEncoder(
    default=str, separators=(",", ":"), ensure_ascii=False, allow_nan=True
)


def _json_dumps(event: Event) -> bytes:
    """One event as compact JSON (UTF-8); values JSON lacks become strings."""
    return _encoder.encode(event).encode("utf-8")


try:  # orjson is an optional extra: several times faster than the json module
    import orjson

    _ORJSON_OPTIONS: Final = (
        orjson.OPT_SERIALIZE_NUMPY if hasattr(orjson, "OPT_SERIALIZE_NUMPY") else 0
    )

    def dumps(event: Event) -> bytes:
        """One event as compact JSON (UTF-8); values JSON lacks become strings."""
        try:
            return orjson.dumps(event, default=str, option=_ORJSON_OPTIONS)
        except TypeError:  # ints past 64 bits, which orjson refuses
            return _json_dumps(event)

except ImportError:  # pragma: no cover - exercised where orjson is absent
    dumps = _json_dumps


_BATCH_LINES: Final = 256
_FLUSH_EVERY: Final = 0.5  # seconds


def owned(sink: Sink) -> bool:
    """Whether metricdsl built this sink (and so may close it)."""
    return bool(getattr(sink, "owned_by_metricdsl", False))


def from_spec(spec: str) -> Sink | None:
    """The sink a setting string names; ``None`` for ``null``."""
    if spec == "log":
        return LogSink()
    if spec == "null":
        return None
    return JsonlSink(spec[len("jsonl:") :])


class LogSink:
    """One line per event on standard error: coloured on a terminal, JSON otherwise."""

    owned_by_metricdsl = True

    def __init__(self) -> None:
        self._stream: Any = None
        self._console: Any = None

    def write(self, event: Event) -> None:
        stream = sys.stderr
        if stream is None:
            return
        if stream is not self._stream:
            self._stream = stream
            isatty = getattr(stream, "isatty", None)
            self._console = (
                _console_renderer() if isatty is not None and isatty() else None
            )
        if self._console is not None:
            line = self._console(
                None,
                _LEVELS.get(str(event.get("result")), "info"),
                _console_dict(event),
            )
        else:
            line = dumps(event).decode("utf-8")
        stream.write(line + "\n")

    def flush(self, timeout: float) -> bool:
        stream = sys.stderr
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                return False
        return True

    def __repr__(self) -> str:
        return "LogSink()"


_LEVELS: Final = {"Failed": "error", "Cancelled": "warning"}
_SHOWN_FIRST: Final = ("result", "duration", "reason", "reasonDesc")
_HIDDEN: Final = frozenset({"metricName", "epochTimestamp", "unit", "value", "passive"})


def _console_dict(event: Event) -> dict[str, Any]:
    stamp = event.get("epochTimestamp")
    shown: dict[str, Any] = {}
    if isinstance(stamp, int):
        seconds, millis = divmod(stamp, 1000)
        shown["timestamp"] = (
            time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"
        )
    shown["level"] = _LEVELS.get(str(event.get("result")), "info")
    shown["event"] = event.get("metricName", "?")
    for key in _SHOWN_FIRST:
        if key in event:
            value = event[key]
            shown[key] = (
                f"{value:.2f}ms"
                if key == "duration" and isinstance(value, float)
                else value
            )
    for key, value in event.items():
        if key not in shown and key not in _HIDDEN:
            shown[key] = value
    if event.get("value", 1) not in (1, 1.0):
        shown["value"] = event["value"]
    return shown


def _console_renderer() -> Any:
    import structlog

    return structlog.dev.ConsoleRenderer(colors=True, sort_keys=False, pad_event_to=24)


class JsonlSink:
    """Appends one JSON event per line to a file, written in batches."""

    owned_by_metricdsl = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._pending: deque[Event] = deque()
        self._fd: int | None = None
        self._write_lock = threading.Lock()
        self._writer: int | None = None  # the thread writing a batch now
        _BUFFERED.add(self)

    def write(self, event: Event) -> None:
        # The event is kept as it is (events do not change after dispatch)
        # and rendered with its batch: many rendered lines kept alive at once
        # are each a malloc past pymalloc's limit, and freeing them together
        # makes the C allocator return and re-fault its heap on every batch.
        pending = self._pending
        pending.append(event)
        if len(pending) >= _BATCH_LINES:
            self.write_out()
        elif _flusher.thread is None:
            _flusher.start()

    def write_out(self) -> bool:
        """Write the waiting lines to the file now; False if that failed, or
        if this thread is already writing a batch (a signal handler or a
        finaliser that runs in the middle of it): the next round writes them."""
        if self._writer == threading.get_ident():
            return False
        pending = self._pending
        with self._write_lock:
            self._writer = threading.get_ident()
            try:
                return self._write_batch(pending, len(pending))
            finally:
                self._writer = None

    def _write_batch(self, pending: deque[Event], count: int) -> bool:
        """Render and write the first ``count`` waiting events (only these:
        later appends wait for the next round)."""
        if not count:
            return True
        data = bytearray()
        for _ in range(count):
            event = pending.popleft()
            try:
                data += dumps(event)
            except Exception as exc:  # off mode lets anything in
                count -= 1
                _unrenderable(self, event, exc)
                continue
            data += b"\n"
        try:
            if self._fd is None:
                self._fd = self._open()
            _write_all(self._fd, data)
        except OSError as exc:
            count_dropped("sink_error", count)
            _selflog.warn_limited(
                "metricdsl.sink_failed",
                sink=repr(self),
                action="write",
                error=repr(exc),
            )
            return False
        return True

    def _open(self) -> int:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def flush(self, timeout: float) -> bool:
        return self.write_out()

    def close(self, timeout: float) -> None:
        self.write_out()
        with self._write_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def discard_pending(self) -> None:
        """Forget waiting lines (a forked child: its parent writes them)."""
        self._pending.clear()

    def __repr__(self) -> str:
        return f"JsonlSink({self.path!r})"


def _unrenderable(sink: Sink, event: Event, error: Exception) -> None:
    count_dropped("sink_error")
    _selflog.warn_limited(
        "metricdsl.event_unrenderable",
        sink=repr(sink),
        metric=str(event.get("metricName")),
        error=_selflog.safe_repr(error),
    )


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_BUFFERED: Final[weakref.WeakSet[JsonlSink]] = weakref.WeakSet()


def flush_buffers() -> None:
    """Write out every buffered sink (at exit and before fork)."""
    for sink in list(_BUFFERED):
        sink.write_out()


class _Flusher:
    """One daemon thread that writes out buffered sinks every half second."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self._lock = threading.RLock()  # a signal handler may emit during start()

    def start(self) -> None:
        with self._lock:
            if self.thread is None:
                thread = threading.Thread(
                    target=self._run, name="metricdsl-flush", daemon=True
                )
                thread.start()
                self.thread = thread

    def _run(self) -> None:
        while True:
            time.sleep(_FLUSH_EVERY)
            try:
                flush_buffers()
            except Exception as exc:  # pragma: no cover - must never die
                _selflog.warn_limited("metricdsl.flush_failed", error=repr(exc))

    def after_fork_in_child(self) -> None:
        self.thread = None
        self._lock = threading.RLock()
        for sink in list(_BUFFERED):
            sink.discard_pending()
            sink._write_lock = threading.Lock()
            sink._writer = None


_flusher: Final = _Flusher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=flush_buffers, after_in_child=_flusher.after_fork_in_child
    )


def network_sinks(settings: Settings, state: State) -> list[Sink]:
    """The network sender for ``settings.endpoint`` (batches, retries, outbox)."""
    from ._sender import Sender

    return [Sender(settings, state)]
