"""Definitions files -> frozen definitions. Every definitions check lives here.

The files are composed into YAML nodes by PyYAML (its C parser when present), so
every value keeps its line and column; the nodes are then read by hand, which
both checks them and builds the frozen result. Only the standard YAML tags are
accepted: a tag that would build a Python object is reported, never run. Merge
keys (``<<``) are reported as unsupported. JSON is read as YAML, with two
repairs where YAML 1.1 reads it differently: numbers with an exponent (``1e5``)
in allowedValues of int and double types, and surrogate-pair escapes
(``\\ud83d\\ude00``).
"""

from __future__ import annotations

import codecs
import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import yaml

from ._errors import DefinitionError, Problem

try:  # the C parser is several times faster; it is optional in PyYAML
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

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

_TAG: Final = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (
    _TAG + t for t in ("str", "int", "float", "bool", "null")
)
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"
_PLAIN_TAGS: Final = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _MAP, _SEQ})
_SAFE_SCALAR_TAGS: Final = {
    _TAG + "timestamp": "a timestamp",
    _TAG + "binary": "binary data",
}
_SAFE_COLLECTION_TAGS: Final = {_TAG + "set", _TAG + "omap", _TAG + "pairs"}
#: A JSON number with an exponent but no '.', or no sign after the 'e' (1e5,
#: 1.5e3): YAML 1.1, which PyYAML reads, takes it for a string (and PyYAML
#: writes such a string unquoted), so it is a number only where the type's kind
#: wants numbers.
_JSON_EXPONENT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[eE][-+]?[0-9]+")


@dataclass(frozen=True, slots=True)
class Location:
    """Where something was defined: a file and a 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


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
        reader.read_file(index, path)
    return reader.finish(tuple(names))


# -- reading ----------------------------------------------------------------

_Node = yaml.Node

#: Two \u escapes of a UTF-16 surrogate pair, as JSON writes a character past
#: U+FFFF (json.dumps does by default); YAML wants the character's own code.
_SURROGATE_PAIR: Final = re.compile(
    r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE
)


def _compose(text: str) -> _Node | None:
    """The node tree of a YAML text; raises PyYAML's errors."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        if "invalid Unicode character escape" not in str(exc.problem):
            raise
        joined = _SURROGATE_PAIR.sub(
            lambda m: chr(
                0x10000 + (int(m[1], 16) - 0xD800) * 0x400 + int(m[2], 16) - 0xDC00
            ),
            text,
        )
        return yaml.compose(joined, Loader=_Loader)


