"""Misuses of the generated stubs: mypy --strict must report each marked line.

A line ending in ``# E: code[, code]`` must get exactly those error codes, and
no other line may get any (checked by tests/test_stubs.py); never run.
"""

from __future__ import annotations

from app_telemetry import MetricSetupStepSpan, telemetry
from odd_telemetry import OddKeywordFieldsEmitFields
from odd_telemetry import telemetry as odd

thing = telemetry.metric_setupThing
step = telemetry.metric_setupStep

# a misspelt field
thing.emit(component="editor", thingNam="demo")  # E: call-arg
thing.record(compnent="editor")  # E: call-arg
step.span(stepp="writeFiles")  # E: call-arg
telemetry.record(thingNam="x")  # E: call-arg
thing.record(step="writeFiles")  # E: call-arg
# a value of the wrong type
step.emit(step="writeFiles", attempt="2")  # E: arg-type
thing.emit(component="editor", httpStatusCode=404)  # E: arg-type
thing.emit(component="editor", passive="yes")  # E: arg-type
telemetry.metric_downloadTemplate.record(byteCount=1.5)  # E: arg-type
# a value outside allowedValues
thing.emit(component="editr")  # E: arg-type
thing.emit(component="editor", result="Ok")  # E: arg-type
# emit without a required field
thing.emit(thingName="demo")  # E: call-arg
step.emit()  # E: call-arg
odd.odd_declaresGlobal.emit(retryCount=1)  # E: call-arg
odd.odd_declaresGlobal.emit(reason="x", retryCount=3)  # E: arg-type


# run keeps the signature, so a wrong call of the decorated function is reported
@thing.run
def setup_thing(name: str) -> int:
    return len(name)


@step.run(step="writeFiles")
def write_files(paths: list[str]) -> None:
    pass


class Things:
    @thing.run(component="editor")
    @classmethod
    def create(cls, name: str) -> Things:
        return cls()

    @thing.run
    @staticmethod
    def helper(count: int) -> int:
        return count


setup_thing(1)  # E: arg-type
setup_thing()  # E: call-arg
setup_thing("a", retries=2)  # E: call-arg
text: str = setup_thing("a")  # E: assignment
write_files("a.txt")  # E: arg-type
Things.create(1)  # E: arg-type
Things.helper("1")  # E: arg-type
thing.run(component="nope")  # E: call-overload


# a span's record and increment are typed too
def use(span: MetricSetupStepSpan) -> None:
    span.record(attempt="2")  # E: arg-type
    span.increment(step=1)  # E: call-arg
    span.increment(attempt=1.5)  # E: arg-type


# a misspelt metric
telemetry.metric_setupThng.emit()  # E: attr-defined
telemetry["metric_setupThng"]  # E: call-overload
# a TypedDict for odd names still checks keys and values
put: OddKeywordFieldsEmitFields = {"class": "", "http-method": "P"}  # E: typeddict-item
missing: OddKeywordFieldsEmitFields = {"self": 1}  # E: typeddict-item
