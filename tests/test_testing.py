"""metricdsl.testing: capture(), assert_emitted, assert_no_match, the fixture."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import metricdsl
from metricdsl import MetricValidationError
from metricdsl.testing import Captured, capture

from .conftest import ROOT, TEST_DEFINITIONS


class TestCapture:
    def test_capture_collects_events_in_emission_order(self, telemetry: Any) -> None:
        with capture() as captured:
            telemetry.test_outer.emit(count=1)
            with telemetry.test_inner.span():
                telemetry.test_outer.emit(count=2)
        names = [e["metricName"] for e in captured.events]
        assert names == ["test_outer", "test_outer", "test_inner"]
        assert isinstance(captured, Captured)
        assert "3 events" in repr(captured)

    def test_events_after_the_capture_ended_are_not_collected(
        self, telemetry: Any
    ) -> None:
        metricdsl.configure(sinks=["null"])
        with capture() as captured:
            telemetry.test_outer.emit()
        telemetry.test_outer.emit()
        assert len(captured.events) == 1

    def test_capture_collects_from_every_thread_and_task(self, telemetry: Any) -> None:
        async def task(n: int) -> None:
            telemetry.test_outer.emit(count=n)

        async def main() -> None:
            await asyncio.gather(*(task(n) for n in range(10)))

        with capture() as captured:
            threads = [
                threading.Thread(target=telemetry.test_inner.emit) for _ in range(10)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            asyncio.run(main())
        assert len(captured.named("test_inner")) == 10
        assert sorted(e["count"] for e in captured.named("test_outer")) == list(
            range(10)
        )

    def test_capture_sees_events_after_the_processor_chain(
        self, telemetry: Any
    ) -> None:
        def tag(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
            event["tagged"] = True
            return event

        metricdsl.configure(processors=[tag], sinks=["null"])
        with capture() as captured:
            telemetry.test_outer.emit()
        assert captured.events[0]["tagged"] is True

    def test_capture_works_when_telemetry_is_disabled(self, telemetry: Any) -> None:
        metricdsl.configure(enabled=False)
        with capture() as captured:
            telemetry.test_outer.emit()
        assert len(captured.events) == 1

    def test_capture_works_in_ci(self, telemetry: Any, monkeypatch: Any) -> None:
        monkeypatch.setenv("CI", "true")
        metricdsl.configure(sinks=["null"])  # settings read again
        with capture() as captured:
            telemetry.test_outer.emit()
        assert len(captured.events) == 1

    def test_capture_forces_strict_validation(self, telemetry: Any) -> None:
        metricdsl.configure(validation="warn", sinks=["null"])
        with capture(), pytest.raises(MetricValidationError):
            telemetry.test_outer.emit(count="x")

    def test_a_captured_event_is_a_copy_that_sinks_cannot_change(
        self, telemetry: Any
    ) -> None:
        class Meddling:
            def write(self, event: dict[str, Any]) -> None:
                event["changed"] = True

        metricdsl.configure(sinks=[Meddling()])
        with capture() as captured:
            telemetry.test_outer.emit()
        assert "changed" not in captured.events[0]
        captured.clear()
        assert captured.events == []


class TestAssertEmitted:
    @pytest.fixture
    def captured(self, telemetry: Any) -> Any:
        with capture() as captured:
            telemetry.test_outer.emit(count=1, label="a")
            telemetry.test_inner.emit(label="x")
            telemetry.test_outer.emit(count=2)
        return captured

    def test_a_dict_is_compared_with_the_first_event_of_that_name(
        self, captured: Any
    ) -> None:
        event = captured.assert_emitted("test_outer", {"count": 1, "label": "a"})
        assert event["count"] == 1

    def test_comparison_is_partial_and_none_means_absent(self, captured: Any) -> None:
        captured.assert_emitted("test_outer", {"label": "a", "component": None})
        with pytest.raises(AssertionError, match="'label' is 'a', expected it absent"):
            captured.assert_emitted("test_outer", {"label": None})

    def test_a_mismatch_says_what_differs(self, captured: Any) -> None:
        with pytest.raises(AssertionError) as caught:
            captured.assert_emitted("test_outer", {"count": 5, "flag": True})
        message = str(caught.value)
        assert "test_outer event 0 does not match" in message
        assert "'count' is 1, expected 5" in message
        assert "'flag' is absent, expected True" in message

    def test_a_list_is_compared_element_by_element(self, captured: Any) -> None:
        events = captured.assert_emitted("test_outer", [{"count": 1}, {"count": 2}])
        assert len(events) == 2
        captured.assert_emitted("test_outer", [{"count": 1}])  # extras allowed
        with pytest.raises(AssertionError, match="test_outer event 1"):
            captured.assert_emitted("test_outer", [{"count": 1}, {"count": 3}])
        with pytest.raises(AssertionError, match="at least 3 test_outer events; got 2"):
            captured.assert_emitted("test_outer", [{}, {}, {}])

    def test_an_empty_list_asserts_none_was_emitted(self, captured: Any) -> None:
        assert captured.assert_emitted("test_required", []) == []
        with pytest.raises(AssertionError, match="expected no test_inner event"):
            captured.assert_emitted("test_inner", [])

    def test_a_missing_metric_lists_what_was_emitted(self, captured: Any) -> None:
        with pytest.raises(AssertionError) as caught:
            captured.assert_emitted("test_required", {})
        assert "emitted: test_outer, test_inner, test_outer" in str(caught.value)

    def test_assert_no_match_finds_a_leaked_value(self, captured: Any) -> None:
        captured.assert_no_match(r"s3cr3t")
        with pytest.raises(AssertionError, match=r"field 'label' matches '\^x\$'"):
            captured.assert_no_match(r"^x$")


PLUGIN_TEST = """
import pytest
import metricdsl

t = metricdsl.load({definitions!r})


def test_uses_the_fixture(captured_metrics):
    with t.test_outer.span(count=1):
        pass
    captured_metrics.assert_emitted("test_outer", {{"count": 1, "result": "Succeeded"}})


def test_strict_inside_the_fixture(captured_metrics):
    with pytest.raises(metricdsl.MetricValidationError):
        t.test_outer.emit(count="x")


def test_a_failing_assertion_fails_the_test(captured_metrics):
    t.test_outer.emit(count=1)
    captured_metrics.assert_emitted("test_outer", {{"count": 2}})
"""


def test_the_fixture_works_in_a_real_pytest_run(tmp_path: Path) -> None:
    definitions = tmp_path / "defs.yaml"
    definitions.write_text(TEST_DEFINITIONS)
    test_file = tmp_path / "test_plugin_use.py"
    test_file.write_text(
        textwrap.dedent(PLUGIN_TEST.format(definitions=str(definitions)))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["METRICDSL_SINKS"] = "null"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(test_file),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
        timeout=120,
    )
    assert "1 failed, 2 passed" in done.stdout, done.stdout + done.stderr
    assert "'count' is 1, expected 2" in done.stdout
    assert done.returncode == 1
    assert ROOT.exists()
