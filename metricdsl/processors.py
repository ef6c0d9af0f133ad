"""structlog processors for the application's own logging chain.

``add_span_context`` puts the active span's ``traceId``, ``metricId`` and
``metricName`` on every log line, so logs and telemetry join up::

    structlog.configure(processors=[metricdsl.processors.add_span_context, ...])
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ._span import get_current

__all__ = ["add_span_context"]


def add_span_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add ``traceId``, ``metricId`` and ``metricName`` of the active span, if any.

    Keys the log call already set are left alone.
    """
    span = get_current()
    if span is not None:
        event_dict.setdefault("traceId", span.trace_id)
        event_dict.setdefault("metricId", span.metric_id)
        event_dict.setdefault("metricName", span.metric.name)
    return event_dict
