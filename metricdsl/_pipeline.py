"""The way every event goes, and the counters behind ``stats()``.

``dispatch(event)`` -> the processor chain -> the active captures of
``metricdsl.testing`` -> each sink. Also here: ``configure()`` (which rebuilds
the sinks when their settings change), ``flush()``, ``shutdown()`` and the
exit hook that flushes for a bounded time.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from . import _selflog
from ._config import (
    DELIVERY_SETTINGS,
    LOCK,
    STATE,
    Event,
    Processor,
    Settings,
    Sink,
    checked_changes,
    env_sink_specs,
)

__all__ = [
    "configure",
    "count_dropped",
    "count_invalid",
    "dispatch",
    "flush",
    "reset",
    "shutdown",
    "stats",
]


def configure(
    *,
    enabled: bool | None = None,
    validation: str | None = None,
    processors: Sequence[Processor] | None = None,
    sinks: Sequence[Sink | str] | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    outbox: str | os.PathLike[str] | None = None,
    outbox_max_bytes: int | None = None,
    max_queue: int | None = None,
    max_queue_bytes: int | None = None,
    batch_size: int | None = None,
    flush_interval: float | None = None,
    timeout: float | None = None,
    retry_deadline: float | None = None,
    cancellation: Iterable[type[BaseException]] | None = None,
) -> None:
    """Change the settings given; a setting passed as ``None`` is left as it is.

    ``endpoint=""`` and ``outbox=""`` turn those off. A value metricdsl cannot
    use raises ``ConfigurationError`` (a ``ValueError``) and changes nothing.
    """
    changes = checked_changes(
        {
            "enabled": enabled,
            "validation": validation,
            "processors": processors,
            "sinks": sinks,
            "endpoint": endpoint,
            "protocol": protocol,
            "headers": headers,
            "outbox": outbox,
            "outbox_max_bytes": outbox_max_bytes,
            "max_queue": max_queue,
            "max_queue_bytes": max_queue_bytes,
            "batch_size": batch_size,
            "flush_interval": flush_interval,
            "timeout": timeout,
            "retry_deadline": retry_deadline,
            "cancellation": cancellation,
        }
    )
    if not changes:
        return
    with LOCK:
        STATE.settings = replace(STATE.settings, **changes)
        STATE.resolve()
        if "sinks" in changes or DELIVERY_SETTINGS.intersection(changes):
            old, STATE.sinks = STATE.sinks, None
    if "sinks" in changes or DELIVERY_SETTINGS.intersection(changes):
        _close_all(old or (), timeout=2.0)
        if STATE.enabled and STATE.settings.endpoint and STATE.settings.outbox:
            current_sinks()  # the sender starts replaying what the outbox holds


# -- sinks -----------------------------------------------------------------------


def current_sinks() -> tuple[Sink, ...]:
    """The sinks of the current settings, built on first use."""
    sinks = STATE.sinks
    if sinks is None:
        with LOCK:
            sinks = STATE.sinks
            if sinks is None:
                sinks = STATE.sinks = _build_sinks(STATE.settings)
    return sinks


def _build_sinks(settings: Settings) -> tuple[Sink, ...]:
    from . import _sinks

    specs = settings.sinks if settings.sinks is not None else env_sink_specs()
    built: list[Sink] = []
    for spec in specs:
        sink = _sinks.from_spec(spec) if isinstance(spec, str) else spec
        if sink is not None:
            built.append(sink)
    if settings.endpoint:
        built.extend(_sinks.network_sinks(settings, STATE))
    return tuple(built)


def _close_all(sinks: Iterable[Sink], timeout: float) -> bool:
    """Flush every sink, and close those metricdsl built, within ``timeout``."""
    from ._sinks import owned

    deadline = time.monotonic() + timeout
    ok = True
    for sink in sinks:
        ok = _call(sink, "flush", deadline) and ok
        if owned(sink):
            _call(sink, "close", deadline)
    return ok


def _call(sink: Sink, method: str, deadline: float) -> bool:
    action = getattr(sink, method, None)
    if action is None:
        return True
    try:
        return action(max(0.0, deadline - time.monotonic())) is not False
    except Exception as exc:
        _sink_failed(sink, method, exc)
        return False


def _sink_failed(sink: Sink, action: str, exc: Exception) -> None:
    _selflog.warn_limited(
        "metricdsl.sink_failed",
        sink=_selflog.safe_repr(sink),
        action=action,
        error=_selflog.safe_repr(exc),
    )


# -- counters -------------------------------------------------------------------


class _Counter:
    """A count the hot path bumps without a lock: ``next()`` on an
    ``itertools.count`` is atomic in CPython. Reading takes a number too, so
    reads are counted (under a lock) and taken off."""

    __slots__ = ("_count", "_reads", "add")

    def __init__(self) -> None:
        self._count = itertools.count()
        self._reads = 0
        self.add = self._count.__next__

    def value(self) -> int:
        with LOCK:
            value = next(self._count) - self._reads
            self._reads += 1
        return value


_emitted = _Counter()
_invalid = _Counter()
_dropped: dict[str, int] = {}


def count_invalid() -> None:
    _invalid.add()


def count_dropped(reason: str, n: int = 1) -> None:
    with LOCK:
        _dropped[reason] = _dropped.get(reason, 0) + n


_SUMMED: Final = ("sent", "retried", "queued", "outbox_pending")


def stats() -> dict[str, Any]:
    """Counters since the process started: emitted, sent, retried, queued,
    outbox_pending, invalid, and dropped (reason -> count)."""
    result: dict[str, Any] = {
        "emitted": _emitted.value(),
        "sent": 0,
        "retried": 0,
        "queued": 0,
        "outbox_pending": 0,
        "invalid": _invalid.value(),
    }
    with LOCK:
        dropped = dict.fromkeys(("queue_full", "rejected", "outbox_full"), 0)
        dropped.update(_dropped)
    for sink in STATE.sinks or ():
        sink_stats = getattr(sink, "stats", None)
        if sink_stats is None:
            continue
        try:  # a sink's bug must not break stats()
            figures = sink_stats()
            sums = {k: int(figures.get(k, 0)) for k in _SUMMED}
            lost = {r: int(n) for r, n in (figures.get("dropped") or {}).items()}
        except Exception as exc:
            _sink_failed(sink, "stats", exc)
            continue
        for key, n in sums.items():
            result[key] += n
        for reason, n in lost.items():
            dropped[reason] = dropped.get(reason, 0) + n
    result["dropped"] = dropped
    return result


# -- the pipeline -----------------------------------------------------------------


def dispatch(event: Event) -> None:
    """Send one finished event through the processors to captures and sinks.

    A failing sink is counted and logged; only a failing processor in strict
    mode raises.
    """
    _emitted.add()
    state = STATE
    if state.processors:
        processed = _process(event, state.processors)
        if processed is None:
            return
        event = processed
    for captured in state.captures:
        captured._add(event)
    if state.enabled:
        sinks = state.sinks
        if sinks is None:
            sinks = current_sinks()
        for sink in sinks:
            try:
                sink.write(event)
            except Exception as exc:
                count_dropped("sink_error")
                _sink_failed(sink, "write", exc)


def _process(event: Event, processors: tuple[Processor, ...]) -> Event | None:
    processor: Processor | None = None
    result: Any = event
    try:
        for processor in processors:
            result = processor(None, "info", result)
    except Exception as exc:
        if STATE.strict:
            raise
        error = _selflog.safe_repr(exc)
    except BaseException as exc:
        if not _is_drop_event(exc):
            raise
        count_dropped("filtered")  # structlog.DropEvent: a filter said no
        return None
    else:
        if isinstance(result, dict):
            return result
        error = f"returned {type(result).__name__}, not a dict"
    count_dropped("processor_error")
    _selflog.warn_limited(
        "metricdsl.processor_failed",
        processor=_selflog.safe_repr(processor),
        error=error,
    )
    return None


def _is_drop_event(exc: BaseException) -> bool:
    # structlog.DropEvent derives from BaseException; structlog is imported by
    # whoever raised it, so look it up rather than import it here.
    exceptions = sys.modules.get("structlog.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.DropEvent)


# -- flush, shutdown, exit -----------------------------------------------------------


def flush(timeout: float = 5.0) -> bool:
    """Wait until every event emitted before the call is delivered, or dropped
    and counted, or ``timeout`` seconds pass; return whether it all went."""
    deadline = time.monotonic() + max(0.0, timeout)
    ok = True
    for sink in STATE.sinks or ():
        ok = _call(sink, "flush", deadline) and ok
    return ok


def shutdown(timeout: float = 5.0) -> bool:
    """Flush for at most ``timeout`` seconds, then stop background work.

    Events emitted afterwards still reach fresh sinks (they are built again)."""
    with LOCK:
        old, STATE.sinks = STATE.sinks, None
    return _close_all(old or (), timeout=max(0.0, timeout))


def _exit_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("METRICDSL_EXIT_TIMEOUT", "2")))
    except ValueError:
        return 2.0


def _at_exit() -> None:
    from ._sinks import flush_buffers

    shutdown(_exit_timeout())
    flush_buffers()


atexit.register(_at_exit)


class _ForkedByMultiprocessing:
    """multiprocessing ends a child it forked with ``os._exit``: no atexit.
    Just before every fork, make sure multiprocessing (when it is in use) will
    run the exit flush in such a child too, from its own exit finalizers."""

    registered = False

    def before_fork(self) -> None:
        util = sys.modules.get("multiprocessing.util")
        if util is not None and not self.registered:
            util.register_after_fork(self, _ForkedByMultiprocessing.in_child)
            self.registered = True

    @staticmethod
    def in_child(_: object) -> None:
        # runs in the child once multiprocessing has cleared its finalizers
        util = sys.modules["multiprocessing.util"]
        util.Finalize(None, _at_exit, exitpriority=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_ForkedByMultiprocessing().before_fork)


def reset() -> None:
    """Back to a fresh process's settings and counters, the environment
    read again (for tests)."""
    global _invalid, _emitted
    shutdown(2.0)
    with LOCK:
        STATE.settings = Settings()
        STATE.captures = ()
        STATE.resolve()
        _invalid = _Counter()
        _emitted = _Counter()
        _dropped.clear()
    _selflog.reset()
