"""A typed use of metricdsl: mypy --strict must accept every line, and must
report each line marked with a ``# type: ignore[code]`` (strict mode flags an
ignore that is no longer needed, so a misuse that stops being reported fails)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, assert_type

import metricdsl
from metricdsl.testing import Captured, capture

telemetry = metricdsl.load("definitions.yaml")
setup_thing = telemetry.metric_setupThing
assert_type(setup_thing, metricdsl.Metric)
assert_type(telemetry["metric_setupStep"], metricdsl.Metric)


@setup_thing.run
def setup(name: str, retries: int = 3) -> bool:
    setup_thing.record(thingName=name)
    telemetry.record(reason="x")
    return retries > 0


@setup_thing.run(component="editor")
async def fetch(url: str) -> bytes:
    return url.encode()


@telemetry.metric_setupStep.run
def steps(n: int) -> Iterator[int]:
    yield from range(n)


@telemetry.metric_setupStep.run(step="writeFiles")
async def chunks(n: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x"


class Thing:
    @setup_thing.run
    def method(self, x: int) -> str:
        return str(x)

    @setup_thing.run
    @classmethod
    def outer_class(cls, x: int) -> int:
        return x

    @classmethod
    @setup_thing.run
    def inner_class(cls, x: int) -> int:
        return x

    @setup_thing.run
    @staticmethod
    def outer_static(x: int) -> int:
        return x

    @staticmethod
    @setup_thing.run(component="viewer")
    def inner_static(x: int) -> int:
        return x


assert_type(setup("x"), bool)
assert_type(setup("x", retries=2), bool)
fetch_typed: Callable[[str], Coroutine[Any, Any, bytes]] = fetch
assert_type(steps(3), Iterator[int])
assert_type(chunks(3), AsyncIterator[bytes])
assert_type(Thing().method(1), str)
assert_type(Thing.outer_class(1), int)
assert_type(Thing.inner_class(1), int)
assert_type(Thing.outer_static(1), int)
assert_type(Thing.inner_static(1), int)

with setup_thing.span(component="editor") as span:
    assert_type(span, metricdsl.Span)
    span.record(thingName="x").increment(attempt=1).fail("reason")
    assert_type(span.trace_id, str | None)
    assert_type(span.ended, bool)
setup_thing.emit(component="editor")
assert_type(metricdsl.current_span(), metricdsl.Span | None)
in_thread: Callable[[str, int], bool] = metricdsl.wrap_context(setup)
assert_type(metricdsl.flush(timeout=1.0), bool)
assert_type(metricdsl.stats(), dict[str, Any])
metricdsl.configure(validation="warn", sinks=["log"], endpoint="")

with capture() as captured:
    assert_type(captured, Captured)
    setup("y")
captured.assert_emitted("metric_setupThing", {"result": "Succeeded"})

# Misuses: each must be reported.
setup(1)  # type: ignore[arg-type]
fetch_wrong: Callable[[int], bytes] = fetch  # type: ignore[assignment]
setup("x", retries="3")  # type: ignore[arg-type]
Thing.outer_class("x")  # type: ignore[arg-type]
Thing.inner_static("x")  # type: ignore[arg-type]
steps("3")  # type: ignore[arg-type]
setup_thing.record("positional")  # type: ignore[call-arg]
metricdsl.configure(bogus=True)  # type: ignore[call-arg]
telemetry.metric_setupThing.span(component="editor").record(1)  # type: ignore[call-arg]
