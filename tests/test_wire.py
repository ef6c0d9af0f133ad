"""What the sender puts on the wire; OTLP checked with the official
``opentelemetry-proto`` classes."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)

import metricdsl
from metricdsl import _wire
from metricdsl._sinks import dumps
from tests.receiver import Answer, Receiver

pytest_plugins = ("tests.delivery_fixtures",)
pytestmark = pytest.mark.usefixtures("sending")


def parse_otlp_json(body: bytes) -> ExportLogsServiceRequest:
    """OTLP/HTTP JSON -> the protobuf message, as a collector reads it: ids are
    hex in OTLP JSON (base64 in protobuf's own JSON mapping)."""
    document = json.loads(body)
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        raw = bytes.fromhex(record[key])
                        record[key] = base64.b64encode(raw).decode()
    return json_format.Parse(json.dumps(document), ExportLogsServiceRequest())


def attributes(pairs: Any) -> dict[str, Any]:
    """KeyValue list -> {key: python value}."""
    result: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        value = getattr(pair.value, kind)
        if kind == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        result[pair.key] = value
    return result


def emit_setup_thing_in_a_span() -> list[dict[str, Any]]:
    """A span with a nested failing emit; returns the events as the sinks got them."""
    seen: list[dict[str, Any]] = []
    metricdsl.configure(
        sinks=[type("Keep", (), {"write": lambda _, e: seen.append(e)})()]
    )
    telemetry = metricdsl.telemetry
    with telemetry.metric_setupThing.span(component="editor", thingName="demo"):
        telemetry.metric_setupStep.emit(step="writeFiles", fileCount=3, result="Failed")
    return seen


class TestJsonBatch:
    def test_the_body_is_the_events_as_rendered(self) -> None:
        events = [{"metricName": "metric_x", "metricId": "1", "value": 1.0}, {"a": [1]}]
        body = _wire.json_batch("client", "session", [dumps(e) for e in events])
        assert json.loads(body) == {
            "clientId": "client",
            "sessionId": "session",
            "events": events,
        }

    def test_gzip_only_above_the_threshold(self) -> None:
        small = b"x" * _wire.GZIP_ABOVE
        large = b"x" * (_wire.GZIP_ABOVE + 1)
        assert _wire.compressed(small) == (small, False)
        packed, gzipped = _wire.compressed(large)
        assert gzipped
        assert gzip.decompress(packed) == large


class TestOtlp:
    def test_a_sent_batch_decodes_as_an_export_logs_request(
        self, receiver: Receiver
    ) -> None:
        events = emit_setup_thing_in_a_span()
        metricdsl.configure(
            endpoint=receiver.url + "/", protocol="otlp", sinks=["null"]
        )
        metric = metricdsl.telemetry.metric_setupThing
        with metric.span(component="editor", thingName="demo"):
            metricdsl.telemetry.metric_setupStep.emit(
                step="writeFiles", fileCount=3, result="Failed"
            )
        assert metricdsl.flush(20)
        [request] = receiver.posted()
        assert request.path == "/v1/logs"
        assert request.headers["content-type"] == "application/json"

        message = parse_otlp_json(request.body)

        [resource_logs] = message.resource_logs
        resource = attributes(resource_logs.resource.attributes)
        assert resource["telemetry.sdk.name"] == "metricdsl"
        assert resource["session.id"]
        [scope_logs] = resource_logs.scope_logs
        assert scope_logs.scope.name == "metricdsl"
        step, thing = scope_logs.log_records
        assert [step.event_name, thing.event_name] == [
            "metric_setupStep",
            "metric_setupThing",
        ]
        shape = events[0]
        assert set(attributes(step.attributes)) == (
            set(shape) - {"metricName", "epochTimestamp", "traceId", "metricId"}
        )
        step_fields = attributes(step.attributes)
        assert step_fields["fileCount"] == 3
        assert step_fields["result"] == "Failed"
        assert step_fields["passive"] is False
        assert step_fields["value"] == 1.0
        assert step.severity_text == "ERROR"
        assert thing.severity_text == "INFO"
        assert step.trace_id == thing.trace_id
        assert len(step.trace_id) == 16
        assert len(step.span_id) == 8
        assert step_fields["parentId"] == thing.span_id.hex()
        assert step.time_unix_nano % 1_000_000 == 0
        assert step.time_unix_nano > 1_600_000_000 * 10**9

    def test_ids_and_times_map_onto_the_record(self) -> None:
        event = {
            "metricName": "metric_x",
            "epochTimestamp": 1_700_000_000_123,
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "metricId": "b7ad6b7169203331",
            "result": "Cancelled",
        }
        request = _wire.otlp_request("c", "s", [dumps(event)])
        message = parse_otlp_json(dumps(request))
        [record] = message.resource_logs[0].scope_logs[0].log_records
        assert record.time_unix_nano == 1_700_000_000_123_000_000
        assert record.trace_id == bytes.fromhex(event["traceId"])
        assert record.span_id == bytes.fromhex(event["metricId"])
        assert record.severity_number == 13
        assert attributes(record.attributes) == {"result": "Cancelled"}

    def test_values_become_attributes_of_their_kind(self) -> None:
        event = {
            "metricName": "metric_x",
            "flag": True,
            "count": 3,
            "huge": 2**70,
            "ratio": 0.25,
            "name": "n",
            "items": [1, "a"],
            "metricId": "not-an-id",
            "gone": None,
        }
        record = _wire.log_record(event)
        message = parse_otlp_json(
            dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]})
        )
        [parsed] = message.resource_logs[0].scope_logs[0].log_records
        assert attributes(parsed.attributes) == {
            "flag": True,
            "count": 3,
            "huge": str(2**70),
            "ratio": 0.25,
            "name": "n",
            "items": [1, "a"],
            "metricId": "not-an-id",
        }
        assert parsed.span_id == b""

    def test_service_name_comes_from_otel_service_name(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
        request = _wire.otlp_request("c", "s", [])
        resource = attributes(
            parse_otlp_json(dumps(request)).resource_logs[0].resource.attributes
        )
        assert resource["service.name"] == "checkout"
        monkeypatch.delenv("OTEL_SERVICE_NAME")
        request = _wire.otlp_request("c", "s", [])
        assert request["resourceLogs"][0]["resource"]["attributes"][0]["value"][
            "stringValue"
        ].startswith("unknown_service:")

    def test_http_protobuf_is_sent_when_asked_for(
        self, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        metricdsl.configure(endpoint=receiver.url, protocol="otlp", sinks=["null"])
        metricdsl.telemetry.metric_setupThing.emit(component="viewer")
        assert metricdsl.flush(20)
        [request] = receiver.posted()
        assert request.headers["content-type"] == "application/x-protobuf"
        message = ExportLogsServiceRequest.FromString(request.body)
        [record] = message.resource_logs[0].scope_logs[0].log_records
        assert record.event_name == "metric_setupThing"
        assert attributes(record.attributes)["component"] == "viewer"
        assert len(record.span_id) == 8

    def test_the_signal_specific_variable_wins(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json")
        assert _wire.wants_protobuf() is False
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL")
        assert _wire.wants_protobuf() is True


class TestOtlpAnswers:
    @pytest.mark.parametrize(
        ("refused", "expected"),
        [("2", (3, 2)), ("9", (0, 5))],  # never more than the batch held
    )
    def test_records_the_receiver_refuses_are_counted_as_rejected(
        self, refused: str, expected: tuple[int, int]
    ) -> None:
        partial = b'{"partialSuccess":{"rejectedLogRecords":"%s","errorMessage":"no"}}'
        answer = Answer("ok", reply=partial % refused.encode())
        with Receiver(lambda n, request: answer) as server:
            metricdsl.configure(endpoint=server.url, protocol="otlp", sinks=["null"])
            for _ in range(5):
                metricdsl.telemetry.metric_setupThing.emit(component="editor")
            assert metricdsl.flush(20)
        stats = metricdsl.stats()
        assert (stats["sent"], stats["dropped"]["rejected"]) == expected

    @pytest.mark.parametrize(
        "answer",
        [b"", b"{}", b'{"partialSuccess":{}}', b"[1]", b"{not json", b"\x08\x01"],
    )
    def test_an_answer_without_a_refusal_refuses_nothing(self, answer: bytes) -> None:
        assert _wire.refused_records(answer) == 0
