"""Metric (run, span, record, emit) and Telemetry, the metrics of loaded files."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
)
from time import time_ns
from types import FunctionType, MappingProxyType
from typing import Any, Final, ParamSpec, TypeVar, cast, overload

from ._config import STATE
from ._definitions import (
    GLOBAL_TYPES,
    Definitions,
    Field,
    FieldType,
    MetricDefinition,
    Override,
    load_definitions,
)
from ._errors import (
    NoActiveSpanError,
    UnknownMetricError,
    UsageError,
    did_you_mean,
)
from ._pipeline import dispatch
from ._span import (
    LIVE,
    Span,
    _bits,
    clean_reason_desc,
    contain,
    get_current,
    redact,
    reset_current,
    set_current,
    started,
)
from ._validation import Checker, repeated, report

__all__ = ["Metric", "Telemetry", "load"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
Y = TypeVar("Y")
S = TypeVar("S")


def load(*paths: str | os.PathLike[str]) -> Telemetry:
    """Load definitions files, in order (later files override earlier ones).

    Raises ``DefinitionError`` listing every problem of every file.
    """
    if not paths:
        raise UsageError("load() needs at least one definitions file")
    return Telemetry(load_definitions(paths))


class Metric:
    """One metric of the definitions, with the four verbs run, span, record, emit."""

    __slots__ = (
        "_checker",
        "_emit_event",
        "_required",
        "_sensitive",
        "_span_event",
        "_types",
        "definition",
        "description",
        "fields",
        "name",
        "passive",
        "unit",
    )

    _checker: Checker

    def __init__(
        self, definition: MetricDefinition, types: Mapping[str, FieldType]
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.description = definition.description
        self.unit = definition.unit
        self.passive = definition.passive
        self.fields: Mapping[str, Field] = definition.fields
        self._types = types
        # its own sensitive fields, and the global ones a file made sensitive
        fields = definition.fields
        self._sensitive = tuple(
            [n for n, f in fields.items() if f.sensitive]
            + [n for n in GLOBAL_TYPES if n not in fields and types[n].sensitive]
        )
        self._required = frozenset(
            n for n, f in definition.fields.items() if f.required
        )
        # The events' first keys, in order: copying a dict already sized for
        # the whole event is cheaper than growing one key by key.
        base = {
            "metricName": self.name,
            "epochTimestamp": 0,
            "unit": self.unit,
            "value": 1.0,
            "passive": self.passive,
        }
        self._emit_event = base | {"metricId": ""}
        self._span_event = base | {
            "result": "Succeeded",
            "duration": 0.0,
            "traceId": "",
            "metricId": "",
        }

    def __getattr__(self, name: str) -> Any:
        # The checker is built on first use: loading stays cheap for the many
        # metrics a program never touches, and later uses pay nothing.
        if name == "_checker":
            checker = Checker(self.definition, self._types)
            self._checker = checker
            return checker
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def __repr__(self) -> str:
        return f"<Metric {self.name}>"

    # -- run

    @overload
    def run(self, fn: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def run(self, fn: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def run(self, fn: Callable[P, R], /) -> Callable[P, R]: ...
    @overload
    def run(self, /, **fields: Any) -> _Decorator: ...

    def run(self, fn: Any = None, /, **fields: Any) -> Any:
        """Decorator: every call of the function runs in a new span of this metric.

        ``@metric.run`` or ``@metric.run(field=value, ...)``; works on plain,
        ``async``, generator and async generator functions, methods,
        classmethods and staticmethods (either order).
        """
        checked = self._check_start_fields(fields)
        if fn is None:
            return _Decorator(self, checked)
        return _decorate(self, fn, checked)

    # -- span

    def span(self, **fields: Any) -> Span:
        """A span of this metric, started by ``with`` or ``async with``."""
        return Span(self, self._check_start_fields(fields))

    def _check_start_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        if not fields:
            return fields
        try:
            checked = self._checker.check(fields)
        except Exception as error:
            contain(error)
            return {}
        return {k: v for k, v in checked.items() if v is not None}

    # -- record

    def record(self, **fields: Any) -> None:
        """Set fields on the innermost active span of this metric."""
        if not STATE.active:
            return
        span = get_current()
        while span is not None and span.metric is not self:
            span = span._parent
        try:
            if span is None:
                if repeated(self.name, None, "no_span"):
                    return
                report(
                    self.name,
                    None,
                    "no_span",
                    "record() found no active span of this metric",
                    f"a call inside {self.name}.run or .span()",
                    "no active span",
                    error=NoActiveSpanError,
                )
            elif span._phase == LIVE:  # the common case, inline
                checked = self._checker.check(fields)
                if checked is fields:
                    span._fields.update(fields)
                else:
                    span._apply(checked)
            else:
                span._record(fields)
        except Exception as error:
            contain(error)

    # -- emit

    def emit(self, **fields: Any) -> None:
        """Emit one event now, without a span (inside a span it joins its trace)."""
        if not STATE.active:
            return
        try:
            checker = self._checker
            checked = checker.check(fields) if fields else fields
            if checked is fields:  # all set and valid
                event = self._emit_event | fields
            else:
                event = self._emit_event.copy()
                for name, value in checked.items():
                    if value is not None:
                        event[name] = value
            event["epochTimestamp"] = time_ns() // 1_000_000
            event["metricId"] = _bits(64).to_bytes(8, "big").hex()
            span = get_current()
            if span is not None:  # ids given to emit() win
                event.setdefault("traceId", span.trace_id)
                event.setdefault("parentId", span.metric_id)
            if "reasonDesc" in event:
                event["reasonDesc"] = clean_reason_desc(event["reasonDesc"])
            if self._required and not event.keys() >= self._required:
                checker.mark_missing(event)  # raises in strict mode
            if self._sensitive:
                redact(event, self._sensitive)
            dispatch(event)
        except Exception as error:
            contain(error)


class _Decorator:
    """What ``@metric.run(**fields)`` returns: applies the span to a function."""

    __slots__ = ("_fields", "_metric")

    def __init__(self, metric: Metric, fields: dict[str, Any]) -> None:
        self._metric = metric
        self._fields = fields

    @overload
    def __call__(self, fn: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, fn: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Callable[P, R]: ...

    def __call__(self, fn: Any, /) -> Any:
        return _decorate(self._metric, fn, self._fields)


def _decorate(metric: Metric, fn: Any, fields: dict[str, Any]) -> Any:
    if isinstance(fn, classmethod):
        return classmethod(_decorate(metric, fn.__func__, fields))
    if isinstance(fn, staticmethod):
        return staticmethod(_decorate(metric, fn.__func__, fields))
    if not callable(fn):
        raise UsageError(f"{metric.name}.run expects a function; got {fn!r}")
    if isinstance(fn, FunctionType):
        return functools.wraps(fn)(_wrapper(metric, fn, fields, _kind(fn)))
    # Any other callable (an object with __call__, a partial, a bound method, a
    # builtin) keeps its own attributes and descriptor behaviour behind a wrapt
    # proxy; the span logic is the same, reached through a trampoline.
    import wrapt

    kind = _kind(fn)
    if kind == "sync" and not inspect.isroutine(fn):
        kind = _kind(type(fn).__call__)  # an object whose __call__ is async
    inner = _wrapper(metric, _call_wrapped, fields, kind)

    def adapter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return inner(wrapped, *args, **kwargs)

    return wrapt.FunctionWrapper(fn, adapter)


def _call_wrapped(wrapped: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return wrapped(*args, **kwargs)


def _kind(fn: Any) -> str:
    if fn is None:
        return "sync"
    if inspect.isasyncgenfunction(fn):
        return "asyncgen"
    if inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isgeneratorfunction(fn):
        return "gen"
    return "sync"


def _wrapper(metric: Metric, fn: Any, fields: dict[str, Any], kind: str) -> Any:
    factory: Callable[[Metric, Any, dict[str, Any]], Any] = _FACTORIES[kind]
    return factory(metric, fn, fields)


def _sync(metric: Metric, fn: Callable[P, R], fields: dict[str, Any]) -> Callable[P, R]:
    def run_in_span(*args: P.args, **kwargs: P.kwargs) -> R:
        if not STATE.active:
            return fn(*args, **kwargs)
        span = started(metric, fields.copy())
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            span._finish(error)
            raise
        span._finish(None)
        return result

    return run_in_span


def _async(
    metric: Metric, fn: Callable[P, Awaitable[R]], fields: dict[str, Any]
) -> Callable[P, Awaitable[R]]:
    async def run_in_span(*args: P.args, **kwargs: P.kwargs) -> R:
        if not STATE.active:
            return await fn(*args, **kwargs)
        span = started(metric, fields.copy())
        try:
            result = await fn(*args, **kwargs)
        except BaseException as error:
            span._finish(error)
            raise
        span._finish(None)
        return result

    return run_in_span


def _gen(
    metric: Metric, fn: Callable[P, Generator[Y, S, R]], fields: dict[str, Any]
) -> Callable[P, Generator[Y, S, R]]:
    def run_in_span(*args: P.args, **kwargs: P.kwargs) -> Generator[Y, S, R]:
        if not STATE.active:
            return (yield from fn(*args, **kwargs))
        span = started(metric, fields.copy(), push=False)
        gen = fn(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                # the span is active only while the generator's body runs
                token = set_current(span)
                try:
                    if thrown is None:
                        item = gen.send(sent)
                    else:
                        item, thrown = gen.throw(thrown), None
                finally:
                    reset_current(token)
                try:
                    sent = yield item
                except GeneratorExit:
                    token = set_current(span)
                    try:
                        gen.close()
                    finally:
                        reset_current(token)
                    raise
                except BaseException as error:
                    thrown = error
        except StopIteration as stop:
            span._finish(None)
            return cast(R, stop.value)
        except BaseException as error:
            span._finish(error)
            raise

    return run_in_span


def _asyncgen(
    metric: Metric, fn: Callable[P, AsyncGenerator[Y, S]], fields: dict[str, Any]
) -> Callable[P, AsyncGenerator[Y, S]]:
    async def run_in_span(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Y, S]:
        span = started(metric, fields.copy(), push=False) if STATE.active else None
        agen = fn(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = set_current(span) if span is not None else None
                try:
                    if thrown is None:
                        item = await agen.asend(sent)
                    else:
                        item, thrown = await agen.athrow(thrown), None
                finally:
                    if token is not None:
                        reset_current(token)
                try:
                    sent = yield item
                except GeneratorExit:
                    token = set_current(span) if span is not None else None
                    try:
                        await agen.aclose()
                    finally:
                        if token is not None:
                            reset_current(token)
                    raise
                except BaseException as error:
                    thrown = error
        except StopAsyncIteration:
            if span is not None:
                span._finish(None)
            return
        except BaseException as error:
            if span is not None:
                span._finish(error)
            raise

    return run_in_span


_FACTORIES: dict[str, Callable[[Metric, Any, dict[str, Any]], Any]] = {
    "sync": _sync,
    "async": _async,
    "gen": _gen,
    "asyncgen": _asyncgen,
}


class Telemetry:
    """The metrics of one or more loaded definitions files.

    ``telemetry.metric_name`` and ``telemetry["metric_name"]`` give a ``Metric``.
    """

    def __init__(self, definitions: Definitions) -> None:
        self._definitions = definitions
        metrics = {
            name: Metric(definition, definitions.types)
            for name, definition in definitions.metrics.items()
        }
        self._metrics: Mapping[str, Metric] = MappingProxyType(metrics)
        for name, metric in metrics.items():
            if is_attribute(name):
                self.__dict__[name] = metric  # plain attribute lookups on the hot path

    @property
    def metrics(self) -> Mapping[str, Metric]:
        """Metric name -> ``Metric`` (read-only)."""
        return self._metrics

    @property
    def types(self) -> Mapping[str, FieldType]:
        """Field name -> ``FieldType``, the global fields included (read-only)."""
        return self._definitions.types

    @property
    def overrides(self) -> tuple[Override, ...]:
        """Every type or metric a later file replaced, in load order."""
        return self._definitions.overrides

    @property
    def paths(self) -> tuple[str, ...]:
        """The files loaded, in order."""
        return self._definitions.paths

    def record(self, **fields: Any) -> None:
        """Set fields on the innermost active span of any metric."""
        if not STATE.active:
            return
        span = get_current()
        try:
            if span is None:
                report(
                    "telemetry",
                    None,
                    "no_span",
                    "record() found no active span",
                    "a call inside a metric's run or span()",
                    "no active span",
                    error=NoActiveSpanError,
                )
            else:
                span._record(fields)
        except Exception as error:
            contain(error)

    def __getattr__(self, name: str) -> Metric:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._unknown(name)

    def __getitem__(self, name: str) -> Metric:
        metric = self._metrics.get(name)
        if metric is None:
            raise self._unknown(name)
        return metric

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def _unknown(self, name: str) -> UnknownMetricError:
        message = f"no metric named {name!r} in {', '.join(self.paths)}"
        hint = did_you_mean(name, self._metrics, most=3)
        if hint:
            message += f"; {hint}"
        return UnknownMetricError(name, message)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._metrics))

    def __repr__(self) -> str:
        return f"<Telemetry {len(self._metrics)} metrics from {', '.join(self.paths)}>"


_TELEMETRY_OWN: Final = frozenset(dir(Telemetry))


def is_attribute(name: str) -> bool:
    """Whether ``Telemetry`` offers the metric ``name`` as an attribute. Names
    of its own, private names and names that are no identifiers are reached
    by index only (``telemetry["name"]``)."""
    return (
        name.isidentifier() and not name.startswith("_") and name not in _TELEMETRY_OWN
    )
