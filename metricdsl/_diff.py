"""``metricdsl diff``: what changed between two definition sets.

Each set is what ``load`` makes of its files (layered). Changes fall in three
groups:

- breaking (code that emits the old metrics may now fail validation, or
  readers of the events may break): a metric removed, a field removed from a
  metric, a field's type changed, an allowed value removed, allowedValues
  imposed on a field that had none, a field that became required, a required
  field added to an existing metric, a unit changed;
- additions: a metric added, an optional field added to a metric, an allowed
  value added, allowedValues lifted;
- other changes: descriptions, ``passive``, ``sensitive``, a field that became
  optional, a global field a metric no longer declares (every metric may still
  carry it), a type removed that no metric used.

A type's own changes (its kind, its allowed values) are reported once, for the
type, naming the metrics of the new set that carry it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._definitions import GLOBAL_TYPES, Definitions, FieldType, MetricDefinition

__all__ = ["Change", "Changes", "compare", "render_text"]


@dataclass(frozen=True)
class Change:
    """One change: its kind (e.g. ``metric_removed``), what it concerns, and
    a sentence for people."""

    kind: str
    message: str
    metric: str | None = None
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.metric is not None:
            data["metric"] = self.metric
        if self.field is not None:
            data["field"] = self.field
        data["message"] = self.message
        return data


@dataclass
class Changes:
    breaking: list[Change] = field(default_factory=list)
    additions: list[Change] = field(default_factory=list)
    other: list[Change] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "breaking": [c.as_json() for c in self.breaking],
            "additions": [c.as_json() for c in self.additions],
            "other": [c.as_json() for c in self.other],
        }


def compare(old: Definitions, new: Definitions) -> Changes:
    """The changes from ``old`` to ``new``, each group in a stable order."""
    changes = Changes()
    _compare_types(old, new, changes)
    _compare_metrics(old, new, changes)
    return changes


def render_text(changes: Changes) -> str:
    groups = (
        ("Breaking changes", changes.breaking),
        ("Additions", changes.additions),
        ("Other changes", changes.other),
    )
    if not any(items for _, items in groups):
        return "No changes.\n"
    out: list[str] = []
    for title, items in groups:
        if items:
            if out:
                out.append("")
            out.append(f"{title} ({len(items)}):")
            out += [f"  {change.message}" for change in items]
    return "\n".join(out) + "\n"


# -- types ----------------------------------------------------------------------


def _compare_types(old: Definitions, new: Definitions, changes: Changes) -> None:
    users = _users(new)
    for name in sorted(old.types.keys() & new.types.keys()):
        before, after = old.types[name], new.types[name]
        used = users.get(name, [])
        where = f" (used by {_names(used)})" if used else ""
        if before.kind != after.kind:
            changes.breaking.append(
                Change(
                    "type_changed",
                    f"field {name!r}: type changed from {before.kind} to "
                    f"{after.kind}{where}",
                    field=name,
                )
            )
        else:
            _compare_allowed(name, before, after, where, changes)
        if before.sensitive != after.sensitive:
            state = "sensitive" if after.sensitive else "no longer sensitive"
            changes.other.append(
                Change("sensitive_changed", f"field {name!r}: now {state}", field=name)
            )
        if before.description != after.description:
            changes.other.append(
                Change(
                    "description_changed",
                    f"field {name!r}: description changed",
                    field=name,
                )
            )
    for name in sorted(old.types.keys() - new.types.keys()):
        changes.other.append(
            Change("type_removed", f"field {name!r}: type removed", field=name)
        )
    for name in sorted(new.types.keys() - old.types.keys()):
        changes.additions.append(
            Change("type_added", f"field {name!r}: type added", field=name)
        )


def _compare_allowed(
    name: str, before: FieldType, after: FieldType, where: str, changes: Changes
) -> None:
    was, now = before.allowed_values, after.allowed_values
    if was == now:
        return
    if now is None:
        changes.additions.append(
            Change(
                "allowed_values_lifted",
                f"field {name!r}: any value allowed now (allowedValues removed)",
                field=name,
            )
        )
        return
    if was is None:
        changes.breaking.append(
            Change(
                "allowed_values_imposed",
                f"field {name!r}: allowedValues imposed: {_values(now)}{where}",
                field=name,
            )
        )
        return
    removed = [v for v in was if v not in now]
    added = [v for v in now if v not in was]
    if removed:
        changes.breaking.append(
            Change(
                "allowed_value_removed",
                f"field {name!r}: allowed value{_s(removed)} removed: "
                f"{_values(removed)}{where}",
                field=name,
            )
        )
    if added:
        changes.additions.append(
            Change(
                "allowed_value_added",
                f"field {name!r}: allowed value{_s(added)} added: {_values(added)}",
                field=name,
            )
        )


def _users(definitions: Definitions) -> dict[str, list[str]]:
    """Field name -> the metrics that declare it, sorted."""
    users: dict[str, list[str]] = {}
    for metric in sorted(definitions.metrics):
        for name in definitions.metrics[metric].fields:
            users.setdefault(name, []).append(metric)
    return users


# -- metrics ----------------------------------------------------------------------


def _compare_metrics(old: Definitions, new: Definitions, changes: Changes) -> None:
    for name in sorted(old.metrics.keys() - new.metrics.keys()):
        changes.breaking.append(
            Change("metric_removed", f"metric {name!r}: removed", metric=name)
        )
    for name in sorted(new.metrics.keys() - old.metrics.keys()):
        changes.additions.append(
            Change("metric_added", f"metric {name!r}: added", metric=name)
        )
    for name in sorted(old.metrics.keys() & new.metrics.keys()):
        _compare_metric(name, old.metrics[name], new.metrics[name], changes)


def _compare_metric(
    name: str, before: MetricDefinition, after: MetricDefinition, changes: Changes
) -> None:
    def add(
        group: list[Change], kind: str, message: str, field: str | None = None
    ) -> None:
        group.append(
            Change(kind, f"metric {name!r}: {message}", metric=name, field=field)
        )

    if before.unit != after.unit:
        add(
            changes.breaking,
            "unit_changed",
            f"unit changed from {before.unit} to {after.unit}",
        )
    if before.passive != after.passive:
        add(
            changes.other,
            "passive_changed",
            f"passive changed from {_bool(before.passive)} to {_bool(after.passive)}",
        )
    if before.description != after.description:
        add(changes.other, "description_changed", "description changed")
    for field_name, was in before.fields.items():
        now = after.fields.get(field_name)
        if now is None and field_name in GLOBAL_TYPES:  # still accepted
            add(
                changes.other,
                "field_undeclared",
                f"global field {field_name!r} no longer declared",
                field_name,
            )
        elif now is None:
            add(
                changes.breaking,
                "field_removed",
                f"field {field_name!r} removed",
                field_name,
            )
        elif now.required and not was.required:
            add(
                changes.breaking,
                "field_required",
                f"field {field_name!r} became required",
                field_name,
            )
        elif was.required and not now.required:
            add(
                changes.other,
                "field_optional",
                f"field {field_name!r} became optional",
                field_name,
            )
    for field_name, now in after.fields.items():
        if field_name in before.fields:
            continue
        if now.required:
            add(
                changes.breaking,
                "required_field_added",
                f"required field {field_name!r} added",
                field_name,
            )
        else:
            add(
                changes.additions,
                "field_added",
                f"optional field {field_name!r} added",
                field_name,
            )


# -- text -----------------------------------------------------------------------


def _values(values: Iterable[str | int | float]) -> str:
    return ", ".join(repr(v) for v in values)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _s(items: list[Any]) -> str:
    return "" if len(items) == 1 else "s"


def _bool(value: bool) -> str:
    return "true" if value else "false"
