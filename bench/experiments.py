"""A/B sketches of the changes bench/PROFILE.md proposes, timed interleaved.

    python bench/experiments.py [--quick]

Nothing here changes metricdsl. Each proposal is sketched beside the code it
would replace (the current code is called through metricdsl's internals), and
both run in the same interleaved rounds as bench/run.py, with the same checks
that the events really reach the sink. The sketches cover the success path
(no exception, no sensitive field, warn mode, no processor, no capture) and
fall back to the current code for everything else: they show the size of a
gain, they are not finished code.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

os.environ["METRICDSL_VALIDATION"] = "warn"
os.environ.pop("METRICDSL_DEFINITIONS", None)

import cases  # after the environment is set
import timing

import metricdsl
from metricdsl import _metric, _pipeline, _sinks, _span
from metricdsl._config import OFF, STATE

_perf_ns = time.perf_counter_ns
_wall_ns = time.time_ns
_bits = _span._bits
_current = _span._current
get_current = _current.get
LIVE, ENDED = _span._LIVE, _span._ENDED
_new_span = _span.Span.__new__
Span = _span.Span


# -- proposals, each a sketch ---------------------------------------------------------


def start_fast(metric: Any, fields: dict[str, Any]) -> Any:
    """P1: one function instead of Span() + __init__ + _begin, each slot set
    once (the ids drawn as now: one draw for both, formatted with an f-string,
    is twice as slow)."""
    span = _new_span(Span)
    parent = get_current()
    span.metric = metric
    span._fields = fields.copy() if fields else {}
    span._failure = None
    span._parent = parent
    if parent is None:
        span.trace_id = _bits(128).to_bytes(16, "big").hex()
        span.parent_id = None
    else:
        span.trace_id = parent.trace_id
        span.parent_id = parent.metric_id
    span.metric_id = _bits(64).to_bytes(8, "big").hex()
    span._phase = LIVE
    span._epoch_ms = _wall_ns() // 1_000_000
    span._token = _current.set(span)
    span._t0 = _perf_ns()
    return span


def fast_table(metric: Any) -> dict[str, tuple[frozenset[type], Any]]:
    """P2: per metric, field -> (exact types, allowed values or None), built at
    the checker's construction."""
    return {
        name: (spec.exact, spec.allowed) for name, spec in metric._checker.specs.items()
    }


def record_fast(metric: Any, table: dict[str, Any], /, **fields: Any) -> None:
    """P2: Metric.record + Span._record + Checker.check fused, one pass to check
    and one C-level update; any doubt goes to the current code."""
    span = get_current()
    while span is not None and span.metric is not metric:
        span = span._parent
    if span is None or span._phase != LIVE or STATE.mode == OFF or not STATE.active:
        metric.record(**fields)
        return
    for name, value in fields.items():
        rule = table.get(name)
        kind = type(value)
        if (
            rule is None
            or kind not in rule[0]
            or (rule[1] is not None and value not in rule[1])
            or (kind is float and value - value != 0.0)
        ):
            metric.record(**fields)  # None, unknown or bad: the current path
            return
    span._fields.update(fields)


TEMPLATES: dict[Any, dict[str, Any]] = {}


def template(metric: Any) -> dict[str, Any]:
    """P3: per metric, built once (at the checker's construction): the keys of
    a success event in their order, so that copying it gives a dict already
    sized for the whole event (``dict.copy`` clones the table as it is)."""
    return {
        "metricName": metric.name,
        "epochTimestamp": 0,
        "unit": metric.unit,
        "value": 1.0,
        "passive": metric.passive,
        "result": "Succeeded",
        "duration": 0.0,
        "traceId": "",
        "metricId": "",
    }


def event_fast(span: Any, duration: float) -> dict[str, Any]:
    """P3: the success event as ``template | fields`` and four stores, instead
    of a five-key literal grown by ``update`` and single stores (a resize)."""
    metric = span.metric
    fields = span._fields
    if "reasonDesc" in fields or span._failure is not None or metric._sensitive:
        return span._event(None, duration)  # the current path
    event = TEMPLATES[metric] | fields
    event["epochTimestamp"] = span._epoch_ms
    event["duration"] = duration
    event["traceId"] = span.trace_id
    event["metricId"] = span.metric_id
    if span.parent_id is not None:
        event["parentId"] = span.parent_id
    return event


WRITERS: list[Callable[[dict[str, Any]], None]] = []


def dispatch_fast(event: dict[str, Any]) -> None:
    """P5: the bound ``write`` methods precomputed when the sinks are built;
    no processor and no capture checked per event when there are none."""
    next(_pipeline._emitted)
    for write in WRITERS:
        try:
            write(event)
        except Exception:
            _pipeline.count_dropped("sink_error")


