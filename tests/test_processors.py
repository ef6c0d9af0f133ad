"""metricdsl.processors: structlog processors for the application's own logs."""

from __future__ import annotations

from typing import Any

import structlog

from metricdsl.processors import add_span_context


class TestAddSpanContext:
    def test_log_lines_inside_a_span_carry_its_ids(
        self, telemetry: Any, captured: Any
    ) -> None:
        capture = structlog.testing.LogCapture()
        log = structlog.wrap_logger(
            None,
            processors=[add_span_context, capture],
            wrapper_class=structlog.BoundLogger,
        )
        with telemetry.test_outer.span() as outer:
            log.info("outer work")
            with telemetry.test_inner.span() as inner:
                log.info("inner work")
        log.info("no span")
        first, second, third = capture.entries
        assert (first["traceId"], first["metricId"], first["metricName"]) == (
            outer.trace_id,
            outer.metric_id,
            "test_outer",
        )
        assert (second["metricId"], second["metricName"]) == (
            inner.metric_id,
            "test_inner",
        )
        assert "traceId" not in third
        assert "metricId" not in third

    def test_keys_the_log_call_set_are_kept(
        self, telemetry: Any, captured: Any
    ) -> None:
        event = {"event": "x", "metricName": "mine"}
        with telemetry.test_outer.span():
            result = add_span_context(None, "info", event)
        assert result["metricName"] == "mine"
        assert "traceId" in result
