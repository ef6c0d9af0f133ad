"""Field values against their definitions, in the strict, warn or off mode.

A ``Checker`` is built once per metric (on its first use): a table from field
name to a small ``_Spec`` whose checks cost a dict lookup, a type test and,
with allowedValues, a set lookup. Only a value that fails the fast test takes
the slow path, which explains the problem and acts on it by mode:

- strict: raise ``MetricValidationError`` at the call that set the value;
- warn: drop the value, count it in ``stats()["invalid"]``, and log
  ``metricdsl.field_invalid`` once per (metric, field, problem);
- off: no checks at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import _selflog
from ._config import STATE
from ._definitions import GLOBAL_TYPES, FieldType, MetricDefinition
from ._errors import MetricValidationError, NoActiveSpanError, did_you_mean
from ._pipeline import count_invalid

__all__ = ["Checker", "report", "show"]

_EXACT: Final[Mapping[str, frozenset[type]]] = {
    "string": frozenset({str}),
    "int": frozenset({int}),
    "double": frozenset({int, float}),
    "boolean": frozenset({bool}),
}
_EXPECTED: Final = {
    "string": "a str",
    "int": "an int (not a bool)",
    "double": "a finite int or float",
    "boolean": "a bool",
}


class _Spec:
    __slots__ = ("allowed", "exact", "kind", "name", "shown_allowed")

    def __init__(self, field_type: FieldType) -> None:
        self.name = field_type.name
        self.kind = field_type.kind
        self.exact = _EXACT[field_type.kind]
        values = field_type.allowed_values
        self.allowed = frozenset(values) if values else None
        self.shown_allowed = ", ".join(repr(v) for v in values) if values else ""

    def problem(self, value: Any) -> tuple[str, str] | None:
        """``(problem, expected)`` for a bad value, ``None`` for a good one."""
        kind = self.kind
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "boolean":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, int) and not isinstance(value, bool)
            if kind == "double" and not ok and isinstance(value, float):
                ok = value - value == 0.0  # finite
        if not ok:
            return "type", _EXPECTED[kind]
        if self.allowed is not None:
            try:
                ok = value in self.allowed
            except TypeError:  # a subclass made unhashable by its own __eq__
                ok = False
            if not ok:
                return "not_allowed", f"one of {self.shown_allowed}"
        return None


_GLOBAL_SPECS: Final = {name: _Spec(t) for name, t in GLOBAL_TYPES.items()}


class Checker:
    """Checks the values of one metric's fields (declared and global)."""

    __slots__ = ("metric", "required", "rules", "specs")

    def __init__(
        self, definition: MetricDefinition, types: Mapping[str, FieldType]
    ) -> None:
        self.metric = definition.name
        specs = dict(_GLOBAL_SPECS)
        for name in GLOBAL_TYPES:  # a file may redefine a global (same kind)
            if types.get(name) is not GLOBAL_TYPES[name]:
                specs[name] = _Spec(types[name])
        for name, field in definition.fields.items():
            specs[name] = _Spec(field)
        self.specs = specs
        #: name -> (the types accepted as they are, the allowed values or None)
        self.rules = {name: (spec.exact, spec.allowed) for name, spec in specs.items()}
        self.required = tuple(n for n, f in definition.fields.items() if f.required)

    def check(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The fields that pass; acts on the others by mode.

        Returns ``fields`` itself only when every value is set and valid (the
        common case, one quick pass); otherwise a new dict, in which ``None``
        values (removals) are kept.
        """
        if not STATE.checking:
            return dict(fields)
        rules = self.rules
        for name, value in fields.items():
            rule = rules.get(name)
            if rule is not None:
                kind = type(value)
                if (
                    kind in rule[0]
                    and (rule[1] is None or value in rule[1])
                    and (kind is not float or value - value == 0.0)  # finite
                ):
                    continue
            return self._check_slowly(fields)
        return fields

    def _check_slowly(self, fields: dict[str, Any]) -> dict[str, Any]:
        accepted: dict[str, Any] = {}
        for name, value in fields.items():
            spec = self.specs.get(name)
            if spec is None:
                if repeated(self.metric, name, "unknown"):
                    continue
                hint = did_you_mean(name, self.specs)
                report(
                    self.metric,
                    name,
                    "unknown",
                    f"unknown field {name!r}",
                    "a field declared on the metric or a global field",
                    repr(name),
                    hint,
                )
                continue
            if value is not None:
                problem = spec.problem(value)
                if problem is not None:
                    kind, expected = problem
                    if repeated(self.metric, name, kind):
                        continue
                    what = (
                        f"field {name!r} has the wrong type"
                        if kind == "type"
                        else f"field {name!r} is not an allowed value"
                    )
                    report(self.metric, name, kind, what, expected, show(value))
                    continue
            accepted[name] = value
        return accepted

    def mark_missing(self, event: dict[str, Any], *, escaping: bool = False) -> None:
        """List the required fields ``event`` lacks in its ``missingFields``,
        reporting them: strict mode raises, unless the user's own exception is
        already escaping (``escaping``), which must be what propagates. Off
        mode checks nothing."""
        if not STATE.checking:
            return
        absent = [name for name in self.required if event.get(name) is None]
        if not absent:
            return
        if not (escaping and STATE.strict):
            names = ", ".join(repr(n) for n in absent)
            for name in absent if not STATE.strict else absent[:1]:
                if repeated(self.metric, name, "missing"):
                    continue
                report(
                    self.metric,
                    name,
                    "missing",
                    f"required field {name!r} is missing",
                    f"values for {names} before the event is emitted",
                    "no value",
                )
        event["missingFields"] = ", ".join(absent)


def repeated(metric: str, field: str | None, problem: str) -> bool:
    """In warn mode, a problem already warned about: count it, say no more
    (and spare the caller building the words of a message nobody reads)."""
    if STATE.strict or not _selflog.said((metric, field, problem)):
        return False
    count_invalid()
    return True


def report(
    metric: str,
    field: str | None,
    problem: str,
    what: str,
    expected: str,
    got: str,
    hint: str | None = None,
    *,
    error: type[MetricValidationError] = MetricValidationError,
) -> None:
    """Act on one violation by mode: raise (strict) or count and warn once."""
    if STATE.strict:
        message = f"{metric}: {what}; expected {expected}; got {got}"
        if hint:
            message += f"; {hint}"
        raise error(message, metric=metric, field=field)
    count_invalid()
    fields = {
        "metric": metric,
        "field": field,
        "problem": problem,
        "expected": expected,
        "got": got,
    }
    if hint:
        fields["hint"] = hint
    event = (
        "metricdsl.record_unmatched"
        if error is NoActiveSpanError
        else "metricdsl.field_invalid"
    )
    _selflog.warn_once((metric, field, problem), event, **fields)


def show(value: Any) -> str:
    """A value as a message shows it: its repr, cut, and its type."""
    shown = _selflog.safe_repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"