def finish_fast(span: Any, required: frozenset[str]) -> None:
    """P4: the required-fields test as a C-level subset test; the rest as now."""
    duration = (_perf_ns() - span._t0) / 1e6
    span._phase = ENDED
    token, span._token = span._token, None
    try:
        _current.reset(token)
    except ValueError:
        if get_current() is span:
            _current.set(span._parent)
    event = event_fast(span, duration)
    if required and not event.keys() >= required:
        metric = span.metric
        absent = metric._checker.missing(event)
        if absent:
            event["missingFields"] = ", ".join(absent)
    dispatch_fast(event)


def run_fast(metric: Any, fn: Callable[[], Any]) -> Callable[[], Any]:
    """P1-P5 together: the sync ``@run`` wrapper, ``_start`` inlined."""
    required = frozenset(metric._checker.required)

    def run_in_span(*args: Any, **kwargs: Any) -> Any:
        if not STATE.active:
            return fn(*args, **kwargs)
        span = start_fast(metric, {})
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            span._finish(error)
            raise
        finish_fast(span, required)
        return result

    return run_in_span


def run_inlined(metric: Any, fn: Callable[[], Any]) -> Callable[[], Any]:
    """P8: start and finish written out inside the wrapper (no helper calls
    but the sinks'): how far a pure-Python span can go, for comparison."""
    required = frozenset(metric._checker.required)
    template_ = TEMPLATES[metric]
    set_, reset_ = _current.set, _current.reset
    state = STATE

    def run_in_span(*args: Any, **kwargs: Any) -> Any:
        if not state.active:
            return fn(*args, **kwargs)
        span = _new_span(Span)
        parent = get_current()
        span.metric, span._fields, span._failure = metric, {}, None
        span._parent = parent
        if parent is None:
            trace_id = span.trace_id = _bits(128).to_bytes(16, "big").hex()
            span.parent_id = None
        else:
            trace_id = span.trace_id = parent.trace_id
            span.parent_id = parent.metric_id
        metric_id = span.metric_id = _bits(64).to_bytes(8, "big").hex()
        span._phase = LIVE
        epoch = span._epoch_ms = _wall_ns() // 1_000_000
        token = span._token = set_(span)
        t0 = span._t0 = _perf_ns()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            span._finish(error)
            raise
        duration = (_perf_ns() - t0) / 1e6
        span._phase, span._token = ENDED, None
        try:
            reset_(token)
        except ValueError:
            if get_current() is span:
                set_(parent)
        fields = span._fields
        if "reasonDesc" in fields or span._failure is not None or metric._sensitive:
            event = span._event(None, duration)
        else:
            event = template_ | fields
            event["epochTimestamp"] = epoch
            event["duration"] = duration
            event["traceId"] = trace_id
            event["metricId"] = metric_id
            if parent is not None:
                event["parentId"] = span.parent_id
        if required and not event.keys() >= required:
            absent = metric._checker.missing(event)
            if absent:
                event["missingFields"] = ", ".join(absent)
        dispatch_fast(event)
        return result

    return run_in_span


def emit_fast(metric: Any, table: dict[str, Any], /, **fields: Any) -> None:
    """P6: emit() with the checks of P2, one dict display, the subset test of
    P4 and P5's dispatch; anything unusual goes to the current code."""
    if not STATE.active:
        return
    for name, value in fields.items():
        rule = table.get(name)
        kind = type(value)
        if (
            rule is None
            or kind not in rule[0]
            or (rule[1] is not None and value not in rule[1])
            or (kind is float and value - value != 0.0)
            or name == "reasonDesc"
        ):
            metric.emit(**fields)
            return
    span = get_current()
    event = EMIT_TEMPLATES[metric] | fields
    event["epochTimestamp"] = _wall_ns() // 1_000_000
    event["metricId"] = _bits(64).to_bytes(8, "big").hex()
    if span is not None:
        event["traceId"] = span.trace_id
        event["parentId"] = span.metric_id
    required = metric._checker.required
    if required and not event.keys() >= frozenset(required):
        absent = metric._checker.missing(event)
        if absent:
            event["missingFields"] = ", ".join(absent)
    if metric._sensitive:
        _span.redact(event, metric._sensitive)
    dispatch_fast(event)


class BufferedJsonlSink(_sinks.JsonlSink):
    """P7: each line rendered and appended at once to one bytearray (orjson's
    output freed right away), instead of 256 rendered ``bytes`` kept in a deque.

    Keeping many orjson outputs alive (each allocated past pymalloc's 512-byte
    limit) and freeing them together makes glibc trim and regrow its heap every
    batch: page faults on every batch, several times the cost of rendering.
    """

    _LIMIT = 64 * 1024

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._buffer = bytearray()
        self._append_lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> None:
        line = _sinks.dumps(event)
        with self._append_lock:
            buffer = self._buffer
            buffer += line
            buffer += b"\n"
            full = len(buffer) >= self._LIMIT
        if full:
            self.write_out()

    def write_out(self) -> bool:
        with self._write_lock:
            with self._append_lock:
                data, self._buffer = self._buffer, bytearray()
            if not data:
                return True
            if self._fd is None:
                self._fd = self._open()
            _sinks._write_all(self._fd, bytes(data))
        return True


