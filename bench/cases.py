"""The hot-path cases: floors, metricdsl's verbs, and the peer libraries.

Every case wraps the same trivial function, ``work()``, which counts its calls
(the same C-level ``next()`` in every case), and sends what it produces to a
sink that counts what reached it:

- metricdsl: a sink object whose ``write`` counts and keeps the last event, or
  the real ``jsonl:/dev/null`` sink, whose file writes are counted line by line;
- OpenTelemetry: a ``SpanExporter`` that counts and keeps the last span;
- Eliot: a destination that counts messages (two per action: start and end);
- structlog: ``/dev/null``, counted by the kernel (``syscw`` in /proc/self/io:
  structlog's ``BytesLogger`` writes and flushes each line on its own);
- prometheus_client: the histogram's own ``_count`` sample.

So a case that silently dropped work would show a count that does not match.
"""

from __future__ import annotations

import contextvars
import itertools
import os
from collections.abc import Callable
from typing import Any

from timing import Case

__all__ = ["calls_so_far", "floor_cases", "metricdsl_cases", "peer_cases"]

# -- the trivial function every case wraps -------------------------------------

_calls = itertools.count()
_tick = _calls.__next__


def work() -> None:
    """The trivial function: counts its call, nothing else."""
    _tick()


def calls_so_far() -> int:
    """How many times ``work()`` ran (read without counting a call)."""
    return int(_calls.__reduce__()[1][0])


# -- floors ----------------------------------------------------------------------


