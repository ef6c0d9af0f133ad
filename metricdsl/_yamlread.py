"""YAML files -> position-keeping nodes, read by hand; every problem at
``path:line:column``. Knows YAML, not the definitions format.

A file is composed into YAML nodes by PyYAML (its C parser when present), so
every value keeps its line and column; a subclass of ``NodeReader`` then reads
the nodes with the generic readers here (``mapping``, ``sequence``, ``string``,
``boolean``, ``choice``, ``string_or_number``), which check each node and
report what is wrong where it is. Only the standard YAML tags are accepted: a
tag that would build a Python object is reported, never run. Merge keys
(``<<``) are resolved as YAML 1.1 says. JSON is read as YAML, with two repairs
where YAML 1.1 reads it differently: surrogate-pair escapes
(``\\ud83d\\ude00``), and plain numbers with an exponent (``1e5``) where the
caller wants numbers.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import yaml

from ._errors import Problem, did_you_mean

try:  # the C parser is several times faster; it is optional in PyYAML
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["Location", "NodeReader", "describe", "quoted"]

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
#: writes such a string unquoted), so it is a number only where the caller
#: wants numbers.
_JSON_EXPONENT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[eE][-+]?[0-9]+")
#: Two \u escapes of a UTF-16 surrogate pair, as JSON writes a character past
#: U+FFFF (json.dumps does by default); YAML wants the character's own code.
_SURROGATE_PAIR: Final = re.compile(
    r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE
)
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

_Node = yaml.Node


@dataclass(frozen=True, slots=True)
class Location:
    """Where something was defined: a file and a 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


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


def describe(node: _Node) -> str:
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


def quoted(names: Iterable[str], last: str = "or") -> str:
    """``'a', 'b' or 'c'``: names for a message."""
    items = [repr(n) for n in names]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


class NodeReader:
    """Reads YAML files into nodes and nodes into values, collecting the
    problems of a sequence of files, each with the index of its file.

    ``document`` is what a file must hold (said when a file is empty);
    ``expectations`` says, for a required key, what its absence expects.
    ``file`` is the index of the file that problems are filed under: the one
    being read, unless a caller sets it to report on an earlier file.
    """

    def __init__(self, *, document: str, expectations: Mapping[str, str]) -> None:
        self.problems: list[tuple[int, Problem]] = []
        self._document = document
        self._expectations = expectations
        self.file = 0
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
        self.problems.append((self.file, problem))

    def where(self, node: _Node | None) -> Location:
        if node is None:
            return Location(self._path, 1, 1)
        mark = node.start_mark
        return Location(self._path, mark.line + 1, mark.column + 1)

    # -- files

    def read_file(self, index: int, path: str) -> _Node | None:
        """The root node of a file; None, with the problem reported, if the
        file cannot be read, is not UTF-8, is not YAML or is empty."""
        self.file, self._path = index, path
        try:
            with open(path, "rb") as stream:
                data = stream.read().removeprefix(codecs.BOM_UTF8)
        except OSError as exc:
            got = f"{type(exc).__name__}: {exc.strerror or exc}"
            self.report(None, "cannot read file", "a readable file", got)
            return None
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
            return None
        try:
            root = _compose(text)
        except yaml.MarkedYAMLError as exc:
            self.syntax_error(exc, text)
            return None
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
            return None
        if root is None:
            self.report(None, "file is empty", self._document, "no document")
        return root

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
                expected = "a mapping with " + quoted(required, "and")
                self.report(node, f"{what} is not a mapping", expected, describe(node))
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
                        describe(key_node),
                    )
                continue
            key = key_node.value
            if key not in keys:
                self.report(
                    key_node,
                    f"unknown key in {what}",
                    "one of " + quoted(sorted(keys)),
                    repr(key),
                    did_you_mean(key, keys),
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
                    self._expectations.get(key, f"a {key!r} key"),
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
                            describe(source),
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
                node, f"{what} is not a list", f"a list of {items}", describe(node)
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
            advice = "quote it" if isinstance(node, yaml.ScalarNode) else None
            self.report(
                node, f"{what} is not a string", "a string", describe(node), advice
            )
        return None

    def boolean(self, node: _Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            value = _BOOLS.get(node.value.lower())
            if value is not None:
                return value
        if self.safe(node):
            self.report(
                node, f"{what} is not a boolean", "true or false", describe(node)
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
                "one of " + quoted(choices),
                repr(value),
                did_you_mean(value, choices),
            )
            return None
        return value

    def string_or_number(
        self, node: yaml.ScalarNode, *, numbers: bool
    ) -> str | int | float | None:
        """The string or finite number a scalar holds, or None (not reported)
        if it holds neither. With ``numbers``, a plain ``1e5`` (a string to
        YAML 1.1) is JSON's number."""
        if node.tag == _STR and not (
            numbers and not node.style and _JSON_EXPONENT.fullmatch(node.value)
        ):
            text: str = node.value
            return text
        return self.number(node)

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
