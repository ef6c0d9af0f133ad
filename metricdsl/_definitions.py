"""Definitions files -> frozen definitions: the format's types, their rules,
and the layering of files. Every check of the definitions format lives here.

The files are read by ``_yamlread.NodeReader`` (YAML nodes with positions, the
generic readers); this module says what a definitions file holds: a
``types`` and a ``metrics`` list, their keys, names, kinds and units, metadata
entries, files layered in order (overrides), and the check that every field a
metric lists is defined.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import yaml

from ._errors import DefinitionError, did_you_mean
from ._yamlread import Location, NodeReader, describe, quoted

__all__ = [
    "GLOBAL_TYPES",
    "KINDS",
    "RESERVED_NAMES",
    "UNITS",
    "Definitions",
    "Field",
    "FieldType",
    "Location",
    "MetricDefinition",
    "Override",
    "load_definitions",
]

KINDS: Final = ("string", "int", "double", "boolean")
UNITS: Final = ("None", "Milliseconds", "Bytes", "Percent", "Count")
#: Names an event uses for itself; no field may take them.
RESERVED_NAMES: Final = frozenset(
    {"metricName", "epochTimestamp", "unit", "missingFields"}
)
_RESERVED_PREFIXES: Final = ("value", "project", "createTime")

_TYPE_KEYS: Final = ("name", "type", "description", "allowedValues", "sensitive")
_METRIC_KEYS: Final = (
    "name",
    "description",
    "unit",
    "metadata",
    "passive",
    "trackPerformance",
    "traceId",
    "metricId",
    "parentId",
)
_ENTRY_KEYS: Final = ("type", "required")
_TOP_KEYS: Final = ("types", "metrics")

#: What a missing required key expects.
_REQUIRED_EXPECTATIONS: Final = {
    "metrics": "a 'metrics' list",
    "name": "a name",
    "description": "a description (it may be empty)",
    "type": "the name of a type",
}


@dataclass(frozen=True, slots=True)
class FieldType:
    """A field ("type" in the definitions format) that metrics may carry."""

    name: str
    kind: str
    allowed_values: tuple[str | int | float, ...] | None
    description: str
    sensitive: bool = False
    location: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Field(FieldType):
    """A field as declared on one metric: its type, and whether it is required."""

    required: bool = True


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """A metric as the definitions describe it (the frozen part of a Metric)."""

    name: str
    description: str
    unit: str
    passive: bool
    fields: Mapping[str, Field]
    track_performance: bool = False
    location: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Override:
    """A type or metric of an earlier file replaced whole by a later file."""

    kind: str  # "type" or "metric"
    name: str
    replaced: Location
    by: Location

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.name!r} defined at {self.by} replaces {self.replaced}"
        )


def _global(name: str, kind: str, description: str, allowed: Any = None) -> FieldType:
    return FieldType(name, kind, allowed, description)


#: Fields every metric may carry without declaring them.
GLOBAL_TYPES: Final[Mapping[str, FieldType]] = MappingProxyType(
    {
        t.name: t
        for t in (
            _global(
                "result",
                "string",
                "The result of the operation.",
                ("Succeeded", "Failed", "Cancelled"),
            ),
            _global("reason", "string", "A stable name for why the operation ended."),
            _global("reasonDesc", "string", "Details of the reason (scrubbed)."),
            _global("requestId", "string", "The request id of the last call made."),
            _global("httpStatusCode", "string", "The HTTP status of the last call."),
            _global("duration", "double", "How long the operation took, in ms."),
            _global("traceId", "string", "The trace (a set of events) of this event."),
            _global("metricId", "string", "The unique id of this event."),
            _global("parentId", "string", "The metricId of the enclosing span."),
            _global("value", "double", "The value of the metric (default 1)."),
            _global("passive", "boolean", "Emitted without an explicit user action."),
        )
    }
)


@dataclass(frozen=True, slots=True)
class Definitions:
    """The result of loading one or more files, layered in order."""

    paths: tuple[str, ...]
    types: Mapping[str, FieldType]
    metrics: Mapping[str, MetricDefinition]
    overrides: tuple[Override, ...]


def load_definitions(paths: Iterable[str | os.PathLike[str]]) -> Definitions:
    """Read, check and layer definitions files; raise DefinitionError listing
    every problem of every file."""
    reader = _Reader()
    names = [os.fspath(p) for p in paths]
    for index, path in enumerate(names):
        root = reader.read_file(index, path)
        if root is not None:
            reader.read_document(root)
    return reader.finish(tuple(names))


_Node = yaml.Node
_Entry = tuple[str, bool, Location]  # a metadata entry: type, required, where


class _Reader(NodeReader):
    """Collects the definitions and the problems of a sequence of files."""

    def __init__(self) -> None:
        super().__init__(
            document="a mapping with a 'metrics' list",
            expectations=_REQUIRED_EXPECTATIONS,
        )
        self.types: dict[str, FieldType] = {}
        self.metrics: dict[str, tuple[_RawMetric, int]] = {}
        #: metrics replaced by a later file or defined twice in one: their
        #: metadata entries are still checked against the types
        self.shadowed: list[tuple[_RawMetric, int]] = []
        self.overrides: list[Override] = []

    def read_document(self, root: _Node) -> None:
        top = self.mapping(root, "top level", _TOP_KEYS, required=("metrics",))
        if top is None:
            return
        seen_types: dict[str, Location] = {}
        for entry in self.sequence(top.get("types"), "'types'", "type definitions"):
            field_type = self.read_type(entry)
            if field_type is not None:
                self.add_type(field_type, seen_types)
        seen_metrics: dict[str, Location] = {}
        for entry in self.sequence(top.get("metrics"), "'metrics'", "metrics"):
            metric = self.read_metric(entry)
            if metric is not None:
                self.add_metric(metric, seen_metrics)

    # -- types

    def read_type(self, node: _Node) -> FieldType | None:
        """A type; best effort (but reported) when only its name is sound, so
        that metrics naming it do not add problems of their own."""
        keys = self.mapping(
            node, "type definition", _TYPE_KEYS, required=("name", "description")
        )
        if keys is None:
            return None
        name = self.type_name(keys["name"]) if "name" in keys else None
        label = f"type {name!r}" if name else "type definition"
        description = None
        if "description" in keys:
            description = self.string(keys["description"], f"'description' of {label}")
        kind: str | None = "string"
        if "type" in keys:
            kind = self.choice(keys["type"], f"'type' of {label}", KINDS)
        sensitive: bool | None = False
        if "sensitive" in keys:
            sensitive = self.boolean(keys["sensitive"], f"'sensitive' of {label}")
        allowed = None
        if "allowedValues" in keys and kind is not None:
            allowed = self.allowed_values(keys["allowedValues"], label, kind)
        if name is None:
            return None
        # kind "" marks a kind that was reported as broken
        return FieldType(
            name,
            kind or "",
            allowed,
            description or "",
            bool(sensitive),
            self.where(node),
        )

    def type_name(self, node: _Node) -> str | None:
        name = self.string(node, "type name", empty=False)
        if name is None:
            return None
        prefix = next((p for p in _RESERVED_PREFIXES if name.startswith(p)), None)
        if prefix is not None:
            self.report(
                node,
                f"type name starts with the reserved word {prefix!r}",
                "a name not starting with " + quoted(_RESERVED_PREFIXES),
                repr(name),
            )
            return None
        if name in RESERVED_NAMES:
            self.report(
                node,
                "type name is reserved for the event itself",
                "a name other than " + quoted(sorted(RESERVED_NAMES)),
                repr(name),
            )
            return None
        return name

    def allowed_values(
        self, node: _Node, label: str, kind: str
    ) -> tuple[str | int | float, ...] | None:
        what = f"'allowedValues' of {label}"
        numeric = kind in ("int", "double")  # then a plain 1e5 is JSON's number
        values: list[str | int | float] = []
        strings = 0
        for item in self.sequence(node, what, "strings or numbers"):
            if not self.safe(item):
                return None
            value: str | int | float | None = None
            if isinstance(item, yaml.ScalarNode):
                value = self.string_or_number(item, numbers=numeric)
            if value is None:
                self.report(
                    item,
                    f"an item of {what} is neither a string nor a finite number",
                    "a string or a number",
                    describe(item),
                    "quote it" if isinstance(item, yaml.ScalarNode) else None,
                )
                return None
            is_string = isinstance(value, str)
            if values and is_string != isinstance(values[0], str):
                expected = "strings only" if strings else "numbers only"
                self.report(
                    item, f"{what} mix strings and numbers", expected, describe(item)
                )
                return None
            strings += is_string
            values.append(value)
        if not values:
            return None
        fits = {
            "string": bool(strings),
            "int": not strings and all(isinstance(v, int) for v in values),
            "double": not strings,
            "boolean": False,
        }[kind]
        if not fits:
            wanted = {
                "string": "strings",
                "int": "integers",
                "double": "numbers",
                "boolean": "no allowedValues on a boolean",
            }[kind]
            self.report(
                node,
                f"{what} do not fit its type {kind!r}",
                wanted,
                ", ".join(repr(v) for v in values[:3]),
            )
            return None
        return tuple(values)

    def add_type(self, field_type: FieldType, seen: dict[str, Location]) -> None:
        name, where = field_type.name, field_type.location
        assert where is not None
        if name in seen:
            first = seen[name]
            self.report(
                None,
                f"type {name!r} is defined twice in this file "
                f"(first at {first.line}:{first.column})",
                "each type once per file",
                "a second definition",
                at=where,
            )
            return
        seen[name] = where
        builtin = GLOBAL_TYPES.get(name)
        if builtin is not None and field_type.kind and builtin.kind != field_type.kind:
            self.report(
                None,
                f"type {name!r} redefines a global field with another type",
                repr(builtin.kind),
                repr(field_type.kind),
                at=where,
            )
            return
        previous = self.types.get(name)
        if previous is not None and previous.location is not None:
            self.overrides.append(Override("type", name, previous.location, where))
        self.types[name] = field_type

    # -- metrics

    def read_metric(self, node: _Node) -> _RawMetric | None:
        """A metric; best effort (but reported) when only its name is sound, so
        that its metadata entries are still checked against the types."""
        keys = self.mapping(
            node, "metric definition", _METRIC_KEYS, required=("name", "description")
        )
        if keys is None:
            return None
        name = self.metric_name(keys["name"]) if "name" in keys else None
        label = f"metric {name!r}" if name else "metric definition"
        description = None
        if "description" in keys:
            description = self.string(keys["description"], f"'description' of {label}")
        unit = "None"
        if "unit" in keys:
            unit = self.choice(keys["unit"], f"'unit' of {label}", UNITS) or "None"
        flags = {"passive": False, "trackPerformance": False}
        for flag in flags:
            if flag in keys:
                flags[flag] = bool(self.boolean(keys[flag], f"{flag!r} of {label}"))
        for id_key in ("traceId", "metricId", "parentId"):
            if id_key in keys:
                self.string(keys[id_key], f"{id_key!r} of {label}")
        entries = self.metadata(keys.get("metadata"), label)
        if name is None:
            return None
        return _RawMetric(
            name,
            description or "",
            unit,
            flags["passive"],
            flags["trackPerformance"],
            entries,
            self.where(node),
        )

    def metric_name(self, node: _Node) -> str | None:
        name = self.string(node, "metric name", empty=False)
        if name is not None and "_" not in name:
            self.report(
                node,
                "metric name has no '_'",
                "namespace_camelCaseName such as 'metric_setupThing'",
                repr(name),
            )
            return None
        return name

    def metadata(self, node: _Node | None, label: str) -> list[_Entry]:
        """The sound (type, required, where) entries of a metric."""
        what = f"'metadata' of {label}"
        entries: list[_Entry] = []
        seen: dict[str, Location] = {}
        for item in self.sequence(node, what, "metadata entries"):
            keys = self.mapping(
                item, f"metadata entry of {label}", _ENTRY_KEYS, required=("type",)
            )
            if keys is None or "type" not in keys:
                continue
            type_node = keys["type"]
            type_name = self.string(
                type_node, f"'type' of a metadata entry of {label}", empty=False
            )
            required: bool | None = True
            if "required" in keys:
                required = self.boolean(keys["required"], f"'required' of {label}")
            if type_name is None or required is None:
                continue
            where = self.where(type_node)
            if type_name in seen:
                first = seen[type_name]
                self.report(
                    type_node,
                    f"{label} lists field {type_name!r} twice "
                    f"(first at {first.line}:{first.column})",
                    "each field once",
                    "a second listing",
                )
                continue
            seen[type_name] = where
            entries.append((type_name, required, where))
        return entries

    def add_metric(self, metric: _RawMetric, seen: dict[str, Location]) -> None:
        name, where = metric.name, metric.location
        if name in seen:
            first = seen[name]
            self.report(
                None,
                f"metric {name!r} is defined twice in this file "
                f"(first at {first.line}:{first.column})",
                "each metric once per file",
                "a second definition",
                at=where,
            )
            self.shadowed.append((metric, self.file))
            return
        seen[name] = where
        previous = self.metrics.get(name)
        if previous is not None:
            self.overrides.append(Override("metric", name, previous[0].location, where))
            self.shadowed.append(previous)
        self.metrics[name] = (metric, self.file)

    # -- the end

    def finish(self, paths: tuple[str, ...]) -> Definitions:
        types: dict[str, FieldType] = dict(GLOBAL_TYPES)
        types.update(self.types)
        for raw, file_index in self.shadowed:
            self.fields(raw, file_index, types)  # only to report undefined types
        metrics: dict[str, MetricDefinition] = {}
        for raw, file_index in self.metrics.values():
            metrics[raw.name] = MetricDefinition(
                raw.name,
                raw.description,
                raw.unit,
                raw.passive,
                MappingProxyType(self.fields(raw, file_index, types)),
                raw.track_performance,
                raw.location,
            )
        if self.problems:
            ordered = sorted(
                self.problems,
                key=lambda fp: (fp[0], fp[1].line, fp[1].column),
            )
            raise DefinitionError([p for _, p in ordered])
        return Definitions(
            paths,
            MappingProxyType(types),
            MappingProxyType(metrics),
            tuple(self.overrides),
        )

    def fields(
        self, raw: _RawMetric, file_index: int, types: Mapping[str, FieldType]
    ) -> dict[str, Field]:
        """The fields of a metric's metadata entries; undefined types reported."""
        fields: dict[str, Field] = {}
        for type_name, required, where in raw.entries:
            field_type = types.get(type_name)
            if field_type is None:
                self.file = file_index
                self.report(
                    None,
                    f"metric {raw.name!r} uses an undefined type",
                    "a type defined in a loaded file or a global field",
                    repr(type_name),
                    did_you_mean(type_name, types),
                    at=where,
                )
                continue
            fields[type_name] = Field(
                field_type.name,
                field_type.kind,
                field_type.allowed_values,
                field_type.description,
                field_type.sensitive,
                field_type.location,
                required,
            )
        return fields


@dataclass(frozen=True, slots=True)
class _RawMetric:
    name: str
    description: str
    unit: str
    passive: bool
    track_performance: bool
    entries: list[_Entry]
    location: Location