def _describe(node: _Node) -> str:
    """How a node reads in a message: its value, or what kind of node it is."""
    if node.tag in _SAFE_COLLECTION_TAGS:
        return f"a {_short_tag(node.tag)!r} value"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == _STR:
        return repr(node.value)
    if node.tag == _NULL:
        return "null"
    if node.tag in _SAFE_SCALAR_TAGS:
        return f"{_SAFE_SCALAR_TAGS[node.tag]} {node.value!r}"
    if node.tag in (_INT, _FLOAT, _BOOL) and node.value and not node.style:
        return str(node.value)  # a plain number or boolean, as written
    return f"{_short_tag(node.tag)} {node.value!r}"  # with the tag it was given


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _quoted(names: Iterable[str], last: str = "or") -> str:
    items = [repr(n) for n in names]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def _hint(given: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(given, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


_BOOLS: Final = {
    "yes": True,
    "true": True,
    "on": True,
    "y": True,
    "no": False,
    "false": False,
    "off": False,
    "n": False,
}


_Entry = tuple[str, bool, Location]  # a metadata entry: type, required, where


class _Reader:
    """Collects the definitions and the problems of a sequence of files."""

    def __init__(self) -> None:
        self.problems: list[tuple[int, Problem]] = []
        self.types: dict[str, FieldType] = {}
        self.metrics: dict[str, tuple[_RawMetric, int]] = {}
        #: metrics replaced by a later file or defined twice in one: their
        #: metadata entries are still checked against the types
        self.shadowed: list[tuple[_RawMetric, int]] = []
        self.overrides: list[Override] = []
        self._file = 0
        self._path = ""
        self._constructor = yaml.constructor.SafeConstructor()

    # -- problems

    def report(
        self,
        node: _Node | None,
        what: str,
        expected: str,
        got: str,
        hint: str | None = None,
        *,
        at: Location | None = None,
    ) -> None:
        where = at or self.where(node)
        message = f"{what}; expected {expected}; got {got}"
        if hint:
            message += f"; {hint}"
        problem = Problem(where.path, where.line, where.column, message)
        self.problems.append((self._file, problem))

    def where(self, node: _Node | None) -> Location:
        if node is None:
            return Location(self._path, 1, 1)
        mark = node.start_mark
        return Location(self._path, mark.line + 1, mark.column + 1)

    # -- files

    def read_file(self, index: int, path: str) -> None:
        self._file, self._path = index, path
        try:
            with open(path, "rb") as stream:
                data = stream.read().removeprefix(codecs.BOM_UTF8)
        except OSError as exc:
            got = f"{type(exc).__name__}: {exc.strerror or exc}"
            self.report(None, "cannot read file", "a readable file", got)
            return
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            lines = (data[: exc.start].decode() + "?").splitlines()
            self.report(
                None,
                "file is not UTF-8 text",
                "UTF-8",
                f"byte {data[exc.start]:#04x}",
                at=Location(path, len(lines), len(lines[-1])),
            )
            return
        try:
            root = _compose(text)
        except yaml.MarkedYAMLError as exc:
            self.syntax_error(exc, text)
            return
        except yaml.reader.ReaderError as exc:
            # Its position counts bytes (C reader) or characters (Python
            # reader); the character itself says where it is either way.
            lines = (text[: text.find(chr(exc.character))] + "?").splitlines()
            line, column = len(lines), len(lines[-1])
            self.report(
                None,
                f"invalid YAML: {exc.reason}",
                "printable characters",
                f"character #x{exc.character:04x}",
                at=Location(path, line, column),
            )
            return
        if root is None:
            self.report(
                None, "file is empty", "a mapping with a 'metrics' list", "no document"
            )
            return
        self.read_document(root)

    def syntax_error(self, exc: yaml.MarkedYAMLError, text: str) -> None:
        """Report what PyYAML says, where it says it, with the text found there."""
        mark = exc.problem_mark or exc.context_mark
        assert mark is not None  # compose() marks every error it raises
        start = exc.context_mark or mark
        context = exc.context or ""
        if context and (start.line, start.column) != (mark.line, mark.column):
            context += f" at {start.line + 1}:{start.column + 1}"
        what = ", ".join(filter(None, (context, exc.problem)))
        got = "the end of the file"
        lines = text.splitlines()
        if mark.line < len(lines):
            rest = lines[mark.line][mark.column :]
            got = (
                repr(rest[:24]) + "..." * (len(rest) > 24)
                if rest
                else "the end of the line"
            )
        at = Location(self._path, mark.line + 1, mark.column + 1)
        self.report(None, f"invalid YAML: {what}", "valid YAML", got, at=at)

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

    # -- generic node readers

    def mapping(
        self,
        node: _Node,
        what: str,
        keys: tuple[str, ...],
        *,
        required: tuple[str, ...] = (),
    ) -> dict[str, _Node] | None:
        """The entries of a mapping node, checking keys; None if not a mapping."""
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
            if self.safe(node):
                expected = "a mapping with " + _quoted(required, "and")
                self.report(node, f"{what} is not a mapping", expected, _describe(node))
            return None
        result: dict[str, _Node] = {}
        key_nodes: dict[str, _Node] = {}
        pairs = node.value
        if any(key.tag == _MERGE for key, _ in pairs):
            pairs = self.merged(node, what, set())
        for key_node, value_node in pairs:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                if self.safe(key_node):
                    self.report(
                        key_node,
                        f"key in {what} is not a string",
                        "a key name",
                        _describe(key_node),
                    )
                continue
            key = key_node.value
            if key not in keys:
                self.report(
                    key_node,
                    f"unknown key in {what}",
                    "one of " + _quoted(sorted(keys)),
                    repr(key),
                    _hint(key, keys),
                )
            elif key in result:
                first = self.where(key_nodes[key])
                self.report(
                    key_node,
                    f"key {key!r} appears twice in {what} "
                    f"(first at {first.line}:{first.column})",
                    "each key once",
                    "a second " + repr(key),
                )
            else:
                key_nodes[key] = key_node
                result[key] = value_node
        for key in required:
            if key not in result:
                self.report(
                    node,
                    f"{what} has no {key!r}",
                    _REQUIRED_EXPECTATIONS[key],
                    f"no {key!r} key",
                )
        return result

    def merged(
        self, node: yaml.MappingNode, what: str, seen: set[int]
    ) -> list[tuple[_Node, _Node]]:
        """The pairs of a mapping with its ``<<`` merge keys resolved as YAML
        1.1 says: its own keys first, then those of the merged mappings that it
        does not set, an earlier merged mapping winning over a later one."""
        seen = seen | {id(node)}
        own: list[tuple[_Node, _Node]] = []
        inherited: list[tuple[_Node, _Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            sources = (
                value_node.value
                if isinstance(value_node, yaml.SequenceNode)
                else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode) or source.tag != _MAP:
                    if self.safe(source):
                        self.report(
                            source,
                            f"merge key in {what} does not name a mapping",
                            "a mapping or a list of mappings",
                            _describe(source),
                        )
                elif id(source) in seen:
                    self.report(
                        source,
                        f"merge key in {what} merges a mapping into itself",
                        "a mapping defined elsewhere",
                        "a mapping that contains this merge",
                    )
                else:
                    inherited.extend(self.merged(source, what, seen))
        taken = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        for key_node, value_node in inherited:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if name is None or name not in taken:
                own.append((key_node, value_node))
                if name is not None:
                    taken.add(name)
        return own

    def sequence(self, node: _Node | None, what: str, items: str) -> list[_Node]:
        if node is None:
            return []
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            return list(node.value)
        if self.safe(node):
            self.report(
                node, f"{what} is not a list", f"a list of {items}", _describe(node)
            )
        return []

    def safe(self, node: _Node) -> bool:
        """Report a tag that PyYAML's safe loader would refuse; False if bad."""
        tag = node.tag
        if (
            tag in _PLAIN_TAGS
            or tag in _SAFE_SCALAR_TAGS
            or tag in _SAFE_COLLECTION_TAGS
        ):
            return True
        short = _short_tag(tag)
        self.report(
            node,
            f"tag {short!r} is not allowed (only safe YAML is read)",
            "plain YAML values",
            f"a {short!r} tag",
        )
        return False

    def string(self, node: _Node, what: str, *, empty: bool = True) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            if node.value or empty:
                return str(node.value)
            self.report(node, f"{what} is empty", "a non-empty string", "''")
            return None
        if self.safe(node):
            hint = "quote it" if isinstance(node, yaml.ScalarNode) else None
            self.report(
                node, f"{what} is not a string", "a string", _describe(node), hint
            )
        return None

    def boolean(self, node: _Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            value = _BOOLS.get(node.value.lower())
            if value is not None:
                return value
        if self.safe(node):
            self.report(
                node, f"{what} is not a boolean", "true or false", _describe(node)
            )
        return None

    def choice(self, node: _Node, what: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(node, what)
        if value is None:
            return None
        if value not in choices:
            self.report(
                node,
                f"{what} is not known",
                "one of " + _quoted(choices),
                repr(value),
                _hint(value, choices),
            )
            return None
        return value

    def number(self, node: yaml.ScalarNode) -> int | float | None:
        """The number a scalar holds, or None (not reported) if it holds none."""
        try:
            if node.tag == _INT:
                return int(self._constructor.construct_yaml_int(node))
            if node.tag == _FLOAT:
                number = float(self._constructor.construct_yaml_float(node))
            elif node.tag == _STR:  # a JSON number YAML 1.1 reads as a string
                number = float(node.value)
            else:
                return None
        except (ValueError, IndexError):  # IndexError: PyYAML on an empty !!int
            return None
        return number if math.isfinite(number) else None

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
                "a name not starting with " + _quoted(_RESERVED_PREFIXES),
                repr(name),
            )
            return None
        if name in RESERVED_NAMES:
            self.report(
                node,
                "type name is reserved for the event itself",
                "a name other than " + _quoted(sorted(RESERVED_NAMES)),
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
                if item.tag == _STR and not (
                    numeric and not item.style and _JSON_EXPONENT.fullmatch(item.value)
                ):
                    value = item.value
                else:
                    value = self.number(item)
            if value is None:
                self.report(
                    item,
                    f"an item of {what} is neither a string nor a finite number",
                    "a string or a number",
                    _describe(item),
                    "quote it" if isinstance(item, yaml.ScalarNode) else None,
                )
                return None
            is_string = isinstance(value, str)
            if values and is_string != isinstance(values[0], str):
                expected = "strings only" if strings else "numbers only"
                self.report(
                    item, f"{what} mix strings and numbers", expected, _describe(item)
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
            self.shadowed.append((metric, self._file))
            return
        seen[name] = where
        previous = self.metrics.get(name)
        if previous is not None:
            self.overrides.append(Override("metric", name, previous[0].location, where))
            self.shadowed.append(previous)
        self.metrics[name] = (metric, self._file)

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
                self._file = file_index
                self.report(
                    None,
                    f"metric {raw.name!r} uses an undefined type",
                    "a type defined in a loaded file or a global field",
                    repr(type_name),
                    _hint(type_name, types),
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


_REQUIRED_EXPECTATIONS: Final = {
    "metrics": "a 'metrics' list",
    "name": "a name",
    "description": "a description (it may be empty)",
    "type": "the name of a type",
}
