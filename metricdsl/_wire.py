"""What the network sender puts on the wire: the JSON batch and OTLP/HTTP logs.

Events reach the sender already rendered as compact JSON (``_sinks.dumps``), so
the JSON batch is assembled from those bytes without decoding them again.
OTLP/HTTP (https://opentelemetry.io/docs/specs/otlp/) uses the JSON encoding:
ids as hex strings, 64-bit integers as decimal strings, one log record per
event. The protobuf encoding is built from the same mapping with the official
``opentelemetry-proto`` classes when that optional extra is installed.
"""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Final

from ._sinks import dumps

__all__ = [
    "GZIP_ABOVE",
    "JSON",
    "PROTOBUF",
    "compressed",
    "json_batch",
    "loads",
    "otlp_protobuf",
    "otlp_request",
    "refused_records",
    "wants_protobuf",
]

JSON: Final = "application/json"
PROTOBUF: Final = "application/x-protobuf"
#: Bodies larger than this many bytes are sent gzip-compressed.
GZIP_ABOVE: Final = 1024

try:  # the same optional fast encoder as _sinks
    import orjson

    loads: Any = orjson.loads
except ImportError:  # pragma: no cover - exercised where orjson is absent
    loads = json.loads


def compressed(body: bytes) -> tuple[bytes, bool]:
    """``body`` gzipped (fast level) when it is large enough to gain from it."""
    if len(body) <= GZIP_ABOVE:
        return body, False
    return gzip.compress(body, compresslevel=1, mtime=0), True


# -- protocol="json" ------------------------------------------------------------


def json_batch(client_id: str, session_id: str, events: Sequence[bytes]) -> bytes:
    """``{"clientId", "sessionId", "events": [...]}`` from events rendered as JSON."""
    head = dumps({"clientId": client_id, "sessionId": session_id})
    return b"".join((head[:-1], b',"events":[', b",".join(events), b"]}"))


# -- protocol="otlp" ------------------------------------------------------------

#: Event keys that become parts of the log record rather than attributes.
_RECORD_KEYS: Final = frozenset({"metricName", "epochTimestamp", "traceId", "metricId"})
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
_SPAN_ID: Final = re.compile(r"[0-9a-f]{16}")
_SEVERITY: Final = {"Failed": (17, "ERROR"), "Cancelled": (13, "WARN")}
_INFO: Final = (9, "INFO")
_INT64: Final = range(-(2**63), 2**63)


def otlp_request(
    client_id: str, session_id: str, events: Sequence[bytes]
) -> dict[str, Any]:
    """An ``ExportLogsServiceRequest`` in the OTLP/HTTP JSON mapping."""
    from . import __version__

    resource = [
        _attribute("service.name", _service_name()),
        _attribute("telemetry.sdk.name", "metricdsl"),
        _attribute("telemetry.sdk.language", "python"),
        _attribute("telemetry.sdk.version", __version__),
        _attribute("session.id", session_id),
        _attribute("metricdsl.client_id", client_id),
    ]
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [
                    {
                        "scope": {"name": "metricdsl", "version": __version__},
                        "logRecords": [log_record(loads(e)) for e in events],
                    }
                ],
            }
        ]
    }


def log_record(event: dict[str, Any]) -> dict[str, Any]:
    """One event as an OTLP log record: eventName, time, ids, attributes."""
    severity, severity_text = _SEVERITY.get(str(event.get("result")), _INFO)
    record: dict[str, Any] = {}
    stamp = event.get("epochTimestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp >= 0:
        record["timeUnixNano"] = str(stamp * 1_000_000)
    record["severityNumber"] = severity
    record["severityText"] = severity_text
    record["eventName"] = str(event.get("metricName", ""))
    record["attributes"] = [
        _attribute(key, value)
        for key, value in event.items()
        if key not in _RECORD_KEYS and value is not None
    ]
    for key, field, pattern in (
        ("traceId", "traceId", _TRACE_ID),
        ("metricId", "spanId", _SPAN_ID),
    ):
        value = event.get(key)
        if isinstance(value, str) and pattern.fullmatch(value) and value.strip("0"):
            record[field] = value
        elif value is not None:  # not an OpenTelemetry id: keep it as an attribute
            record["attributes"].append(_attribute(key, value))
    return record


def _attribute(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": _any_value(value)}


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int) and value in _INT64:
        return {"intValue": str(value)}
    if isinstance(value, float) and math.isfinite(value):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": value if isinstance(value, str) else str(value)}


def _service_name() -> str:
    """``OTEL_SERVICE_NAME``, else OpenTelemetry's ``unknown_service:<executable>``."""
    name = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        return name
    executable = os.path.basename(sys.executable or "") or "python"
    return f"unknown_service:{executable}"


def otlp_protobuf(request: dict[str, Any]) -> bytes:
    """The OTLP JSON mapping as protobuf bytes (needs ``opentelemetry-proto``).

    Raises ImportError when the optional extra is not installed."""
    json_format = importlib.import_module("google.protobuf.json_format")
    service = importlib.import_module(
        "opentelemetry.proto.collector.logs.v1.logs_service_pb2"
    )

    for resource_logs in request["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for field in ("traceId", "spanId"):  # hex in JSON, raw bytes here
                    if field in record:
                        raw = bytes.fromhex(record[field])
                        record[field] = base64.b64encode(raw).decode("ascii")
    message = service.ExportLogsServiceRequest()
    json_format.ParseDict(request, message)
    return bytes(message.SerializeToString())


def refused_records(answer: bytes) -> int:
    """How many log records an OTLP/JSON answer says were refused
    (``partialSuccess.rejectedLogRecords``); 0 when it says nothing."""
    if not answer.lstrip().startswith(b"{"):
        return 0
    try:
        partial = loads(answer).get("partialSuccess") or {}
        return max(0, int(partial.get("rejectedLogRecords") or 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def wants_protobuf() -> bool:
    """Whether the standard OpenTelemetry variables ask for ``http/protobuf``."""
    for name in ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip().lower()
        if value:
            return value == "http/protobuf"
    return False
