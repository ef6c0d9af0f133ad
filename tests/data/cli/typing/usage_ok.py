"""Correct uses of the generated stubs: mypy --strict must accept every line.

Type-checked by tests/test_stubs.py against stubs generated for the repository's
definitions.yaml (``app_telemetry``) and tests/data/cli/odd_names.yaml
(``odd_telemetry``); never run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from app_telemetry import (
    ComponentValue,
    MetricSetupStep,
    MetricSetupStepSpan,
    MetricSetupThing,
    telemetry,
)
from odd_telemetry import OddKeywordFieldsEmitFields, OddKeywordFieldsFields
from odd_telemetry import telemetry as odd
from typing_extensions import assert_type

import metricdsl

thing = telemetry.metric_setupThing
assert_type(thing, MetricSetupThing)
assert_type(telemetry["metric_setupThing"], MetricSetupThing)
assert_type(telemetry.metric_setupStep, MetricSetupStep)
assert_type(thing.name, str)
assert_type(thing.fields["component"], metricdsl.Field)

# emit: the required fields, then any optional or global field
thing.emit(component="editor")
thing.emit(component="viewer", thingName="demo", source="menu", reason="x")
thing.emit(component="other", result="Failed", duration=12, httpStatusCode="404")
telemetry.metric_downloadTemplate.emit(byteCount=10, apiToken="t", value=2.5)
telemetry.session_start.emit()
component: ComponentValue = "editor"
thing.emit(component=component, passive=True, traceId="a" * 32)

# record and span: every field optional; None removes a recorded value
thing.record(thingName="demo")
thing.record(thingName=None)
telemetry.record(step="writeFiles", component="editor", attempt=2)
with telemetry.metric_setupStep.span(step="resolveConfig") as step:
    assert_type(step, MetricSetupStepSpan)
    step.record(attempt=1).record(fileCount=3).increment(attempt=1, duration=0.5)
    step.fail("templateMissing").fail(ValueError("x"))
    current: metricdsl.Span = step  # the span classes are metricdsl.Span
    assert current is metricdsl.current_span()


async def downloads() -> None:
    async with telemetry.metric_setupStep.span() as step:
        assert_type(step, MetricSetupStepSpan)
        step.record(step="downloadTemplate")


# run keeps the decorated function's signature, bare or called
@thing.run
def setup_thing(name: str, *, retries: int = 0) -> bool:
    thing.record(thingName=name)
    return True


@telemetry.metric_setupStep.run(step="writeFiles", attempt=1)
async def write_files(paths: list[str]) -> int:
    return len(paths)


@telemetry.metric_setupStep.run()
def steps(count: int) -> Iterator[int]:
    yield from range(count)


@telemetry.metric_setupStep.run
async def more_steps() -> AsyncIterator[str]:
    yield "x"


class Things:
    @thing.run
    def method(self, name: str) -> str:
        return name

    @thing.run(component="editor")
    @classmethod
    def create(cls, name: str) -> Things:
        return cls()

    @classmethod
    @thing.run
    def create_too(cls, name: str) -> Things:
        return cls()

    @thing.run
    @staticmethod
    def helper(count: int) -> int:
        return count


assert_type(setup_thing("demo", retries=2), bool)
assert_type(Things().method("x"), str)
assert_type(Things.create("x"), Things)
assert_type(Things.create_too("x"), Things)
assert_type(Things.helper(1), int)


async def awaited() -> int:
    return await write_files(["a"])


# the Telemetry object
assert_type(telemetry.metrics["metric_setupThing"], metricdsl.Metric)
assert_type(telemetry.types["component"], metricdsl.FieldType)
names: list[str] = list(telemetry)
assert "metric_setupThing" in telemetry
assert len(telemetry) == 4
assert_type(telemetry.overrides, tuple[metricdsl.Override, ...])

# fields that are keywords or not identifiers: through the TypedDicts
fields: OddKeywordFieldsEmitFields = {"class": "c", "http-method": "GET", "self": 1}
odd.odd_keywordFields.emit(**fields)
recorded: OddKeywordFieldsFields = {"__mangled": True, "fn": "f"}
odd.odd_keywordFields.record(**recorded)
odd.odd_keywordFields.record(self=2, fn="g")  # identifiers work as keywords
odd["odd_with-dash"].emit(
    aVeryLongFieldNameThatKeepsGoingOnAndOnForeverAndEver=(
        "a single allowed value that is long enough to push the line past the limit"
    )
)
odd.odd_declaresGlobal.emit(reason="required here", retryCount=-1, ratio=0.5)
odd.odd_declaresGlobal.emit(reason="x", result="Cancelled", ratio=2.0)