class DeferredJsonlSink(_sinks.JsonlSink):
    """P7, another way: keep the event dicts, render them all in ``write_out``
    (on the flusher thread, on flush, or every 256 events) into one bytearray.
    Events are not changed after dispatch, so keeping them is safe."""

    def write(self, event: dict[str, Any]) -> None:
        pending = self._pending
        pending.append(event)  # type: ignore[arg-type]
        if len(pending) >= 256:
            self.write_out()
        elif _sinks._flusher.thread is None:
            _sinks._flusher.start()

    def write_out(self) -> bool:
        pending, dumps = self._pending, _sinks.dumps
        with self._write_lock:
            count = len(pending)
            if not count:
                return True
            data = bytearray()
            for _ in range(count):
                data += dumps(pending.popleft())  # type: ignore[arg-type]
                data += b"\n"
            if self._fd is None:
                self._fd = self._open()
            _sinks._write_all(self._fd, bytes(data))
        return True


# -- the A/B pairs ------------------------------------------------------------------


EMIT_TEMPLATES: dict[Any, dict[str, Any]] = {}


def pairs() -> list[tuple[str, timing.Case, timing.Case]]:
    metric = metricdsl.telemetry.metric_setupThing
    TEMPLATES[metric] = template(metric)
    EMIT_TEMPLATES[metric] = {
        key: TEMPLATES[metric][key]
        for key in ("metricName", "epochTimestamp", "unit", "value", "passive")
    } | {"metricId": ""}
    table = fast_table(metric)
    required = frozenset(metric._checker.required)
    sink, proposed_sink = cases.CountingSink(), cases.CountingSink()
    emit_sink, proposed_emit_sink = cases.CountingSink(), cases.CountingSink()

    def to(target: Any) -> Callable[[], None]:
        def setup() -> None:
            metricdsl.configure(enabled=True, validation="warn", sinks=[target])
            _pipeline.current_sinks()  # built now, as dispatch() would
            WRITERS[:] = [target.write]

        return setup

    # a finished span to build events from, and a live one to record on
    done = _metric._start(metric, {})
    assert done is not None
    done._record({"component": "editor"})
    event = done._event(None, 0.5)
    live = _metric._start(metric, {})
    assert live is not None
    _current.reset(live._token)  # live, but active only in the record cases
    tokens: list[Any] = []

    def start_now() -> None:
        span = _metric._start(metric, {})
        _current.reset(span._token)  # type: ignore[union-attr]

    def start_proposed() -> None:
        span = start_fast(metric, {})
        _current.reset(span._token)

    def required_now() -> object:
        return [n for n in metric._checker.required if n not in event]

    def required_proposed() -> object:
        return event.keys() >= required

    @metric.run
    def run_now() -> None:
        cases.work()
        metric.record(component="editor")

    def body() -> None:
        cases.work()
        record_fast(metric, table, component="editor")

    run_proposed = run_fast(metric, body)
    run_floor = run_inlined(metric, body)
    floor_sink = cases.CountingSink()

    def emit_now() -> None:
        cases.work()
        metric.emit(component="editor")

    def emit_proposed() -> None:
        cases.work()
        emit_fast(metric, table, component="editor")

    jsonl_now = _sinks.JsonlSink(os.devnull)
    jsonl_proposed = BufferedJsonlSink(os.devnull)
    jsonl_deferred = DeferredJsonlSink(os.devnull)
    lines = cases._LineCounter()
    lines.install()
    buffered_sink = BufferedJsonlSink(os.devnull)
    deferred_sink = DeferredJsonlSink(os.devnull)

    def to_jsonl_now() -> None:
        metricdsl.configure(enabled=True, validation="warn", sinks=["jsonl:/dev/null"])

    def to_jsonl(sink_: Any) -> Callable[[], None]:
        def setup() -> None:
            metricdsl.configure(enabled=True, validation="warn", sinks=[sink_])
            _pipeline.current_sinks()  # built now, as dispatch() would
            WRITERS[:] = [sink_.write]

        return setup

    def jsonl_whole(key: str, call: Callable[[], None], setup: Any) -> timing.Case:
        return timing.Case(
            key,
            key,
            "whole",
            call,
            events=lambda: lines.lines,
            expected_per_call=1.0,
            setup=setup,
            finish=lambda: metricdsl.flush() and None,
        )

    def sink_case(key: str, sink_: Any) -> timing.Case:
        def finish() -> None:
            sink_.write_out()

        return timing.Case(key, key, "sink", lambda: sink_.write(event), finish=finish)

    def whole(
        key: str, call: Callable[[], None], target: Any, **kw: Any
    ) -> timing.Case:
        return timing.Case(
            key,
            key,
            "whole",
            call,
            events=lambda: target.count,
            expected_per_call=1.0,
            setup=to(target),
            verify=lambda: cases._check_event(target.last, span=kw.get("span", True)),
        )

    def live_record(call: Callable[[], None]) -> timing.Case:
        def setup() -> None:
            tokens.append(_current.set(live))

        def teardown() -> None:
            _current.reset(tokens.pop())

        return timing.Case(
            "record", "record", "step", call, setup=setup, teardown=teardown
        )

    return [
        (
            "P1 span start: Span() + __init__ + _begin via _start -> one function",
            timing.Case("start_now", "now", "step", start_now),
            timing.Case("start_new", "proposed", "step", start_proposed),
        ),
        (
            "P2 record(component=...): record -> _record -> check -> fused",
            live_record(lambda: metric.record(component="editor")),
            live_record(lambda: record_fast(metric, table, component="editor")),
        ),
        (
            "P3 Span._event -> per-metric template `|` fields",
            timing.Case("event_now", "now", "step", lambda: done._event(None, 0.5)),
            timing.Case("event_new", "proposed", "step", lambda: event_fast(done, 0.5)),
        ),
        (
            "P4 required fields: list comprehension -> event.keys() >= frozenset",
            timing.Case("req_now", "now", "step", required_now),
            timing.Case("req_new", "proposed", "step", required_proposed),
        ),
        (
            "P5 dispatch(event) to one counting sink -> precomputed writers",
            timing.Case(
                "dispatch_now",
                "now",
                "step",
                lambda: _pipeline.dispatch(event),
                setup=to(sink),
            ),
            timing.Case(
                "dispatch_new",
                "proposed",
                "step",
                lambda: dispatch_fast(event),
                setup=to(sink),
            ),
        ),
        (
            "P7 jsonl sink write (render + keep), flushed per batch",
            sink_case("jsonl_now", jsonl_now),
            sink_case("jsonl_new", jsonl_proposed),
        ),
        (
            "P7' jsonl sink: the events kept, rendered in write_out (same batch)",
            sink_case("jsonl_now", jsonl_now),
            sink_case("jsonl_deferred", jsonl_deferred),
        ),
        (
            "P1-P5 whole `@run` + `record()`, events discarded",
            whole("run_now", run_now, sink),
            whole("run_new", run_proposed, proposed_sink),
        ),
        (
            "P8 whole `@run` + `record()`, all inlined in the wrapper, discarded",
            whole("run_now", run_now, sink),
            whole("run_inlined", run_floor, floor_sink),
        ),
        (
            "P1-P5 + P7 whole `@run` + `record()`, JSON line to /dev/null, flush timed",
            jsonl_whole("jsonl_run_now", run_now, to_jsonl_now),
            jsonl_whole("jsonl_run_new", run_proposed, to_jsonl(buffered_sink)),
        ),
        (
            "P1-P5 + P7' whole `@run` + `record()`, JSON line, flush timed",
            jsonl_whole("jsonl_run_now", run_now, to_jsonl_now),
            jsonl_whole("jsonl_run_deferred", run_proposed, to_jsonl(deferred_sink)),
        ),
        (
            "P6 whole `emit()`, events discarded",
            whole("emit_now", emit_now, emit_sink, span=False),
            whole("emit_new", emit_proposed, proposed_emit_sink, span=False),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    metricdsl.configure(enabled=True, validation="warn")
    found = pairs()
    flat = [case for _, now, new in found for case in (now, new)]
    for case in flat:
        case.calls_work = case.group == "whole"  # a step alone calls no work()
    samples = timing.measure(
        flat,
        rounds=6 if args.quick else 30,
        batch_ns=(3 if args.quick else 15) * 1_000_000,
        calls_so_far=cases.calls_so_far,
    )
    print("| proposal | now | proposed | saved | ratio | checks |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for index, (label, _, _) in enumerate(found):
        now, new = samples[2 * index], samples[2 * index + 1]
        ok = "ok" if now.verified and new.verified else "MISMATCH"
        for sample in (now, new):
            if not sample.verified:
                ok += (
                    f" ({sample.case.key}: {sample.calls} calls, {sample.events} "
                    f"events, {sample.iterations} iterations, {sample.problem})"
                )
        print(
            f"| {label} | {now.median:,.0f} ns | {new.median:,.0f} ns "
            f"| {now.median - new.median:,.0f} ns | {new.median / now.median:.2f} "
            f"| {ok} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
