"""metricdsl's own warnings: structlog events named ``metricdsl.*`` on stderr.

They go through a private structlog logger (metricdsl never configures
structlog for the application), are rendered for a terminal or as JSON lines,
and are rate-limited: ``warn_once`` says a thing once per key, ``warn_limited``
at most a few times a minute per event name, so a dead backend or a hot loop of
bad values cannot flood the log.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Hashable
from typing import Any

__all__ = ["reset", "safe_repr", "said", "warn_limited", "warn_once"]

_LIMIT_PER_MINUTE = 5
#: The clock of the rate limit (seconds); tests put their own here.
clock = time.monotonic

# Re-entrant: a signal handler or a finaliser run by the garbage collector may
# warn while this thread is inside a warning.
_lock = threading.RLock()
_said: set[Hashable] = set()
_windows: dict[str, tuple[float, int, int]] = {}  # event -> (start, said, held back)
_logger: Any = None


class _StderrLogger:
    """Writes each rendered line to whatever ``sys.stderr`` is at the time."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        if stream is None:  # pythonw and friends have no stderr
            return
        try:
            stream.write(message + "\n")
            stream.flush()
        except (OSError, ValueError):  # closed or broken stderr: say nothing
            pass

    warning = error = info = msg


def _get_logger() -> Any:
    global _logger
    if _logger is None:
        import structlog

        stream = sys.stderr
        tty = bool(stream is not None and getattr(stream, "isatty", bool)())
        renderer: Any = (
            structlog.dev.ConsoleRenderer(colors=tty)
            if tty
            else structlog.processors.JSONRenderer(sort_keys=False)
        )
        _logger = structlog.wrap_logger(
            _StderrLogger(),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                renderer,
            ],
            wrapper_class=structlog.BoundLogger,
            cache_logger_on_first_use=True,
        )
    return _logger


def safe_repr(value: object) -> str:
    """``repr(value)``, or a stand-in when the object's ``__repr__`` fails:
    metricdsl shows users' objects only where something already went wrong."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} object (repr failed)>"


def warn_once(key: Hashable, event: str, **fields: Any) -> None:
    """Log ``event`` the first time ``key`` is seen in this process."""
    if key in _said:  # the common case, answered without the lock
        return
    with _lock:
        if key in _said:
            return
        _said.add(key)
    _emit(event, fields)


def said(key: Hashable) -> bool:
    """Whether ``warn_once`` has already spoken for ``key``."""
    return key in _said


def warn_limited(event: str, **fields: Any) -> None:
    """Log ``event`` at most a few times a minute; say how many were held back."""
    now = clock()
    with _lock:
        start, count, held = _windows.get(event, (now, 0, 0))
        if now - start >= 60.0:
            if held:
                fields["suppressed"] = held
            start, count, held = now, 0, 0
        if count >= _LIMIT_PER_MINUTE:
            _windows[event] = (start, count, held + 1)
            return
        _windows[event] = (start, count + 1, held)
    _emit(event, fields)


def _emit(event: str, fields: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # a warning must never break anything
        _get_logger().warning(event, **fields)


def _after_fork_in_child() -> None:
    # another thread may have held the lock at fork(); it does not exist here
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def reset() -> None:
    """Forget what was said (tests, and a process that wants to hear it again)."""
    global _logger
    with _lock:
        _said.clear()
        _windows.clear()
        _logger = None
