"""Span, the one ContextVar of active spans, current_span() and wrap_context().

The ContextVar holds the innermost active span; each span links to the span
that enclosed it when it started, so the active spans form an immutable stack
that asyncio tasks inherit and threads do not. Every ``set`` keeps its token
and resets it when the span (or a generator's step) ends.

A span emits exactly one event when it ends (see ``Span._finish``).
"""

from __future__ import annotations

import contextvars
import functools
import random
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

from . import _selflog
from ._config import STATE
from ._errors import UsageError
from ._failure import (
    REDACTED,
    describe,
    is_cancellation,
    reason_desc,
    reason_of,
    request_details,
)
from ._pipeline import dispatch
from ._validation import report, show

if TYPE_CHECKING:
    from ._metric import Metric

__all__ = [
    "Span",
    "contain",
    "current_span",
    "new_span_id",
    "started",
    "wrap_context",
]

P = ParamSpec("P")
R = TypeVar("R")

_current: Final[contextvars.ContextVar[Span | None]] = contextvars.ContextVar(
    "metricdsl_span", default=None
)
get_current: Final = _current.get
set_current: Final = _current.set
reset_current: Final = _current.reset

_perf_ns: Final = time.perf_counter_ns  # monotonic, and the finest clock there is
_wall_ns: Final = time.time_ns
_bits: Final = random.getrandbits  # reseeded after fork by the random module


def new_span_id() -> str:
    """16 lowercase hex characters (a W3C span id)."""
    return _bits(64).to_bytes(8, "big").hex()


def current_span() -> Span | None:
    """The innermost active span of any metric in this context, or ``None``."""
    return _current.get()


