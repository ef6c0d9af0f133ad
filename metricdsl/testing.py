"""Testing helpers: capture the events a program emits and assert on them.

::

    from metricdsl.testing import capture

    with capture() as captured:
        setup_thing()
    captured.assert_emitted(
        "metric_setupThing", {"result": "Failed", "reason": "Timeout"}
    )

While a capture is active, validation is strict (a bad field raises where it
is set) and events are produced even when telemetry is disabled or in CI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from ._config import LOCK, STATE

__all__ = ["Captured", "capture"]


class Captured:
    """The events emitted while it is active, from any thread or task, as the
    sinks receive them (after the processor chain). Use it as a context manager."""

    def __init__(self) -> None:
        # No lock: appending to, copying and clearing a list are each atomic,
        # and a lock here could be re-entered (and deadlock) by a signal
        # handler or a finaliser that emits while an event is being added.
        self._events: list[dict[str, Any]] = []

    # -- collecting

    def _add(self, event: Mapping[str, Any]) -> None:
        self._events.append(dict(event))

    def __enter__(self) -> Captured:
        with LOCK:
            state = STATE
            state.captures = (*state.captures, self)
            state.refresh()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with LOCK:
            state = STATE
            state.captures = tuple(c for c in state.captures if c is not self)
            state.refresh()

    # -- reading

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every captured event, in emission order (a copy of the list)."""
        return self._events.copy()

    def named(self, name: str) -> list[dict[str, Any]]:
        """The captured events of one metric, in emission order."""
        return [e for e in self.events if e.get("metricName") == name]

    def clear(self) -> None:
        """Forget the events captured so far."""
        self._events.clear()

    # -- asserting

    def assert_emitted(
        self, name: str, expected: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> Any:
        """Assert events of metric ``name`` match ``expected``; return them.

        A dict is compared with the first event of that name; a list, element
        by element with the first events of that name (later extra events are
        allowed); an empty list asserts that none was emitted. Only the keys
        given are compared, and a value of ``None`` asserts the key is absent.
        """
        __tracebackhide__ = True  # pytest shows the caller's line, not ours
        events = self.named(name)
        if isinstance(expected, Mapping):
            if not events:
                raise AssertionError(f"no {name} event was emitted; {self._summary()}")
            _compare(name, 0, events[0], expected)
            return events[0]
        wanted = list(expected)
        if not wanted:
            if events:
                raise AssertionError(
                    f"expected no {name} event; got {len(events)}: {events[0]!r}"
                    + (" ..." if len(events) > 1 else "")
                )
            return []
        if len(events) < len(wanted):
            raise AssertionError(
                f"expected at least {len(wanted)} {name} events; got {len(events)}; "
                + self._summary()
            )
        for index, (event, want) in enumerate(zip(events, wanted, strict=False)):
            _compare(name, index, event, want)
        return events[: len(wanted)]

    def assert_no_match(self, pattern: str | re.Pattern[str]) -> None:
        """Assert no field value of any event matches the regular expression
        (``re.search``), e.g. to check that a secret never leaks."""
        __tracebackhide__ = True
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        for index, event in enumerate(self.events):
            for key, value in event.items():
                if regex.search(str(value)):
                    raise AssertionError(
                        f"event {index} ({event.get('metricName')}) field {key!r} "
                        f"matches {regex.pattern!r}: {value!r}"
                    )

    def _summary(self) -> str:
        names = [str(e.get("metricName")) for e in self.events]
        return f"emitted: {', '.join(names)}" if names else "nothing was emitted"

    def __repr__(self) -> str:
        return f"<Captured {len(self._events)} events>"


def _compare(
    name: str, index: int, event: Mapping[str, Any], want: Mapping[str, Any]
) -> None:
    __tracebackhide__ = True
    problems = []
    for key, value in want.items():
        if value is None:
            if key in event:
                problems.append(f"{key!r} is {event[key]!r}, expected it absent")
        elif key not in event:
            problems.append(f"{key!r} is absent, expected {value!r}")
        elif event[key] != value:
            problems.append(f"{key!r} is {event[key]!r}, expected {value!r}")
    if problems:
        raise AssertionError(
            f"{name} event {index} does not match: "
            + "; ".join(problems)
            + f"\nevent: {event!r}"
        )


def capture() -> Captured:
    """Collect every event emitted while the returned object is active::

    with capture() as captured:
        ...
    """
    return Captured()
