"""Field values against their definitions, in strict, warn and off modes."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest

import metricdsl
from metricdsl import MetricValidationError

from .conftest import TEST_DEFINITIONS
from .support import Collect, clean_env, run_python


class TestKinds:
    @pytest.mark.parametrize(
        ("field", "good"),
        [
            ("label", ["", "text", "é"]),
            ("count", [0, -3, 2**70]),
            ("ratio", [0, 1.5, -2, 1e300]),
            ("flag", [True, False]),
            ("component", ["editor", "viewer"]),
            ("level", [1, 2, 3]),
        ],
    )
    def test_values_of_the_right_kind_are_accepted(
        self, telemetry: Any, captured: Any, field: str, good: list[Any]
    ) -> None:
        for value in good:
            telemetry.test_outer.emit(**{field: value})
        assert [e[field] for e in captured.events] == good

    @pytest.mark.parametrize(
        ("field", "bad", "expected"),
        [
            ("label", 3, "expected a str; got 3 (int)"),
            ("label", b"x", "expected a str; got b'x' (bytes)"),
            ("count", True, "expected an int (not a bool); got True (bool)"),
            ("count", 1.0, "expected an int (not a bool); got 1.0 (float)"),
            ("count", "1", "expected an int (not a bool); got '1' (str)"),
            ("ratio", math.inf, "expected a finite int or float; got inf (float)"),
            ("ratio", math.nan, "expected a finite int or float; got nan (float)"),
            ("ratio", False, "expected a finite int or float; got False (bool)"),
            ("flag", 1, "expected a bool; got 1 (int)"),
            ("flag", "true", "expected a bool; got 'true' (str)"),
            (
                "component",
                "admin",
                "expected one of 'editor', 'viewer'; got 'admin' (str)",
            ),
            ("level", 4, "expected one of 1, 2, 3; got 4 (int)"),
        ],
    )
    def test_values_of_the_wrong_kind_are_rejected_with_a_clear_message(
        self, telemetry: Any, captured: Any, field: str, bad: Any, expected: str
    ) -> None:
        with pytest.raises(MetricValidationError) as caught:
            telemetry.test_outer.emit(**{field: bad})
        message = str(caught.value)
        assert message.startswith(f"test_outer: field '{field}' ")
        assert message.endswith(expected)
        assert (caught.value.metric, caught.value.field) == ("test_outer", field)
        assert captured.events == []

    def test_an_unknown_field_is_rejected_with_a_hint(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(MetricValidationError) as caught:
            telemetry.test_outer.emit(compnent="editor")
        assert str(caught.value) == (
            "test_outer: unknown field 'compnent'; expected a field declared on the "
            "metric or a global field; got 'compnent'; did you mean 'component'?"
        )

    def test_global_fields_need_no_declaration(
        self, telemetry: Any, captured: Any
    ) -> None:
        telemetry.test_inner.emit(
            result="Failed",
            reason="x",
            reasonDesc="y",
            requestId="r",
            httpStatusCode="500",
            duration=1.5,
            value=3,
            passive=True,
        )
        event = captured.events[0]
        assert (event["value"], event["passive"], event["duration"]) == (3, True, 1.5)
        with pytest.raises(MetricValidationError, match="'result'"):
            telemetry.test_inner.emit(result="Maybe")

    def test_every_verb_validates_where_the_value_is_set(
        self, telemetry: Any, captured: Any
    ) -> None:
        metric = telemetry.test_outer
        with pytest.raises(MetricValidationError):
            metric.span(count="x")
        with pytest.raises(MetricValidationError):
            metric.run(count="x")
        with metric.span() as span:
            with pytest.raises(MetricValidationError):
                span.record(count="x")
            with pytest.raises(MetricValidationError):
                metric.record(count="x")
            with pytest.raises(MetricValidationError):
                span.increment(count=0.5)
        assert "count" not in captured.events[0]

    def test_subclasses_of_the_builtin_kinds_are_accepted(
        self, telemetry: Any, captured: Any
    ) -> None:
        import enum

        class Component(str, enum.Enum):
            EDITOR = "editor"

        class Size(enum.IntEnum):
            BIG = 9

        telemetry.test_outer.emit(component=Component.EDITOR, count=Size.BIG)
        event = captured.events[0]
        assert event["component"] == "editor"
        assert event["count"] == 9


class Unprintable:
    """A value whose repr() fails (as an ORM object's may, once detached)."""

    def __repr__(self) -> str:
        raise RuntimeError("cannot repr")

    __str__ = __repr__


class TestOddValues:
    def test_a_value_whose_repr_fails_is_reported_like_any_other(
        self, telemetry: Any, captured: Any
    ) -> None:
        with pytest.raises(MetricValidationError) as caught:
            telemetry.test_outer.emit(count=Unprintable())
        assert str(caught.value).startswith(
            "test_outer: field 'count' has the wrong type; expected an int"
        )
        assert "Unprintable" in str(caught.value)

    def test_a_value_whose_repr_fails_is_dropped_in_warn_mode(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        telemetry.test_outer.emit(count=Unprintable(), label="kept")
        with telemetry.test_outer.span() as span:
            span.record(flag=Unprintable())
            telemetry.test_outer.record(ratio=Unprintable())
            span.increment(count=Unprintable())
        assert sink.events[0]["label"] == "kept"
        assert "count" not in sink.events[0]
        assert not {"flag", "ratio", "count"} & set(sink.events[1])
        assert metricdsl.stats()["invalid"] == 4
        warning = json.loads(capsys.readouterr().err.splitlines()[0])
        assert warning["field"] == "count"
        assert "Unprintable" in warning["got"]

    def test_an_unforeseen_failure_inside_metricdsl_is_logged_not_raised(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Whatever goes wrong while metricdsl looks at a value (here a hash
        that raises), outside strict mode the call returns."""

        class Hostile(str):
            def __hash__(self) -> int:
                raise RuntimeError("hostile hash")

        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        metric = telemetry.test_outer
        metric.emit(component=Hostile("editor"))
        metric.run(component=Hostile("editor"))(lambda: None)()
        with metric.span(component=Hostile("editor")) as span:
            span.record(component=Hostile("editor"))
            span.increment(level=Hostile("x"))
            metric.record(component=Hostile("editor"))
            telemetry.record(component=Hostile("editor"))
        assert len(sink.events) == 2  # the emit failed; both spans emitted
        err = capsys.readouterr().err
        assert "metricdsl.internal_error" in err
        assert "hostile hash" in err
        metricdsl.configure(validation="strict")
        with pytest.raises(RuntimeError, match="hostile hash"):
            metric.emit(component=Hostile("editor"))


class TestErrors:
    def test_every_error_derives_from_metricdsl_error_and_its_builtin(self) -> None:
        assert issubclass(metricdsl.MetricValidationError, ValueError)
        assert issubclass(metricdsl.DefinitionError, ValueError)
        assert issubclass(metricdsl.NoActiveSpanError, MetricValidationError)
        assert issubclass(metricdsl.UnknownMetricError, AttributeError)
        assert issubclass(metricdsl.UnknownMetricError, KeyError)
        for error in (
            metricdsl.DefinitionError,
            MetricValidationError,
            metricdsl.NoActiveSpanError,
            metricdsl.UnknownMetricError,
            metricdsl.ConfigurationError,
            metricdsl.UsageError,
        ):
            assert issubclass(error, metricdsl.MetricDslError)


class TestModes:
    def test_warn_mode_drops_the_value_counts_it_and_warns_once(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sink = Collect()
        metricdsl.configure(validation="warn", sinks=[sink])
        for _ in range(3):
            telemetry.test_outer.emit(count="x", label="kept")
        telemetry.test_outer.emit(count=True)  # another problem: also said once
        assert [e.get("count") for e in sink.events] == [None] * 4
        assert [e["label"] for e in sink.events[:3]] == ["kept"] * 3
        assert metricdsl.stats()["invalid"] == 4
        lines = [line for line in capsys.readouterr().err.splitlines() if line]
        warnings = [json.loads(line) for line in lines]
        assert [w["event"] for w in warnings] == ["metricdsl.field_invalid"]
        assert warnings[0]["metric"] == "test_outer"
        assert warnings[0]["field"] == "count"
        assert warnings[0]["problem"] == "type"
        assert warnings[0]["got"] == "'x' (str)"
        assert warnings[0]["level"] == "warning"

    def test_warn_mode_says_each_kind_of_problem_once(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        metricdsl.configure(validation="warn", sinks=["null"])
        telemetry.test_outer.emit(component="x")
        telemetry.test_outer.emit(component="y")
        telemetry.test_outer.emit(component=1)
        telemetry.test_outer.emit(nothing=1)
        problems = [
            json.loads(line)["problem"] for line in capsys.readouterr().err.splitlines()
        ]
        assert problems == ["not_allowed", "type", "unknown"]

    def test_off_mode_passes_values_through_unchecked(self, telemetry: Any) -> None:
        sink = Collect()
        metricdsl.configure(validation="off", sinks=[sink])
        telemetry.test_outer.emit(count="x", nothing=[1, 2])
        with telemetry.test_outer.span() as span:
            span.record(flag="yes")
        assert (sink.events[0]["count"], sink.events[0]["nothing"]) == ("x", [1, 2])
        assert sink.events[1]["flag"] == "yes"
        assert metricdsl.stats()["invalid"] == 0

    def test_a_capture_forces_strict_mode_while_active(self, telemetry: Any) -> None:
        from metricdsl.testing import capture

        metricdsl.configure(validation="off", sinks=["null"])
        with capture(), pytest.raises(MetricValidationError):
            telemetry.test_outer.emit(count="x")
        telemetry.test_outer.emit(count="x")  # off again

    def test_configure_rejects_an_unknown_mode(self) -> None:
        with pytest.raises(
            metricdsl.ConfigurationError, match="'strict', 'warn', 'off'"
        ):
            metricdsl.configure(validation="loud")


def _mode_in_subprocess(env: dict[str, str], code: str = "") -> str:
    script = (
        f"import metricdsl\n{code}\n"
        "from metricdsl._config import STATE\nprint(STATE.mode)\n"
    )
    return run_python("-c", script, env=clean_env(**env)).stdout.strip()


class TestDefaults:
    def test_warn_is_the_default_outside_tests_and_ci(self) -> None:
        assert _mode_in_subprocess({}) == "warn"

    @pytest.mark.parametrize(
        "env",
        [{"CI": "true"}, {"PYTEST_VERSION": "8.3"}, {"PYTEST_CURRENT_TEST": "t.py"}],
    )
    def test_strict_is_the_default_in_ci_and_under_pytest(
        self, env: dict[str, str]
    ) -> None:
        assert _mode_in_subprocess(env) == "strict"

    def test_the_environment_variable_wins_over_the_default(self) -> None:
        assert _mode_in_subprocess({"CI": "1", "METRICDSL_VALIDATION": "off"}) == "off"
        assert _mode_in_subprocess({"METRICDSL_VALIDATION": " Strict "}) == "strict"

    def test_configure_wins_over_the_environment_variable(self) -> None:
        code = "metricdsl.configure(validation='warn')"
        assert _mode_in_subprocess({"METRICDSL_VALIDATION": "strict"}, code) == "warn"

    def test_a_bad_environment_value_is_ignored_with_a_warning(self) -> None:
        assert _mode_in_subprocess({"METRICDSL_VALIDATION": "loud"}) == "warn"


WARN_PROGRAM = """
import asyncio, json, sys
import metricdsl
t = metricdsl.load(sys.argv[1])
metricdsl.configure(sinks=["null"])
m = t.test_outer

m.emit(count="x", nothing=1, component="admin", ratio=float("inf"))
t.test_required.emit()
m.record(count=1)
t.record(count=1)

@m.run(count="bad at decoration")
def work():
    m.record(flag="no")
    t.test_inner.record(label=1)
    return "ran"

with m.span(level=9) as span:
    span.record(nope=1).increment(label=2).increment(count="x")
    print(work())
with t.test_required.span():
    pass
span.record(count=1)
with span:
    pass

@t.test_outer.run
def gen():
    yield 1
    m.record(count="x")
    yield 2
print(list(gen()))

async def main():
    async with m.span(count="y"):
        m.record(ratio=float("nan"))
asyncio.run(main())

# values and objects that break when metricdsl looks at them
class Unprintable:
    def __repr__(self):
        raise RuntimeError("cannot repr")
    __str__ = __repr__
class Caseless(str):  # its own __eq__ makes it unhashable
    def __eq__(self, other):
        return self.lower() == str(other).lower()
class OddError(Exception):
    @property
    def code(self):
        raise RuntimeError("no code")
class BrokenSink:
    def write(self, event):
        raise OSError("disk full")
    def __repr__(self):
        raise RuntimeError("cannot repr")
m.emit(reasonDesc=None)
m.emit(reasonDesc=5)
m.emit(count=Unprintable(), label=Unprintable())
m.emit(component=Caseless("Editor"))
with m.span(label=Unprintable()) as span:
    span.record(count=Unprintable()).increment(count=Unprintable(), ratio=True)
    m.record(flag=Unprintable())
    t.record(level=Unprintable())
try:
    with m.span():
        raise OddError("x")
except OddError:
    pass
with m.span() as span:
    span.fail(OddError("y"))
span.fail("after the end")
metricdsl.configure(sinks=[BrokenSink(), "null"])
m.emit(label="to a broken sink")
print("survived", json.dumps(metricdsl.stats()["invalid"]))
"""


@pytest.mark.parametrize("mode", ["warn", "off"])
def test_nothing_raises_outside_strict_mode(tmp_path: Path, mode: str) -> None:
    """A program full of mistakes runs to its end in warn and off modes (a
    subprocess, so nothing of the test run's strict default leaks in)."""
    definitions = tmp_path / "defs.yaml"
    definitions.write_text(TEST_DEFINITIONS)
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(WARN_PROGRAM))
    done = run_python(
        str(program), str(definitions), env=clean_env(METRICDSL_VALIDATION=mode)
    )
    lines = done.stdout.split()
    assert lines[:3] == ["ran", "[1,", "2]"]
    assert lines[3] == "survived"
    assert "Traceback" not in done.stderr
    warnings = [json.loads(line) for line in done.stderr.splitlines()]
    events = {w["event"] for w in warnings}
    assert "metricdsl.internal_error" not in events
    if mode == "warn":
        assert int(lines[4]) >= 30
        assert events >= {
            "metricdsl.field_invalid",
            "metricdsl.record_unmatched",
            "metricdsl.span_misused",
            "metricdsl.sink_failed",
        }