def wrap_context(fn: Callable[P, R]) -> Callable[P, R]:
    """A callable that runs ``fn`` in a copy of the caller's context (its
    active spans included): for thread pools, executors and new threads.

    Each call gets its own copy, so the result may run in several threads at once.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return in_context


def contain(error: Exception) -> None:
    """Outside strict mode, a failure inside a verb is logged, never raised."""
    if STATE.strict:
        raise error
    _selflog.warn_limited(
        "metricdsl.internal_error",
        error=_selflog.safe_repr(error),
        error_type=type(error).__name__,
    )


_NEW, _LIVE, _ENDED, _INERT = 0, 1, 2, 3
LIVE: Final = _LIVE
#: Held by increment()'s read-add-store (re-entrant: a signal handler may count).
_COUNTING: Final = threading.RLock()


class Span:
    """One execution of a metric; emits one event when it ends.

    Made by ``metric.span(...)`` (enter it with ``with``/``async with``) and by
    ``@metric.run`` for every call.
    """

    __slots__ = (
        "_epoch_ms",
        "_failure",
        "_fields",
        "_parent",
        "_phase",
        "_t0",
        "_token",
        "metric",
        "metric_id",
        "parent_id",
        "trace_id",
    )

    def __init__(self, metric: Metric, fields: dict[str, Any]) -> None:
        self.metric = metric
        self._fields = fields
        self._phase = _NEW
        self._failure: BaseException | str | None = None
        self._token: contextvars.Token[Span | None] | None = None
        self._parent: Span | None = None
        self.trace_id: str | None = None
        self.metric_id: str | None = None
        self.parent_id: str | None = None

    # -- what users call

    @property
    def fields(self) -> Mapping[str, Any]:
        """The fields given at the start and recorded since (read-only)."""
        return MappingProxyType(self._fields)

    @property
    def ended(self) -> bool:
        return self._phase == _ENDED

    def record(self, **fields: Any) -> Span:
        """Set fields on this span; ``field=None`` removes a value recorded earlier."""
        if self._phase != _INERT:
            try:
                self._record(fields)
            except Exception as error:
                contain(error)
        return self

    def increment(self, **counts: int | float) -> Span:
        """Add to int or double fields (a field not yet set counts from 0)."""
        if self._phase == _INERT:
            return self
        try:
            with _COUNTING:  # threads sharing the span must not lose counts
                self._record(self._totals(counts))
        except Exception as error:
            contain(error)
        return self

    def _totals(self, counts: dict[str, Any]) -> dict[str, Any]:
        """The sums ``increment`` records; what cannot be added is reported."""
        checking = STATE.checking
        specs = self.metric._checker.specs
        totals: dict[str, Any] = {}
        for name, count in counts.items():
            spec = specs.get(name)
            if checking and spec is not None and spec.kind not in ("int", "double"):
                report(
                    self.metric.name,
                    name,
                    "not_a_count",
                    f"increment() of field {name!r}, which is not a number",
                    "an int or double field",
                    f"a {spec.kind} field",
                )
                continue
            try:
                total = (
                    None
                    if isinstance(count, bool)
                    else self._fields.get(name, 0) + count
                )
            except TypeError:
                total = None
            if total is None:
                report(
                    self.metric.name,
                    name,
                    "type",
                    f"increment() of field {name!r} by a value that is not a number",
                    "an int or float",
                    show(count),
                )
            else:
                totals[name] = total
        return totals

    def fail(self, error: BaseException | str) -> Span:
        """Mark the span Failed without raising; the last call wins.

        A string is taken as the reason; an exception gives reason, reasonDesc
        and, where it carries them, requestId and httpStatusCode."""
        if self._phase == _ENDED:
            try:
                self._ended("fail()", "")
            except Exception as problem:
                contain(problem)
        elif self._phase != _INERT:
            self._failure = error
        return self

    def _record(self, fields: dict[str, Any]) -> None:
        if self._phase == _ENDED:
            self._ended("record()", f" (fields {', '.join(fields)})")
            return
        accepted = self.metric._checker.check(fields)
        if accepted is fields:  # all set and valid
            self._fields.update(fields)
        else:
            self._apply(accepted)

    def _ended(self, call: str, detail: str) -> None:
        """Report a call on a span that has ended: a value lost, never silently."""
        report(
            self.metric.name,
            None,
            "ended",
            f"{call} on a span that has ended",
            "an active span",
            f"a span that ended{detail}",
        )

    def _apply(self, accepted: dict[str, Any]) -> None:
        """Set checked values; ``None`` removes a value."""
        target = self._fields
        for name, value in accepted.items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value

    # -- context managers

    def __enter__(self) -> Span:
        if self._phase != _NEW:
            _misuse(self, "entered twice")
            return self
        if not STATE.active:
            self._phase = _INERT
            return self
        self._begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._phase == _LIVE:
            self._finish(error)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, error, tb)

    # -- life cycle

    def _begin(self, push: bool = True) -> None:
        """Start: take ids from the enclosing span, read the clocks, and (unless
        a generator steps in and out by itself) become the active span."""
        parent = _current.get()
        self._parent = parent
        if parent is None:
            ids = _bits(192).to_bytes(24, "big").hex()  # one call for both ids
            self.trace_id = ids[:32]
            self.metric_id = ids[32:]
        else:
            self.trace_id = parent.trace_id
            self.parent_id = parent.metric_id
            self.metric_id = _bits(64).to_bytes(8, "big").hex()
        self._phase = _LIVE
        self._epoch_ms = _wall_ns() // 1_000_000
        if push:
            self._token = _current.set(self)
        self._t0 = _perf_ns()

    def _finish(self, error: BaseException | None) -> None:
        """End: stop being active, build the event, check it and send it.

        With an exception escaping, nothing here may raise: the user's exception
        is what propagates. Otherwise a violation raises in strict mode only.
        """
        duration = (_perf_ns() - self._t0) / 1e6
        self._phase = _ENDED
        token = self._token
        if token is not None:
            self._token = None
            try:
                _current.reset(token)
            except ValueError:  # ended in another context than it started in
                if _current.get() is self:
                    _current.set(self._parent)
        metric = self.metric
        fields = self._fields
        try:
            # the shape of a successful event, then what this span knows
            event = metric._span_event | fields
            event["epochTimestamp"] = self._epoch_ms
            event["duration"] = duration
            event["traceId"] = self.trace_id
            event["metricId"] = self.metric_id
            if self.parent_id is not None:
                event["parentId"] = self.parent_id
            if "reasonDesc" in fields:
                event["reasonDesc"] = clean_reason_desc(fields["reasonDesc"])
            if error is not None or self._failure is not None:
                self._explain(event, error)
            if metric._sensitive:
                redact(event, metric._sensitive)
            if metric._required and not event.keys() >= metric._required:
                metric._checker.mark_missing(event, escaping=error is not None)
            dispatch(event)
        except Exception as failure:
            if error is None:
                contain(failure)
            else:  # the user's exception is what propagates
                _selflog.warn_limited(
                    "metricdsl.internal_error", error=_selflog.safe_repr(failure)
                )

    def _explain(self, event: dict[str, Any], error: BaseException | None) -> None:
        """result, reason, reasonDesc, requestId and httpStatusCode of a span
        that failed or was cancelled; recorded values stay."""
        fields = self._fields
        cause: BaseException | str
        if error is None:
            assert self._failure is not None
            cause = self._failure
            event["result"] = "Failed"
        else:
            cause = error
            cancelled = is_cancellation(error, STATE.cancellation)
            event["result"] = "Cancelled" if cancelled else "Failed"
        if isinstance(cause, str):
            if "reason" not in fields:
                event["reason"] = cause
            return
        if "reason" not in fields:
            event["reason"] = reason_of(cause)
        if "reasonDesc" not in fields:
            event["reasonDesc"] = describe(cause)
        request_id, status = request_details(cause)
        if request_id is not None and "requestId" not in fields:
            event["requestId"] = request_id
        if status is not None and "httpStatusCode" not in fields:
            event["httpStatusCode"] = status

    def __repr__(self) -> str:
        state = ("new", "active", "ended", "inert")[self._phase]
        return f"<Span {self.metric.name} {state} metricId={self.metric_id}>"


def started(metric: Metric, fields: dict[str, Any], push: bool = True) -> Span:
    """A span that has begun: what ``run`` makes for every call (the same as
    ``Span(...)`` then ``_begin()``, one call shorter on the hot path)."""
    span: Span = _new_span(Span)
    span.metric = metric
    span._fields = fields
    span._failure = None
    span._token = None
    span.parent_id = None
    span._begin(push)
    return span


_new_span: Final = object.__new__


def clean_reason_desc(value: Any) -> Any:
    """A recorded reasonDesc is scrubbed and cut like a derived one."""
    return reason_desc(value) if isinstance(value, str) else value


def redact(event: dict[str, Any], names: tuple[str, ...]) -> None:
    """Replace the values of sensitive fields; sinks never see them."""
    for name in names:
        if name in event:
            event[name] = REDACTED


def _misuse(span: Span, what: str) -> None:
    error = UsageError(f"{span.metric.name}: span {what}")
    if STATE.strict:
        raise error
    _selflog.warn_once(
        ("misuse", span.metric.name, what),
        "metricdsl.span_misused",
        metric=span.metric.name,
        problem=what,
    )
