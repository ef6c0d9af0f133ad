"""Metric (run, span, record, emit) and Telemetry."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import metricdsl
from metricdsl import (
    MetricValidationError,
    NoActiveSpanError,
    UnknownMetricError,
    UsageError,
    current_span,
)

from .conftest import DEFAULT_DEFINITIONS
from .support import Collect, clean_env, run_python


class TestRunOnFunctions:
    def test_a_plain_function_keeps_its_identity_and_passes_values_through(
        self, telemetry: Any, captured: Any
    ) -> None:
        def add(a: int, b: int = 2, *rest: int, scale: int = 1) -> int:
            """Adds numbers."""
            return (a + b + sum(rest)) * scale

        run = telemetry.test_outer.run(add)
        assert run(1, 2, 3, scale=10) == 60
        assert run.__name__ == "add"
        assert run.__doc__ == "Adds numbers."
        assert run.__wrapped__ is add
        assert inspect.signature(run) == inspect.signature(add)
        assert captured.events[0]["result"] == "Succeeded"

    def test_run_with_fields_starts_every_span_with_them(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run(component="viewer", count=1)
        def work() -> None:
            telemetry.test_outer.record(count=2)

        work()
        work()
        assert [e["count"] for e in captured.events] == [2, 2]
        assert [e["component"] for e in captured.events] == ["viewer"] * 2

    def test_every_call_runs_in_its_own_span(
        self, telemetry: Any, captured: Any
    ) -> None:
        spans: list[Any] = []

        @telemetry.test_outer.run
        def work() -> None:
            spans.append(current_span())

        work()
        work()
        assert spans[0] is not spans[1]
        assert len({e["metricId"] for e in captured.events}) == 2

    def test_an_async_function_stays_a_coroutine_function(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        async def fetch(x: int) -> int:
            await asyncio.sleep(0)
            telemetry.test_outer.record(count=x)
            return x + 1

        assert inspect.iscoroutinefunction(fetch)
        assert asyncio.run(fetch(41)) == 42
        assert captured.events[0]["count"] == 41

    def test_a_generator_function_delegates_send_throw_and_return(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        def echo() -> Any:
            received = []
            try:
                while True:
                    value = yield len(received)
                    if value == "stop":
                        return received
                    received.append(value)
            except KeyError:
                yield "caught"
                return ["after throw"]

        assert inspect.isgeneratorfunction(echo)
        gen = echo()
        assert next(gen) == 0
        assert gen.send("a") == 1
        assert gen.send("b") == 2
        with pytest.raises(StopIteration) as stop:
            gen.send("stop")
        assert stop.value.value == ["a", "b"]
        gen = echo()
        next(gen)
        assert gen.throw(KeyError("k")) == "caught"
        with pytest.raises(StopIteration) as stop:
            next(gen)
        assert stop.value.value == ["after throw"]
        assert [e["result"] for e in captured.events] == ["Succeeded", "Succeeded"]

    def test_a_generator_that_raises_fails_its_span(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        def broken() -> Any:
            yield 1
            raise ValueError("mid-way")

        with pytest.raises(ValueError, match="mid-way"):
            list(broken())
        assert captured.events[0]["reason"] == "ValueError"

    def test_an_async_generator_delegates_asend_and_athrow(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        async def ticker(n: int) -> Any:
            for i in range(n):
                assert current_span() is not None
                got = yield i
                if got == "boom":
                    raise ValueError("boom")

        assert inspect.isasyncgenfunction(ticker)

        async def main() -> None:
            assert [i async for i in ticker(3)] == [0, 1, 2]
            agen = ticker(5)
            assert await agen.asend(None) == 0
            assert current_span() is None  # only while the body runs
            with pytest.raises(ValueError, match="boom"):
                await agen.asend("boom")
            agen = ticker(5)
            assert await agen.__anext__() == 0
            with pytest.raises(KeyError):
                await agen.athrow(KeyError("k"))
            agen = ticker(5)
            await agen.__anext__()
            await agen.aclose()

        asyncio.run(main())
        results = [e["result"] for e in captured.events]
        assert results == ["Succeeded", "Failed", "Failed", "Cancelled"]

    def test_an_unstarted_generator_emits_nothing(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        def never() -> Any:
            yield 1

        gen = never()
        del gen
        assert captured.events == []

    def test_a_generator_thrown_an_exception_it_does_not_catch_fails(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        def numbers() -> Any:
            yield 1
            yield 2

        gen = numbers()
        next(gen)
        error = KeyError("k")
        with pytest.raises(KeyError) as caught:
            gen.throw(error)
        assert caught.value is error
        event = captured.events[0]
        assert (event["result"], event["reason"]) == ("Failed", "KeyError")

    @pytest.mark.parametrize("kind", ["sync", "async", "gen", "asyncgen"])
    def test_every_kind_of_function_keeps_its_identity(
        self, telemetry: Any, kind: str
    ) -> None:
        original = _KINDS[kind]
        run = telemetry.test_outer.run(original)
        assert run.__name__ == original.__name__
        assert run.__qualname__ == original.__qualname__
        assert run.__doc__ == original.__doc__
        assert run.__wrapped__ is original
        assert inspect.signature(run) == inspect.signature(original)
        assert inspect.iscoroutinefunction(run) == (kind == "async")
        assert inspect.isgeneratorfunction(run) == (kind == "gen")
        assert inspect.isasyncgenfunction(run) == (kind == "asyncgen")

    @pytest.mark.parametrize("kind", ["sync", "async", "gen", "asyncgen"])
    def test_an_exception_propagates_unchanged_from_every_kind_of_function(
        self, telemetry: Any, captured: Any, kind: str
    ) -> None:
        error = ValueError("deep down")
        run = telemetry.test_outer.run(_KINDS[kind])
        with pytest.raises(ValueError) as caught:
            _drive(kind, run(error))
        assert caught.value is error
        frames = traceback.extract_tb(caught.value.__traceback__)
        assert frames[-1].line == "raise error"
        assert captured.events[0]["reasonDesc"] == "ValueError: deep down"

    def test_run_rejects_what_is_not_callable(self, telemetry: Any) -> None:
        with pytest.raises(UsageError, match="expects a function"):
            telemetry.test_outer.run(42)

    def test_bad_start_fields_fail_at_decoration(self, telemetry: Any) -> None:
        with pytest.raises(MetricValidationError, match="component"):

            @telemetry.test_outer.run(component="nope")
            def work() -> None:
                pass


class TestRunOnMethods:
    def test_methods_classmethods_and_staticmethods_in_either_order(
        self, telemetry: Any, captured: Any
    ) -> None:
        metric = telemetry.test_outer

        class Thing:
            factor = 10

            def __init__(self) -> None:
                self.base = 1

            @metric.run
            def method(self, x: int) -> int:
                return self.base + x

            @metric.run
            @classmethod
            def outer_class(cls, x: int) -> int:
                return cls.factor * x

            @classmethod
            @metric.run
            def inner_class(cls, x: int) -> int:
                return cls.factor * x + 1

            @metric.run
            @staticmethod
            def outer_static(x: int) -> int:
                return x * 3

            @staticmethod
            @metric.run(count=7)
            def inner_static(x: int) -> int:
                return x * 4

        thing = Thing()
        assert thing.method(2) == 3
        assert Thing.outer_class(2) == 20
        assert thing.outer_class(2) == 20
        assert Thing.inner_class(2) == 21
        assert Thing.outer_static(2) == 6
        assert thing.inner_static(2) == 8
        assert Thing.method.__name__ == "method"
        assert Thing.outer_class.__name__ == "outer_class"
        assert len(captured.events) == 6
        assert captured.events[-1]["count"] == 7

    def test_a_callable_object_is_wrapped_transparently(
        self, telemetry: Any, captured: Any
    ) -> None:
        class Doubler:
            """Doubles."""

            def __call__(self, x: int) -> int:
                return 2 * x

        class AsyncDoubler:
            async def __call__(self, x: int) -> int:
                return 2 * x

        doubled = telemetry.test_outer.run(Doubler())
        assert doubled(4) == 8
        assert doubled.__doc__ == "Doubles."
        assert isinstance(doubled, Doubler)
        async_doubled = telemetry.test_outer.run(AsyncDoubler())
        assert asyncio.run(async_doubled(5)) == 10
        partial = telemetry.test_inner.run(functools.partial(pow, 2))
        assert partial(10) == 1024
        bound = telemetry.test_inner.run("abc".upper)
        assert bound() == "ABC"
        names = [e["metricName"] for e in captured.events]
        assert names == ["test_outer", "test_outer", "test_inner", "test_inner"]


class TestRecord:
    def test_record_sets_fields_on_the_innermost_span_of_its_metric(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span():
            with telemetry.test_inner.span():
                telemetry.test_outer.record(count=1)  # skips the inner span
                telemetry.test_inner.record(count=2)
        inner, outer = captured.events
        assert (inner["count"], outer["count"]) == (2, 1)

    def test_record_reaches_the_innermost_of_two_spans_of_one_metric(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span():
            with telemetry.test_outer.span():
                telemetry.test_outer.record(count=2)
        inner, outer = captured.events
        assert inner["count"] == 2
        assert "count" not in outer

    def test_telemetry_record_sets_fields_on_the_innermost_span_of_any_metric(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span():
            with telemetry.test_inner.span():
                telemetry.record(label="deep")
            telemetry.record(label="shallow")
        inner, outer = captured.events
        assert (inner["label"], outer["label"]) == ("deep", "shallow")

    def test_telemetry_record_checks_fields_against_that_spans_metric(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_inner.span(), pytest.raises(MetricValidationError):
            telemetry.record(component="editor")  # not a field of test_inner

    def test_record_without_a_span_raises_no_active_span_in_strict_mode(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(NoActiveSpanError, match="test_outer"):
            telemetry.test_outer.record(count=1)
        with telemetry.test_inner.span(), pytest.raises(NoActiveSpanError):
            telemetry.test_outer.record(count=1)
        with pytest.raises(NoActiveSpanError):
            telemetry.record(count=1)
        assert issubclass(NoActiveSpanError, MetricValidationError)

    def test_record_without_a_span_is_counted_in_warn_mode(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        metricdsl.configure(validation="warn", sinks=["null"])
        telemetry.test_outer.record(count=1)
        telemetry.test_outer.record(count=2)
        telemetry.record(count=3)
        assert metricdsl.stats()["invalid"] == 3
        err = capsys.readouterr().err
        assert err.count("metricdsl.record_unmatched") == 2  # once per metric


class TestEmit:
    def test_emit_sends_one_event_now(self, telemetry: Any, captured: Any) -> None:
        telemetry.test_outer.emit(component="editor", count=3, value=2.5)
        (event,) = captured.events
        assert event["metricName"] == "test_outer"
        assert (event["component"], event["count"], event["value"]) == (
            "editor",
            3,
            2.5,
        )
        assert "result" not in event
        assert "duration" not in event

    def test_emit_leaves_out_fields_set_to_none(
        self, telemetry: Any, captured: Any
    ) -> None:
        telemetry.test_outer.emit(component=None, count=1)
        assert "component" not in captured.events[0]

    def test_emit_missing_a_required_field_raises_in_strict_mode(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(MetricValidationError, match="required field 'component'"):
            telemetry.test_required.emit(label="x")
        assert captured.events == []

    def test_emit_can_carry_explicit_ids(self, telemetry: Any, captured: Any) -> None:
        telemetry.test_outer.emit(traceId="a" * 32, parentId="b" * 16)
        event = captured.events[0]
        assert (event["traceId"], event["parentId"]) == ("a" * 32, "b" * 16)

    def test_emit_with_reason_desc_set_to_none_leaves_it_out(
        self, telemetry: Any, captured: Any
    ) -> None:
        telemetry.test_outer.emit(reason="x", reasonDesc=None)
        event = captured.events[0]
        assert event["reason"] == "x"
        assert "reasonDesc" not in event

    def test_emit_with_a_bad_reason_desc_in_warn_mode_drops_only_that_value(
        self, telemetry: Any
    ) -> None:
        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        telemetry.test_outer.emit(reason="x", reasonDesc=42)
        assert sink.events[0]["reason"] == "x"
        assert "reasonDesc" not in sink.events[0]
        assert metricdsl.stats()["invalid"] == 1


class TestTelemetry:
    def test_metrics_by_attribute_and_by_index_are_the_same_object(
        self, telemetry: Any
    ) -> None:
        assert telemetry.test_outer is telemetry["test_outer"]
        assert isinstance(telemetry.test_outer, metricdsl.Metric)
        assert "test_outer" in telemetry
        assert len(telemetry) == 3
        assert sorted(telemetry) == ["test_inner", "test_outer", "test_required"]
        assert "test_outer" in dir(telemetry)

    def test_an_unknown_metric_is_both_an_attribute_and_a_key_error(
        self, telemetry: Any
    ) -> None:
        with pytest.raises(AttributeError) as by_attribute:
            _ = telemetry.test_outr
        with pytest.raises(KeyError) as by_key:
            _ = telemetry["test_outr"]
        for caught in (by_attribute.value, by_key.value):
            assert isinstance(caught, UnknownMetricError)
            assert isinstance(caught, metricdsl.MetricDslError)
            assert "did you mean 'test_outer' or 'test_inner'?" in str(caught)
        assert not hasattr(telemetry, "nothing_like_it")

    def test_metrics_and_types_are_read_only_mappings(self, telemetry: Any) -> None:
        assert set(telemetry.metrics) == {"test_outer", "test_inner", "test_required"}
        with pytest.raises(TypeError):
            telemetry.metrics["x_y"] = telemetry.test_outer
        with pytest.raises(TypeError):
            telemetry.types["x"] = telemetry.types["count"]
        component = telemetry.types["component"]
        assert isinstance(component, metricdsl.FieldType)
        assert (component.name, component.kind) == ("component", "string")
        assert component.allowed_values == ("editor", "viewer")
        assert component.description == "Which part of the UI."
        assert component.sensitive is False
        assert telemetry.types["secret"].sensitive is True
        assert telemetry.types["level"].allowed_values == (1, 2, 3)
        assert telemetry.types["label"].allowed_values is None
        for name, kind in [
            ("duration", "double"),
            ("value", "double"),
            ("passive", "boolean"),
            ("result", "string"),
        ]:
            assert telemetry.types[name].kind == kind
        assert telemetry.types["result"].allowed_values == (
            "Succeeded",
            "Failed",
            "Cancelled",
        )

    def test_a_metric_describes_itself(self, telemetry: Any) -> None:
        metric = telemetry.test_required
        assert (metric.name, metric.description) == (
            "test_required",
            "Needs a component.",
        )
        assert (metric.unit, metric.passive) == ("Count", True)
        assert list(metric.fields) == ["component", "label"]
        assert metric.fields["component"].required is True
        assert metric.fields["label"].required is False
        assert isinstance(metric.fields["component"], metricdsl.Field)
        assert isinstance(metric.fields["component"], metricdsl.FieldType)
        assert telemetry.test_inner.unit == "None"
        assert "test_required" in repr(metric)
        assert "3 metrics" in repr(telemetry)

    def test_load_needs_a_file(self) -> None:
        with pytest.raises(UsageError):
            metricdsl.load()

    def test_the_default_telemetry_comes_from_the_installed_definitions(
        self,
    ) -> None:
        out = _python(
            "import metricdsl\n"
            "t = metricdsl.telemetry\n"
            "print(t is metricdsl.telemetry, t.paths[0].endswith('definitions.yaml'),"
            " 'metric_setupThing' in t)\n"
        )
        assert out == "True True True"

    def test_metricdsl_definitions_names_the_files(self, tmp_path: Path) -> None:
        extra = tmp_path / "extra.yaml"
        extra.write_text(
            "metrics:\n  - name: extra_thing\n    description: An extra.\n"
        )
        out = _python(
            "import metricdsl\nprint(sorted(metricdsl.telemetry.metrics))\n",
            METRICDSL_DEFINITIONS=os.pathsep.join(
                [str(DEFAULT_DEFINITIONS), str(extra)]
            ),
        )
        assert "'extra_thing'" in out
        assert "'metric_setupThing'" in out


class TestDisabled:
    @pytest.mark.parametrize("variable", ["METRICDSL_DISABLED", "DO_NOT_TRACK"])
    def test_the_environment_turns_telemetry_off(self, variable: str) -> None:
        out = _python(
            "import metricdsl\n"
            "t = metricdsl.telemetry\n"
            "@t.metric_setupThing.run(component='editor')\n"
            "def work():\n"
            "    t.metric_setupThing.record(thingName='x')\n"
            "    return 'ran'\n"
            "print(work(), metricdsl.stats()['emitted'])\n",
            **{variable: "1"},
        )
        assert out == "ran 0"

    def test_disabled_code_still_runs_and_nothing_is_emitted(
        self, telemetry: Any
    ) -> None:
        sink = Collect()
        metricdsl.configure(enabled=False, sinks=[sink])

        @telemetry.test_outer.run
        def work() -> str:
            telemetry.test_outer.record(component="nope-but-unchecked")
            return "ran"

        assert work() == "ran"
        for kind in ("async", "gen", "asyncgen"):
            error = ValueError(kind)
            with pytest.raises(ValueError) as caught:
                _drive(kind, telemetry.test_outer.run(_KINDS[kind])(error))
            assert caught.value is error
        with telemetry.test_outer.span() as span:
            span.record(count=1).increment(count=1).fail("x")
            assert current_span() is None
        telemetry.test_outer.emit()
        telemetry.record(count=1)
        assert sink.events == []
        assert metricdsl.stats()["emitted"] == 0


def _sync_kind(error: Exception, *, flag: bool = False) -> None:
    """A plain function."""
    raise error


async def _async_kind(error: Exception, *, flag: bool = False) -> None:
    """A coroutine function."""
    await asyncio.sleep(0)
    raise error


def _gen_kind(error: Exception, *, flag: bool = False) -> Iterator[int]:
    """A generator function."""
    yield 1
    raise error


async def _asyncgen_kind(error: Exception, *, flag: bool = False) -> AsyncIterator[int]:
    """An async generator function."""
    yield 1
    raise error


_KINDS: dict[str, Any] = {
    "sync": _sync_kind,
    "async": _async_kind,
    "gen": _gen_kind,
    "asyncgen": _asyncgen_kind,
}


def _drive(kind: str, result: Any) -> None:
    """Run what a function of ``kind`` returned to its end."""
    if kind == "async":
        asyncio.run(result)
    elif kind == "gen":
        list(result)
    elif kind == "asyncgen":

        async def consume() -> None:
            async for _ in result:
                pass

        asyncio.run(consume())


def _python(code: str, **env: str) -> str:
    return run_python(
        "-c", code, env=clean_env(METRICDSL_SINKS="null", **env)
    ).stdout.strip()


def test_a_metric_named_like_telemetrys_own_attributes_is_reached_by_index(
    tmp_path: Path,
) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text(
        "metrics:\n"
        "  - {name: _metrics, description: x}\n"
        "  - {name: _definitions, description: x}\n"
        "  - {name: a_b, description: x}\n"
    )
    telemetry = metricdsl.load(path)
    assert set(telemetry.metrics) == {"_metrics", "_definitions", "a_b"}
    assert telemetry["_metrics"].name == "_metrics"
    assert telemetry.a_b is telemetry["a_b"]