def floor_cases() -> list[Case]:
    import functools

    import wrapt

    var: contextvars.ContextVar[int] = contextvars.ContextVar("bench", default=0)
    set_var, reset_var = var.set, var.reset

    def with_contextvar() -> None:
        token = set_var(1)
        try:
            work()
        finally:
            reset_var(token)

    @wrapt.decorator
    def passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    def closure(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return inner

    return [
        Case("plain", "plain call", "floor", work),
        Case(
            "contextvar",
            "ContextVar set + reset around the call",
            "floor",
            with_contextvar,
        ),
        Case("wrapt", "do-nothing wrapt decorator", "floor", passthrough(work)),
        Case(
            "closure",
            "do-nothing closure decorator (functools.wraps)",
            "floor",
            closure(work),
            note="extra floor, for context",
        ),
    ]


# -- metricdsl ---------------------------------------------------------------------


class CountingSink:
    """A metricdsl sink that discards events, counting them and keeping the last."""

    def __init__(self) -> None:
        self.count = 0
        self.last: dict[str, Any] | None = None

    def write(self, event: dict[str, Any]) -> None:
        self.count += 1
        self.last = event


class _LineCounter:
    """Counts the lines metricdsl's JSON-lines sink hands to the kernel.

    Wraps ``metricdsl._sinks._write_all`` (called once per batch of lines, so
    the count costs nothing per event) and keeps the last line written.
    """

    def __init__(self) -> None:
        self.lines = 0
        self.last = b""
        self.installed = False

    def install(self) -> None:
        from metricdsl import _sinks

        original = getattr(_sinks, "_write_all", None)
        if original is None or self.installed:
            return

        def counting_write_all(fd: int, data: bytes) -> None:
            original(fd, data)
            self.lines += data.count(b"\n")
            end = data.rfind(b"\n", 0, len(data) - 1)
            self.last = data[end + 1 :]

        _sinks._write_all = counting_write_all
        self.installed = True


def _check_event(event: dict[str, Any] | None, *, span: bool) -> str | None:
    if event is None:
        return "no event reached the sink"
    expected = {"metricName": "metric_setupThing", "component": "editor"}
    if span:
        expected["result"] = "Succeeded"
    for key, value in expected.items():
        if event.get(key) != value:
            return f"last event has {key}={event.get(key)!r}, expected {value!r}"
    if "missingFields" in event:
        return f"last event lacks {event['missingFields']}"
    return None


def metricdsl_cases() -> list[Case]:
    import metricdsl

    metric = metricdsl.telemetry.metric_setupThing
    record = metric.record
    emit = metric.emit

    @metric.run
    def run_and_record() -> None:
        work()
        record(component="editor")

    def span_and_record() -> None:
        with metric.span():
            work()
            record(component="editor")

    def emit_one() -> None:
        work()
        emit(component="editor")

    counting = CountingSink()
    idle = CountingSink()  # the disabled case's sink: must stay at 0
    lines = _LineCounter()
    lines.install()

    def to_counting() -> None:
        metricdsl.configure(enabled=True, validation="warn", sinks=[counting])

    def to_jsonl() -> None:
        metricdsl.configure(enabled=True, validation="warn", sinks=["jsonl:/dev/null"])

    def disabled() -> None:
        metricdsl.configure(enabled=False, validation="warn", sinks=[idle])

    def to_idle() -> None:
        metricdsl.configure(enabled=True, validation="warn", sinks=[idle])

    def check_jsonl() -> str | None:
        import json

        if not lines.installed:
            return "could not count the JSON lines (metricdsl._sinks changed)"
        try:
            return _check_event(json.loads(lines.last), span=True)
        except ValueError as exc:
            return f"last JSON line unreadable: {exc}"

    def check(span: bool) -> Callable[[], str | None]:
        return lambda: _check_event(counting.last, span=span)

    def counted() -> int:
        return counting.count

    return [
        Case(
            "md_run",
            "metricdsl `@run` + `record()`, events discarded",
            "metricdsl",
            run_and_record,
            setup=to_counting,
            teardown=to_idle,
            verify=check(span=True),
            events=counted,
            expected_per_call=1.0,
        ),
        Case(
            "md_jsonl",
            "metricdsl `@run` + `record()`, JSON line to /dev/null (flush timed)",
            "metricdsl",
            run_and_record,
            events=lambda: lines.lines if lines.installed else None,
            expected_per_call=1.0,
            event_unit="lines written",
            setup=to_jsonl,
            finish=lambda: metricdsl.flush() and None,
            teardown=to_idle,
            verify=check_jsonl,
        ),
        Case(
            "md_span",
            "metricdsl `with span()` + `record()`, events discarded",
            "metricdsl",
            span_and_record,
            setup=to_counting,
            teardown=to_idle,
            verify=check(span=True),
            events=counted,
            expected_per_call=1.0,
        ),
        Case(
            "md_emit",
            "metricdsl `emit()`, events discarded",
            "metricdsl",
            emit_one,
            setup=to_counting,
            teardown=to_idle,
            verify=check(span=False),
            events=counted,
            expected_per_call=1.0,
        ),
        Case(
            "md_disabled",
            "metricdsl disabled, `@run` + `record()`",
            "metricdsl",
            run_and_record,
            events=lambda: idle.count,
            expected_per_call=0.0,
            event_unit="events (0 expected)",
            setup=disabled,
            teardown=to_idle,
        ),
    ]


# -- peers ---------------------------------------------------------------------------


def _otel_case() -> Case:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class CountingExporter(SpanExporter):
        def __init__(self) -> None:
            self.count = 0
            self.last: Any = None

        def export(self, spans: Any) -> SpanExportResult:
            self.count += len(spans)
            self.last = spans[-1]
            return SpanExportResult.SUCCESS

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("metricdsl-bench")
    current = trace.get_current_span

    @tracer.start_as_current_span("metric_setupThing")
    def traced() -> None:
        work()
        current().set_attribute("component", "editor")

    def verify() -> str | None:
        span = exporter.last
        if span is None or span.attributes.get("component") != "editor":
            return "the last span lacks its attribute"
        return None

    return Case(
        "otel",
        "OpenTelemetry SDK `start_as_current_span` decorator + `set_attribute`",
        "peer",
        traced,
        events=lambda: exporter.count,
        expected_per_call=1.0,
        event_unit="spans exported",
        verify=verify,
        note="TracerProvider, SimpleSpanProcessor, an exporter that counts",
    )


def _eliot_case() -> Case:
    import eliot

    class CountingDestination:
        def __init__(self) -> None:
            self.count = 0
            self.last: Any = None

        def __call__(self, message: dict[str, Any]) -> None:
            self.count += 1
            self.last = message

    destination = CountingDestination()
    eliot.add_destinations(destination)
    start_action = eliot.start_action

    def action() -> None:
        with start_action(action_type="metric_setupThing", component="editor"):
            work()

    def verify() -> str | None:
        last = destination.last or {}
        if last.get("action_status") != "succeeded":
            return f"the last message is not a success: {last!r}"
        return None

    return Case(
        "eliot",
        "Eliot `start_action` with one field",
        "peer",
        action,
        events=lambda: destination.count,
        expected_per_call=2.0,
        event_unit="messages (start + end)",
        verify=verify,
        note="a destination that counts",
    )


def _syscalls_written() -> int | None:
    """Write system calls of this process so far (Linux), else None."""
    try:
        with open("/proc/self/io", "rb") as stream:
            for line in stream:
                if line.startswith(b"syscw:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _structlog_case() -> Case:
    import logging

    import orjson
    import structlog

    # The configuration of structlog's "Performance" documentation page.
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the run
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(devnull),
    )
    log = structlog.get_logger().bind()  # a local logger, as the page advises

    def log_line() -> None:
        work()
        log.info("metric_setupThing", component="editor")

    return Case(
        "structlog",
        "structlog JSON line to /dev/null (documented fastest set-up)",
        "peer",
        log_line,
        events=_syscalls_written,
        expected_per_call=1.0,
        event_unit="lines written (write syscalls)",
        note="make_filtering_bound_logger, BytesLoggerFactory, orjson JSONRenderer",
    )


def _prometheus_case() -> Case:
    from prometheus_client import CollectorRegistry, Histogram

    registry = CollectorRegistry()
    histogram = Histogram(
        "metric_setupThing_seconds", "Sets up a thing.", registry=registry
    )

    @histogram.time()
    def timed() -> None:
        work()

    def observed() -> int:
        value = registry.get_sample_value("metric_setupThing_seconds_count")
        return int(value or 0)

    return Case(
        "prometheus",
        "prometheus_client `Histogram.time()` decorator",
        "peer",
        timed,
        events=observed,
        expected_per_call=1.0,
        event_unit="observations",
        note="no per-call field (a metric, not an event)",
    )


def peer_cases() -> tuple[list[Case], list[str]]:
    """The peer cases that could be built, and a message for each that could not."""
    cases, missing = [], []
    for build in (_otel_case, _eliot_case, _structlog_case, _prometheus_case):
        try:
            cases.append(build())
        except ImportError as exc:
            missing.append(f"{build.__name__.strip('_')}: skipped ({exc})")
    return cases, missing
