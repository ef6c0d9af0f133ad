"""Spans: the event a span emits, ids and nesting, failures, context."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import re
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

import pytest

import metricdsl
from metricdsl import MetricValidationError, current_span, wrap_context

from .support import Collect

HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class TestEvent:
    def test_a_span_emits_one_event_with_the_always_present_keys(
        self, telemetry: Any, captured: Any
    ) -> None:
        before = time.time_ns() // 1_000_000
        with telemetry.test_outer.span(component="editor"):
            pass
        after = time.time_ns() // 1_000_000
        (event,) = captured.events
        assert list(event)[:5] == [
            "metricName",
            "epochTimestamp",
            "unit",
            "value",
            "passive",
        ]
        assert event["metricName"] == "test_outer"
        assert before <= event["epochTimestamp"] <= after
        assert isinstance(event["epochTimestamp"], int)
        assert event["unit"] == "Milliseconds"
        assert event["value"] == 1
        assert event["passive"] is False
        assert event["component"] == "editor"
        assert event["result"] == "Succeeded"
        assert isinstance(event["duration"], float)
        assert event["duration"] >= 0
        assert HEX32.match(event["traceId"])
        assert HEX16.match(event["metricId"])
        assert "parentId" not in event

    def test_unit_and_passive_come_from_the_definition(
        self, telemetry: Any, captured: Any
    ) -> None:
        telemetry.test_required.emit(component="viewer")
        telemetry.test_inner.emit()
        first, second = captured.events
        assert (first["unit"], first["passive"]) == ("Count", True)
        assert (second["unit"], second["passive"]) == ("None", False)

    def test_duration_is_measured_in_milliseconds(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span():
            time.sleep(0.02)
        (event,) = captured.events
        assert 20 <= event["duration"] < 20_000

    def test_epoch_timestamp_is_the_start_of_the_span(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span():
            started = time.time_ns() // 1_000_000
            time.sleep(0.05)
        (event,) = captured.events
        assert event["epochTimestamp"] <= started

    def test_a_field_set_to_none_is_left_out(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span(label="x") as span:
            span.record(label=None, count=None)
        (event,) = captured.events
        assert "label" not in event
        assert "count" not in event

    def test_sensitive_values_are_redacted_before_any_sink(
        self, telemetry: Any, captured: Any
    ) -> None:
        sink = Collect()
        metricdsl.configure(sinks=[sink])
        with telemetry.test_outer.span(secret="hunter2") as span:
            assert span.fields["secret"] == "hunter2"  # the program still sees it
        telemetry.test_outer.emit(secret="hunter2")
        assert [e["secret"] for e in captured.events] == ["<redacted>"] * 2
        assert [e["secret"] for e in sink.events] == ["<redacted>"] * 2
        captured.assert_no_match("hunter2")

    def test_a_global_field_made_sensitive_is_redacted_in_every_event(
        self, tmp_path: Any, captured: Any
    ) -> None:
        """A file may redefine a global field as sensitive: metrics that do not
        list it carry it too (recorded, emitted or taken from an exception)."""
        path = tmp_path / "defs.yaml"
        path.write_text(
            "types:\n"
            "  - {name: requestId, sensitive: true, description: Secret here.}\n"
            "metrics:\n"
            "  - {name: test_plain, description: Lists no fields.}\n"
        )
        plain = metricdsl.load(path).test_plain

        class ClientError(Exception):
            response = {"ResponseMetadata": {"RequestId": "req-1"}}

        plain.emit(requestId="abc")
        with plain.span() as span:
            span.record(requestId="def")
        with pytest.raises(ClientError), plain.span():
            raise ClientError()
        assert [e["requestId"] for e in captured.events] == ["<redacted>"] * 3


class TestIds:
    def test_nested_spans_share_the_trace_and_link_to_their_parent(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as outer:
            with telemetry.test_inner.span() as inner:
                assert inner.parent_id == outer.metric_id
                assert inner.trace_id == outer.trace_id
        inner_event, outer_event = captured.events
        assert inner_event["parentId"] == outer_event["metricId"]
        assert inner_event["traceId"] == outer_event["traceId"]
        assert outer.parent_id is None

    def test_sibling_roots_start_new_traces(
        self, telemetry: Any, captured: Any
    ) -> None:
        for _ in range(3):
            with telemetry.test_outer.span():
                pass
        traces = {e["traceId"] for e in captured.events}
        ids = {e["metricId"] for e in captured.events}
        assert len(traces) == 3
        assert len(ids) == 3

    def test_emit_inside_a_span_joins_its_trace(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as outer:
            telemetry.test_inner.emit(label="inside")
        telemetry.test_inner.emit(label="outside")
        inside, _, outside = captured.events
        assert inside["traceId"] == outer.trace_id
        assert inside["parentId"] == outer.metric_id
        assert inside["metricId"] != outer.metric_id
        assert HEX16.match(inside["metricId"])
        assert "traceId" not in outside
        assert "parentId" not in outside
        assert HEX16.match(outside["metricId"])

    def test_the_span_ids_win_over_recorded_ones(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            span.record(traceId="x" * 32, metricId="y" * 16, duration=5.0)
        (event,) = captured.events
        assert event["traceId"] == span.trace_id
        assert event["metricId"] == span.metric_id
        assert event["duration"] != 5.0


class Boom(Exception):
    pass


def _raise_boom() -> None:
    raise Boom("it broke")


class TestFailures:
    def test_an_escaping_exception_fails_the_span_and_propagates_unchanged(
        self, telemetry: Any, captured: Any
    ) -> None:
        error = Boom("it broke")
        with pytest.raises(Boom) as caught, telemetry.test_outer.span():
            raise error
        assert caught.value is error
        (event,) = captured.events
        assert event["result"] == "Failed"
        assert event["reason"] == "Boom"
        assert event["reasonDesc"] == "Boom: it broke"

    def test_the_traceback_still_starts_at_the_original_raise(
        self, telemetry: Any, captured: Any
    ) -> None:
        run = telemetry.test_outer.run(_raise_boom)
        with pytest.raises(Boom) as caught:
            run()
        frames = traceback.extract_tb(caught.value.__traceback__)
        assert frames[-1].name == "_raise_boom"
        assert frames[-1].line == 'raise Boom("it broke")'

    def test_the_users_exception_wins_over_a_failure_inside_metricdsl(
        self, telemetry: Any, captured: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Strict mode raises a failing processor's error, but not in place of
        the user's own exception on its way out."""

        def broken(logger: Any, method: str, event: dict[str, Any]) -> Any:
            raise RuntimeError("processor bug")

        metricdsl.configure(processors=[broken])
        error = Boom("mine")
        with pytest.raises(Boom) as caught, telemetry.test_outer.span():
            raise error
        assert caught.value is error
        run = telemetry.test_outer.run(_raise_boom)
        with pytest.raises(Boom):
            run()
        assert "processor bug" in capsys.readouterr().err
        with pytest.raises(RuntimeError, match="processor bug"):
            with telemetry.test_outer.span():
                pass

    def test_the_code_attribute_gives_the_reason(
        self, telemetry: Any, captured: Any
    ) -> None:
        class Coded(Exception):
            def __init__(self, code: Any) -> None:
                super().__init__("msg")
                self.code = code

        for code in ("Throttled", "", 42, None):
            with pytest.raises(Coded), telemetry.test_outer.span():
                raise Coded(code)
        reasons = [e["reason"] for e in captured.events]
        assert reasons == ["Throttled", "Coded", "Coded", "Coded"]

    def test_reason_desc_follows_the_cause_chain(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(RuntimeError), telemetry.test_outer.span():
            try:
                try:
                    raise KeyError("k")
                except KeyError as inner:
                    raise ValueError("bad value") from inner
            except ValueError as middle:
                raise RuntimeError("outer") from middle
        (event,) = captured.events
        assert event["reasonDesc"] == (
            "RuntimeError: outer | ValueError: bad value | KeyError: 'k'"
        )

    def test_an_exception_without_message_shows_its_class(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(Boom), telemetry.test_outer.span():
            raise Boom
        assert captured.events[0]["reasonDesc"] == "Boom"

    def test_reason_desc_is_cut_to_350_characters(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(Boom), telemetry.test_outer.span():
            raise Boom("x" * 1000)
        desc = captured.events[0]["reasonDesc"]
        assert len(desc) == 350
        assert desc.startswith("Boom: xxx")
        assert desc.endswith("…")

    @pytest.mark.parametrize(
        ("message", "expected"),
        [
            ("open /home/alice/x.txt", "open ~/x.txt"),
            ("open /Users/bob/Library/y", "open ~/Library/y"),
            (r"open C:\Users\carol\z.txt", r"open ~\z.txt"),
            ("password=hunter2 next", "password=<redacted> next"),
            ("db_password: 'p w'", "db_password: <redacted>"),
            ("client_secret=abc&x=1", "client_secret=<redacted>&x=1"),
            ("token: eyJhbGciOi", "token: <redacted>"),
            ("API_KEY=sk-123", "API_KEY=<redacted>"),
            ("api-key = sk-123", "api-key = <redacted>"),
            ('{"credentials": "abc"}', '{"credentials": <redacted>}'),
            ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer <redacted>"),
            ("key AKIAIOSFODNN7EXAMPLE used", "key <redacted> used"),
            ("x-api-key: k1, y", "x-api-key: <redacted>, y"),
            ("AWS_SECRET_ACCESS_KEY=abc/def", "AWS_SECRET_ACCESS_KEY=<redacted>"),
            ("'myTokens'='a b'", "'myTokens'=<redacted>"),
            ("tokenizer ran", "tokenizer ran"),
            ("nothing secret here", "nothing secret here"),
        ],
    )
    def test_reason_desc_is_scrubbed(
        self, telemetry: Any, captured: Any, message: str, expected: str
    ) -> None:
        with pytest.raises(Boom), telemetry.test_outer.span():
            raise Boom(message)
        assert captured.events[0]["reasonDesc"] == f"Boom: {expected}"

    def test_the_current_users_home_is_scrubbed(
        self, telemetry: Any, captured: Any
    ) -> None:
        home = os.path.expanduser("~")
        with pytest.raises(Boom), telemetry.test_outer.span():
            raise Boom(f"cannot read {home}/notes.txt")
        assert captured.events[0]["reasonDesc"] == "Boom: cannot read ~/notes.txt"

    def test_a_recorded_reason_desc_is_scrubbed_and_cut_too(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            span.record(reasonDesc="token=abc " + "y" * 400)
        desc = captured.events[0]["reasonDesc"]
        assert desc.startswith("token=<redacted> yyy")
        assert len(desc) == 350

    def test_request_details_come_from_a_botocore_style_error(
        self, telemetry: Any, captured: Any
    ) -> None:
        class ClientError(Exception):
            def __init__(self) -> None:
                super().__init__("An error occurred (AccessDenied)")
                self.response = {
                    "Error": {"Code": "AccessDenied"},
                    "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 403},
                }

        with pytest.raises(ClientError), telemetry.test_outer.span():
            raise ClientError()
        event = captured.events[0]
        assert (event["requestId"], event["httpStatusCode"]) == ("req-1", "403")

    def test_request_details_come_from_an_attached_response(
        self, telemetry: Any, captured: Any
    ) -> None:
        class Response:
            status_code = 502
            headers = {"x-request-id": "abc-123"}

        class HTTPError(Exception):
            response = Response()

        class StatusError(Exception):
            status_code = 404

        with pytest.raises(HTTPError), telemetry.test_outer.span():
            raise HTTPError("bad gateway")
        with pytest.raises(StatusError), telemetry.test_outer.span():
            raise StatusError("not found")
        first, second = captured.events
        assert (first["requestId"], first["httpStatusCode"]) == ("abc-123", "502")
        assert second["httpStatusCode"] == "404"
        assert "requestId" not in second

    def test_an_exception_with_broken_attributes_still_gives_its_event(
        self, telemetry: Any, captured: Any
    ) -> None:
        """``code`` and ``response`` are read from the user's exception: one
        that raises when read costs those details, never the event."""

        class Odd(Exception):
            @property
            def code(self) -> str:
                raise RuntimeError("no code")

            @property
            def response(self) -> Any:
                raise RuntimeError("no response")

            @property
            def status_code(self) -> int:
                raise RuntimeError("no status")

        error = Odd("odd")
        with pytest.raises(Odd) as caught, telemetry.test_outer.span():
            raise error
        assert caught.value is error
        with telemetry.test_outer.span() as span:
            span.fail(Odd("handled"))

        class Unprintable(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no str")

        with pytest.raises(ValueError), telemetry.test_outer.span():
            raise ValueError("outer") from Unprintable()
        escaped, failed, chained = captured.events
        assert chained["reasonDesc"] == "ValueError: outer | Unprintable: <unprintable>"
        assert (escaped["result"], escaped["reason"]) == ("Failed", "Odd")
        assert escaped["reasonDesc"] == "Odd: odd"
        assert "httpStatusCode" not in escaped
        assert (failed["result"], failed["reason"]) == ("Failed", "Odd")

    def test_a_huge_message_is_scrubbed_without_stalling_the_program(
        self, tmp_path: Any
    ) -> None:
        """Scrubbing runs on the caller's thread when the span ends: a message
        of megabytes (a blob, a dump, no spaces) must not hold it up. Run in a
        child process that must finish; never a wall-clock limit."""
        program = (
            "from metricdsl.testing import capture\n"
            "import metricdsl\n"
            f"t = metricdsl.load({str(tmp_path / 'defs.yaml')!r})\n"
            "for message in ('token' * 200_000, 'a' * 1_000_000, 'x=' * 300_000):\n"
            "    with capture() as c:\n"
            "        try:\n"
            "            with t.test_outer.span():\n"
            "                raise ValueError(message)\n"
            "        except ValueError:\n"
            "            pass\n"
            "        with t.test_outer.span() as span:\n"
            "            span.record(reasonDesc=message)\n"
            "    assert [len(e['reasonDesc']) for e in c.events] == [350, 350]\n"
            "print('done')\n"
        )
        from .conftest import TEST_DEFINITIONS

        (tmp_path / "defs.yaml").write_text(TEST_DEFINITIONS)
        done = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.stdout.strip() == "done", done.stderr

    def test_the_users_home_is_scrubbed_only_as_a_whole_path(
        self, telemetry: Any, captured: Any
    ) -> None:
        home = os.path.expanduser("~")
        with pytest.raises(Boom), telemetry.test_outer.span():
            raise Boom(f"{home}fs/data is not {home}")
        desc = captured.events[0]["reasonDesc"]
        assert desc.endswith("is not ~")
        assert "~fs" not in desc

    def test_recorded_values_win_over_the_exception(
        self, telemetry: Any, captured: Any
    ) -> None:
        class StatusError(Exception):
            status_code = 500
            code = "ServerError"

        with pytest.raises(StatusError), telemetry.test_outer.span() as span:
            span.record(
                reason="quotaExceeded",
                reasonDesc="out of quota",
                httpStatusCode="429",
                requestId="mine",
            )
            raise StatusError("x")
        event = captured.events[0]
        assert event["reason"] == "quotaExceeded"
        assert event["reasonDesc"] == "out of quota"
        assert event["httpStatusCode"] == "429"
        assert event["requestId"] == "mine"

    def test_an_exception_fails_the_span_even_if_succeeded_was_recorded(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(Boom), telemetry.test_outer.span() as span:
            span.record(result="Succeeded")
            raise Boom()
        assert captured.events[0]["result"] == "Failed"

    def test_without_an_exception_the_recorded_result_wins(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            span.record(result="Cancelled", reason="userClosedDialog")
        event = captured.events[0]
        assert (event["result"], event["reason"]) == ("Cancelled", "userClosedDialog")


class TestFail:
    def test_fail_with_a_string_sets_the_reason_without_raising(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            assert span.fail("noCredentials") is span
        event = captured.events[0]
        assert (event["result"], event["reason"]) == ("Failed", "noCredentials")
        assert "reasonDesc" not in event

    def test_fail_with_an_exception_describes_it(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            span.fail(Boom("handled"))
        event = captured.events[0]
        assert event["result"] == "Failed"
        assert (event["reason"], event["reasonDesc"]) == ("Boom", "Boom: handled")

    def test_the_last_fail_wins(self, telemetry: Any, captured: Any) -> None:
        with telemetry.test_outer.span() as span:
            span.fail(Boom("first"))
            span.fail("second")
        event = captured.events[0]
        assert event["reason"] == "second"
        assert "reasonDesc" not in event

    def test_fail_beats_a_recorded_success_but_not_a_recorded_reason(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            span.record(result="Succeeded", reason="mine")
            span.fail("theirs")
        event = captured.events[0]
        assert (event["result"], event["reason"]) == ("Failed", "mine")


class TestCancellation:
    def test_asyncio_cancellation_cancels_the_span(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        async def wait_forever() -> None:
            await asyncio.sleep(3600)

        async def main() -> None:
            task = asyncio.ensure_future(wait_forever())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        event = captured.events[0]
        assert (event["result"], event["reason"]) == ("Cancelled", "CancelledError")

    def test_keyboard_interrupt_cancels_the_span(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(KeyboardInterrupt), telemetry.test_outer.span():
            raise KeyboardInterrupt
        assert captured.events[0]["result"] == "Cancelled"

    def test_a_generator_closed_early_is_cancelled(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        def numbers() -> Any:
            yield 1
            yield 2

        gen = numbers()
        assert next(gen) == 1
        gen.close()
        event = captured.events[0]
        assert (event["result"], event["reason"]) == ("Cancelled", "GeneratorExit")

    def test_a_generator_dropped_before_it_finished_is_cancelled(
        self, telemetry: Any, captured: Any
    ) -> None:
        @telemetry.test_outer.run
        def numbers() -> Any:
            yield 1
            yield 2

        @telemetry.test_inner.run
        async def ticks() -> Any:
            yield 1
            yield 2

        gen = numbers()
        next(gen)
        cycle: list[Any] = [gen]
        cycle.append(cycle)  # only the garbage collector frees it
        del gen, cycle
        gc.collect()

        async def main() -> None:
            agen = ticks()
            await agen.__anext__()
            del agen  # asyncio's finaliser closes it on the loop
            await asyncio.sleep(0.01)

        asyncio.run(main())
        results = [(e["metricName"], e["result"]) for e in captured.events]
        assert results == [("test_outer", "Cancelled"), ("test_inner", "Cancelled")]

    def test_configured_exception_classes_count_as_cancelled(
        self, telemetry: Any, captured: Any
    ) -> None:
        class UserAborted(Exception):
            pass

        metricdsl.configure(cancellation=[UserAborted])
        with pytest.raises(UserAborted), telemetry.test_outer.span():
            raise UserAborted()
        with pytest.raises(Boom), telemetry.test_outer.span():
            raise Boom()
        assert [e["result"] for e in captured.events] == ["Cancelled", "Failed"]


class TestSpanObject:
    def test_fields_is_a_read_only_view_of_what_was_recorded(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span(component="editor") as span:
            span.record(count=2)
            assert dict(span.fields) == {"component": "editor", "count": 2}
            with pytest.raises(TypeError):
                span.fields["count"] = 3  # type: ignore[index]

    def test_record_none_removes_a_value(self, telemetry: Any, captured: Any) -> None:
        with telemetry.test_outer.span() as span:
            assert span.record(label="x") is span
            span.record(label=None)
            assert "label" not in span.fields

    def test_increment_adds_from_zero(self, telemetry: Any, captured: Any) -> None:
        with telemetry.test_outer.span() as span:
            assert span.increment(count=2) is span
            span.increment(count=3, ratio=0.5)
            span.increment(ratio=0.25)
        event = captured.events[0]
        assert (event["count"], event["ratio"]) == (5, 0.75)

    def test_increment_of_a_field_that_is_not_a_number_is_a_violation(
        self, telemetry: Any, captured: Any
    ) -> None:
        with (
            telemetry.test_outer.span() as span,
            pytest.raises(MetricValidationError, match="label"),
        ):
            span.increment(label=1)

    def test_the_span_knows_its_metric_and_whether_it_ended(
        self, telemetry: Any, captured: Any
    ) -> None:
        span = telemetry.test_outer.span()
        assert span.metric is telemetry.test_outer
        assert span.ended is False
        with span:
            assert span.ended is False
            assert current_span() is span
        assert span.ended is True
        assert current_span() is None
        assert "test_outer" in repr(span)

    def test_recording_on_an_ended_span_is_a_violation(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            pass
        with pytest.raises(MetricValidationError, match="ended"):
            span.record(count=1)

    def test_recording_on_an_ended_span_is_counted_in_warn_mode(
        self, telemetry: Any
    ) -> None:
        metricdsl.configure(validation="warn", sinks=["null"])
        with telemetry.test_outer.span() as span:
            pass
        span.record(count=1)
        assert metricdsl.stats()["invalid"] == 1

    def test_fail_on_an_ended_span_is_a_violation(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            pass
        with pytest.raises(MetricValidationError, match="ended"):
            span.fail("tooLate")
        assert captured.events[0]["result"] == "Succeeded"

    def test_increment_by_a_bool_is_a_violation(
        self, telemetry: Any, captured: Any
    ) -> None:
        with telemetry.test_outer.span() as span:
            with pytest.raises(MetricValidationError, match="count"):
                span.increment(count=True)
            span.increment(count=2)
        assert captured.events[0]["count"] == 2

    def test_increments_from_many_threads_lose_no_count(
        self, telemetry: Any, captured: Any
    ) -> None:
        """Worker threads share the span through wrap_context; every one of
        their increments counts (switching threads as often as possible)."""
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            with telemetry.test_outer.span() as span:

                def work() -> None:
                    for _ in range(5000):
                        span.increment(count=1, ratio=0.5)

                threads = [
                    threading.Thread(target=wrap_context(work)) for _ in range(8)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        finally:
            sys.setswitchinterval(interval)
        event = captured.events[0]
        assert (event["count"], event["ratio"]) == (40_000, 20_000.0)

    def test_a_span_emits_one_event_however_often_it_is_exited(
        self, telemetry: Any
    ) -> None:
        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        span = telemetry.test_outer.span()
        with span:
            with span:  # misuse: warned, not raised
                pass
        span.__exit__(None, None, None)
        with span:  # an ended span entered again: nothing new
            pass
        assert len(sink.events) == 1
        assert current_span() is None

    def test_a_span_entered_twice_is_misuse(
        self, telemetry: Any, captured: Any
    ) -> None:
        span = telemetry.test_outer.span()
        with span, pytest.raises(metricdsl.UsageError), span:
            pass

    def test_an_async_with_span_emits_like_with(
        self, telemetry: Any, captured: Any
    ) -> None:
        async def main() -> None:
            async with telemetry.test_outer.span(count=1) as span:
                assert current_span() is span
                await asyncio.sleep(0)

        asyncio.run(main())
        assert captured.events[0]["count"] == 1


class TestRequiredFields:
    def test_a_missing_required_field_raises_at_the_span_end_in_strict_mode(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(MetricValidationError, match="'component'"):
            with telemetry.test_required.span():
                pass
        assert captured.events == []

    def test_an_escaping_exception_wins_and_the_event_lists_missing_fields(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(Boom), telemetry.test_required.span():
            raise Boom()
        event = captured.events[0]
        assert event["missingFields"] == "component"
        assert event["result"] == "Failed"

    def test_warn_mode_emits_the_event_with_missing_fields(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        with telemetry.test_required.span():
            pass
        telemetry.test_required.emit()
        assert [e["missingFields"] for e in sink.events] == ["component", "component"]
        assert metricdsl.stats()["invalid"] == 2
        assert capsys.readouterr().err.count("metricdsl.field_invalid") == 1

    def test_several_missing_fields_are_listed_comma_separated(
        self, tmp_path: Any
    ) -> None:
        path = tmp_path / "defs.yaml"
        path.write_text(
            "types:\n"
            "  - {name: first, description: x}\n"
            "  - {name: second, type: int, description: x}\n"
            "  - {name: third, description: x}\n"
            "metrics:\n"
            "  - name: test_many\n"
            "    description: x\n"
            "    metadata: [{type: first}, {type: second}, {type: third}]\n"
        )
        many = metricdsl.load(path).test_many
        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        with many.span(second=2):
            pass
        many.emit()
        assert [e["missingFields"] for e in sink.events] == [
            "first, third",
            "first, second, third",
        ]

    def test_off_mode_does_not_check_required_fields(self, telemetry: Any) -> None:
        sink = Collect()
        metricdsl.configure(validation="off", sinks=[sink])
        with telemetry.test_required.span():
            pass
        telemetry.test_required.emit()
        assert [e.get("missingFields") for e in sink.events] == [None, None]
        assert metricdsl.stats()["invalid"] == 0


class TestContext:
    def test_current_span_is_the_innermost_active_span(
        self, telemetry: Any, captured: Any
    ) -> None:
        assert current_span() is None
        with telemetry.test_outer.span() as outer:
            assert current_span() is outer
            with telemetry.test_inner.span() as inner:
                assert current_span() is inner
            assert current_span() is outer
        assert current_span() is None

    def test_a_generator_span_is_active_only_while_its_body_runs(
        self, telemetry: Any, captured: Any
    ) -> None:
        seen_inside: list[Any] = []

        @telemetry.test_inner.run
        def steps() -> Any:
            for i in range(2):
                seen_inside.append(current_span())
                yield i

        with telemetry.test_outer.span() as outer:
            gen = steps()
            next(gen)
            assert current_span() is outer  # the caller's context is back
            next(gen)
            assert current_span() is outer
            assert list(gen) == []
        assert current_span() is None
        inner_span = seen_inside[0]
        assert inner_span.metric is telemetry.test_inner
        assert seen_inside == [inner_span, inner_span]
        inner_event = captured.named("test_inner")[0]
        assert inner_event["parentId"] == outer.metric_id
        assert inner_event["result"] == "Succeeded"

    def test_a_new_thread_starts_without_spans(
        self, telemetry: Any, captured: Any
    ) -> None:
        seen: list[Any] = []
        with telemetry.test_outer.span():
            thread = threading.Thread(target=lambda: seen.append(current_span()))
            thread.start()
            thread.join()
        assert seen == [None]

    def test_wrap_context_carries_the_spans_into_a_thread(
        self, telemetry: Any, captured: Any
    ) -> None:
        seen: list[Any] = []

        def work(n: int) -> int:
            seen.append(current_span())
            telemetry.test_outer.record(count=n)
            return n * 2

        with telemetry.test_outer.span() as outer:
            wrapped = wrap_context(work)
            assert wrapped.__name__ == "work"
            threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(1, 4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert seen == [outer, outer, outer]
        assert captured.events[0]["count"] in (1, 2, 3)

    def test_spans_in_threads_never_cross(self, telemetry: Any, captured: Any) -> None:
        """16 real threads nest spans with random pauses; each thread's events
        link only to that thread's spans and carry only its own fields."""
        threads_count, rounds = 16, 20
        barrier = threading.Barrier(threads_count)

        def worker(n: int) -> None:
            rng = random.Random(n)
            barrier.wait()
            for _ in range(rounds):
                with telemetry.test_outer.span(count=n):
                    time.sleep(rng.random() / 2000)
                    with telemetry.test_inner.span(label=str(n)):
                        time.sleep(rng.random() / 2000)
                        telemetry.test_outer.record(ratio=float(n))
                        telemetry.test_inner.record(count=n)

        threads = [
            threading.Thread(target=worker, args=(n,)) for n in range(threads_count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _assert_no_crosstalk(captured.events, threads_count * rounds)

    def test_spans_in_asyncio_tasks_never_cross(
        self, telemetry: Any, captured: Any
    ) -> None:
        """50 concurrent tasks interleave at every await."""
        tasks_count, rounds = 50, 5

        async def worker(n: int) -> None:
            rng = random.Random(n)
            for _ in range(rounds):
                async with telemetry.test_outer.span(count=n):
                    await asyncio.sleep(rng.random() / 1000)
                    async with telemetry.test_inner.span(label=str(n)):
                        await asyncio.sleep(rng.random() / 1000)
                        telemetry.test_outer.record(ratio=float(n))
                        telemetry.test_inner.record(count=n)

        async def main() -> None:
            await asyncio.gather(*(worker(n) for n in range(tasks_count)))

        asyncio.run(main())
        _assert_no_crosstalk(captured.events, tasks_count * rounds)

    def test_a_span_ended_in_another_task_still_emits_once(
        self, telemetry: Any, captured: Any
    ) -> None:
        span = telemetry.test_outer.span()

        async def begin() -> Any:
            span.__enter__()
            return current_span()

        async def end() -> Any:
            span.__exit__(None, None, None)
            return current_span()

        async def main() -> None:
            assert await asyncio.create_task(begin()) is span
            assert await asyncio.create_task(end()) is None
            assert current_span() is None

        asyncio.run(main())
        assert span.ended is True
        assert [e["result"] for e in captured.events] == ["Succeeded"]

    def test_a_task_that_ends_the_span_it_inherited_is_left_with_the_parent(
        self, telemetry: Any, captured: Any
    ) -> None:
        async def main() -> None:
            with telemetry.test_outer.span() as outer:
                inner = telemetry.test_inner.span().__enter__()

                async def end_it() -> Any:
                    inner.__exit__(None, None, None)
                    return current_span()

                assert await asyncio.create_task(end_it()) is outer
                assert current_span() is inner  # this context still holds it

        asyncio.run(main())
        assert [e["metricName"] for e in captured.events] == [
            "test_inner",
            "test_outer",
        ]

    def test_recording_from_a_task_that_outlived_its_span_is_a_violation(
        self, telemetry: Any, captured: Any
    ) -> None:
        async def main() -> None:
            late = asyncio.Event()

            async def background() -> None:
                await late.wait()
                with pytest.raises(MetricValidationError, match="ended"):
                    telemetry.test_outer.record(count=1)

            with telemetry.test_outer.span():
                task = asyncio.create_task(background())
            late.set()
            await task

        asyncio.run(main())
        assert "count" not in captured.events[0]

    def test_a_task_inherits_the_span_that_created_it(
        self, telemetry: Any, captured: Any
    ) -> None:
        async def child() -> None:
            with telemetry.test_inner.span():
                await asyncio.sleep(0)

        async def main() -> None:
            with telemetry.test_outer.span():
                await asyncio.gather(asyncio.create_task(child()), child())

        asyncio.run(main())
        outer = captured.named("test_outer")[0]
        children = captured.named("test_inner")
        assert [c["parentId"] for c in children] == [outer["metricId"]] * 2


def _assert_no_crosstalk(events: list[dict[str, Any]], pairs: int) -> None:
    outers = {e["metricId"]: e for e in events if e["metricName"] == "test_outer"}
    inners = [e for e in events if e["metricName"] == "test_inner"]
    assert len(outers) == pairs
    assert len(inners) == pairs
    for inner in inners:
        owner = int(inner["label"])
        outer = outers[inner["parentId"]]
        assert outer["count"] == owner
        assert outer["ratio"] == float(owner)
        assert inner["count"] == owner
        assert inner["traceId"] == outer["traceId"]
        assert "parentId" not in outer


def test_recursion_limit_is_not_consumed_by_spans(
    telemetry: Any, captured: Any
) -> None:
    """Deeply nested spans (a recursive decorated function) all emit."""

    @telemetry.test_inner.run
    def down(n: int) -> int:
        return 0 if n == 0 else 1 + down(n - 1)

    depth = min(200, sys.getrecursionlimit() // 5)
    assert down(depth) == depth
    events = captured.events
    assert len(events) == depth + 1
    assert all(e["traceId"] == events[0]["traceId"] for e in events)
