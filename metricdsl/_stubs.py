"""``metricdsl stubs``: a type stub (``.pyi``) for the module holding
``NAME = metricdsl.load(...)``.

Every metric gets a class whose ``emit``, ``record``, ``span`` and ``run`` take
exactly its fields (and the global fields) as keyword arguments, through
``**fields: Unpack[TypedDict]`` (PEP 692): a ``TypedDict`` holds any field name,
also one that is a Python keyword or no identifier at all, and one TypedDict
serves the four verbs. allowedValues become ``Literal`` aliases; ``emit``
marks the required fields ``Required``.

The stub's classes stand alone (they do not derive from ``metricdsl.Metric`` or
``metricdsl.Telemetry``): both define ``__getattr__``, through which a type
checker would let a misspelt name pass. The span classes do derive from
``metricdsl.Span``.

The text is laid out as ``ruff format`` would lay it out (stub style, line
length 88), so a generated file is format-clean and regenerating it gives the
same bytes.
"""

from __future__ import annotations

import keyword
import re
import shlex
from collections.abc import Iterable, Sequence
from typing import Final

from ._definitions import GLOBAL_TYPES, Definitions, FieldType
from ._metric import is_attribute

__all__ = ["MODULE_NAMES", "render_stub"]

_WIDTH: Final = 88
_PY_TYPES: Final = {"string": "str", "int": "int", "double": "float", "boolean": "bool"}
_DECORATOR: Final = "_RunDecorator"
#: names the stub itself imports or defines at module level
MODULE_NAMES: Final = frozenset(
    {
        "_P",
        "_R",
        "_T",
        _DECORATOR,
        "Callable",
        "Iterator",
        "Literal",
        "Mapping",
        "ParamSpec",
        "Required",
        "TypeVar",
        "TypedDict",
        "Unpack",
        "metricdsl",
        "overload",
        "GlobalCounts",
        "GlobalFields",
        "Telemetry",
        "TelemetryFields",
    }
)


def render_stub(
    definitions: Definitions, *, variable: str, command: Sequence[str]
) -> str:
    """The text of the stub; ``command`` is how to regenerate it (for the header)."""
    return _Stub(definitions, variable).render(shlex.join(command))


# -- Python source text -------------------------------------------------------


def py_str(text: str) -> str:
    """A string literal as ruff writes it: double quotes unless single quotes
    need fewer escapes."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    escaped = []
    for char in text:
        if char in ("\\", quote):
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        elif not char.isprintable():
            code = ord(char)
            escaped.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            escaped.append(char)
    return quote + "".join(escaped) + quote


def _py_value(value: str | int | float) -> str:
    return py_str(value) if isinstance(value, str) else repr(value)


def pascal(name: str) -> str:
    """``metric_setupThing`` -> ``MetricSetupThing``; always an identifier."""
    parts = [p for p in re.split(r"[\W_]+", name) if p]
    text = "".join(p[0].upper() + p[1:] for p in parts)
    if not text or not text.isidentifier():
        text = "X" + text
    return text if text.isidentifier() else "X"


def is_plain_name(name: str) -> bool:
    """A name usable as a keyword argument and a class-syntax TypedDict key."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("__")
    )


def _docstring(text: str, indent: str) -> list[str]:
    """A docstring as ruff formats it, or nothing for an empty text."""
    text = text.replace("\\", "\\\\").replace("\t", "    ").replace('"""', '\\"\\"\\"')
    text = "".join(
        c if c.isprintable() or c == "\n" else f"\\x{ord(c):02x}" for c in text
    )
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if not lines:
        return []
    if lines[-1].endswith('"'):
        lines[-1] += " "
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    body = [f'{indent}"""{lines[0]}']
    body += [f"{indent}{line}" if line else "" for line in lines[1:]]
    body.append(f'{indent}"""')
    return body


def _annotation(indent: str, target: str, annotation: str, end: str = "") -> list[str]:
    """``target: annotation`` as ruff lays it out: a class attribute (``end``
    empty), a dict entry or a parameter (``end`` is ``","``)."""
    line = f"{indent}{target}: {annotation}{end}"
    if len(line) <= _WIDTH:
        return [line]
    inner = indent + "    "
    match = re.fullmatch(r"(\w+)\[(.*)\]", annotation)
    if match and "," not in match.group(2):  # split inside the brackets
        return [
            f"{indent}{target}: {match.group(1)}[",
            f"{inner}{match.group(2)}",
            f"{indent}]{end}",
        ]
    if end and " | " in annotation:  # a dict entry breaks before the operator
        head, tail = annotation.rsplit(" | ", 1)
        return [f"{indent}{target}: {head}", f"{indent}| {tail}{end}"]
    if end:
        return [line]
    return [f"{indent}{target}: (", f"{inner}{annotation}", f"{indent})"]


def _class(name: str, bases: str, body: str = "") -> list[str]:
    """A class header (with ``body`` on it, e.g. ``" ..."``)."""
    line = f"class {name}({bases}):{body}"
    if len(line) <= _WIDTH:
        return [line]
    return [f"class {name}(", f"    {bases}", f"):{body}"]


def _def(
    indent: str,
    name: str,
    params: Sequence[str],
    returns: str,
    *,
    pragma: str = "",
    is_async: bool = False,
) -> list[str]:
    """A stub function: on one line when it fits, else one parameter a line
    with a trailing comma (which keeps ruff from joining them again)."""
    keyword_ = "async def" if is_async else "def"
    comment = f"  {pragma}" if pragma else ""
    line = f"{indent}{keyword_} {name}({', '.join(params)}) -> {returns}: ..."
    if len(line) <= _WIDTH:
        return [line + comment]
    lines = [f"{indent}{keyword_} {name}({comment}"]
    inner = indent + "    "
    for param in params:
        target, colon, annotation = param.partition(": ")
        if colon:
            lines += _annotation(inner, target, annotation, ",")
        else:
            lines.append(f"{inner}{param},")
    end = f"{indent}) -> {returns}: ..."
    if len(end) <= _WIDTH:
        lines.append(end)
    else:
        lines += [f"{indent}) -> (", f"{inner}{returns}", f"{indent}): ..."]
    return lines


# -- the stub -------------------------------------------------------------------


def _counts(fields: Iterable[FieldType]) -> list[tuple[str, str]]:
    """The fields ``increment`` takes: int and double ones."""
    return [(f.name, _PY_TYPES[f.kind]) for f in fields if f.kind in ("int", "double")]


class _Names:
    """Unique module-level names, given out in a fixed order."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = set(taken)

    def take(self, wanted: str) -> str:
        name, number = wanted, 1
        while name in self._taken:
            number += 1
            name = f"{wanted}{number}"
        self._taken.add(name)
        return name


class _MetricNames:
    def __init__(self, names: _Names, metric: str) -> None:
        base = pascal(metric)
        self.cls = names.take(base)
        self.span = names.take(base + "Span")
        self.fields = names.take(base + "Fields")
        self.emit = names.take(base + "EmitFields")
        self.counts = names.take(base + "Counts")


class _Stub:
    def __init__(self, definitions: Definitions, variable: str) -> None:
        self.definitions = definitions
        self.variable = variable
        self.names = _Names(MODULE_NAMES | {variable})
        self.lines: list[str] = []
        metrics = definitions.metrics
        self.metric_names = {name: _MetricNames(self.names, name) for name in metrics}
        self.aliases: dict[str, str] = {}  # type name -> Literal alias
        for field_type in self._used_types():
            if field_type.allowed_values and field_type.kind in ("string", "int"):
                alias = self.names.take(pascal(field_type.name) + "Value")
                self.aliases[field_type.name] = alias

    # -- what each metric carries

    def _globals(self) -> dict[str, FieldType]:
        types = self.definitions.types
        return {name: types.get(name, t) for name, t in GLOBAL_TYPES.items()}

    def _used_types(self) -> list[FieldType]:
        used: dict[str, FieldType] = dict(self._globals())
        for metric in self.definitions.metrics.values():
            for name, field in metric.fields.items():
                used.setdefault(name, field)
        return list(used.values())

    def _type(self, field_type: FieldType) -> str:
        return self.aliases.get(field_type.name) or _PY_TYPES[field_type.kind]

    # -- output

    def render(self, command: str) -> str:
        out = self.lines
        out += [
            "# Generated by `metricdsl stubs`; do not edit. Regenerate with:",
            f"#   {command}",
            f"# Types for a module that holds `{self.variable} = metricdsl.load(...)`.",
            "# Field names that are not Python identifiers, or are keywords, are keys",
            "# of the metric's *Fields TypedDict: pass them as **fields.",
            "",
            "from collections.abc import Callable, Iterator, Mapping",
            "from typing import Literal, ParamSpec, TypedDict, TypeVar, overload",
            "",
            "from typing_extensions import Required, Unpack",
            "",
            "import metricdsl",
            "",
            '_P = ParamSpec("_P")',
            '_R = TypeVar("_R")',
            '_T = TypeVar("_T")',
        ]
        for field_type in self._used_types():
            alias = self.aliases.get(field_type.name)
            if alias is not None:
                assert field_type.allowed_values is not None
                self._literal(alias, field_type.allowed_values)
        self._decorator()
        globals_ = self._globals()
        self._typed_dict(
            "GlobalFields", [(n, self._optional(t)) for n, t in globals_.items()]
        )
        self._typed_dict("GlobalCounts", _counts(globals_.values()))
        for name, names in self.metric_names.items():
            self._metric(name, names)
        self._telemetry_class()
        out += ["", f"{self.variable}: Telemetry"]
        return "\n".join(out) + "\n"

    def _metric(self, metric: str, names: _MetricNames) -> None:
        declared = self.definitions.metrics[metric].fields
        own = [(f, f.required) for f in declared.values()]
        self._field_dict(names.fields, own, "fields")
        self._field_dict(names.emit, own, "emit")
        self._field_dict(names.counts, own, "counts")
        self._span_class(names)
        self._metric_class(metric, names)

    def _field_dict(
        self, name: str, own: Sequence[tuple[FieldType, bool]], how: str
    ) -> None:
        """A TypedDict of ``own`` (field, required) and the global fields.

        It extends the shared global TypedDict unless a field is a global one
        (a TypedDict may not redefine an inherited key) or needs the functional
        syntax (which cannot inherit): then it lists the global fields too.
        """
        names = [f.name for f, _ in own]
        extend = all(is_plain_name(n) and n not in GLOBAL_TYPES for n in names)
        if not extend:
            own = [*own] + [
                (t, False) for n, t in self._globals().items() if n not in names
            ]
        if how == "counts":
            items = _counts(f for f, _ in own)
            base = "GlobalCounts"
        else:
            items = [
                (
                    f.name,
                    f"Required[{self._type(f)}]"
                    if required and how == "emit"
                    else self._optional(f),
                )
                for f, required in own
            ]
            base = "GlobalFields"
        self._typed_dict(name, items, base=base if extend else "")

    def _optional(self, field_type: FieldType) -> str:
        return f"{self._type(field_type)} | None"

    def _literal(self, alias: str, values: Iterable[str | int | float]) -> None:
        shown = list(dict.fromkeys(_py_value(v) for v in values))
        self.lines.append("")
        if len(shown) == 1:
            line = f"{alias} = Literal[{shown[0]}]"
            if len(line) <= _WIDTH:
                self.lines.append(line)
            else:
                self.lines += [f"{alias} = Literal[", f"    {shown[0]}", "]"]
            return
        self.lines.append(f"{alias} = Literal[")
        self.lines += [f"    {value}," for value in shown]
        self.lines.append("]")

    def _decorator(self) -> None:
        callable_ = "Callable[_P, _R]"
        self.lines += ["", f"class {_DECORATOR}:"]
        for given in ("classmethod[_T, _P, _R]", "staticmethod[_P, _R]", callable_):
            self.lines.append("    @overload")
            self.lines += _def("    ", "__call__", ["self", f"fn: {given}", "/"], given)

    def _typed_dict(
        self, name: str, items: list[tuple[str, str]], *, base: str = ""
    ) -> None:
        out = self.lines
        if all(is_plain_name(key) for key, _ in items):
            bases = f"{base or 'TypedDict'}, total=False"
            if not items:  # stub style: one-line classes follow each other
                if not out[-1].endswith("): ..."):
                    out.append("")
                out += _class(name, bases, " ...")
                return
            out += ["", *_class(name, bases)]
            for key, annotation in items:
                out += _annotation("    ", key, annotation)
            return
        out.append("")
        out += [f"{name} = TypedDict(", f"    {py_str(name)},", "    {"]
        for key, annotation in items:
            out += _annotation("        ", py_str(key), annotation, ",")
        out += ["    },", "    total=False,", ")"]

    def _span_class(self, names: _MetricNames) -> None:
        span = names.span
        self.lines += ["", *_class(span, "metricdsl.Span")]
        # narrower than metricdsl.Span's **fields: Any, on purpose
        for method, param in (("record", names.fields), ("increment", names.counts)):
            kwargs = "fields" if method == "record" else "counts"
            self.lines += _def(
                "    ",
                method,
                ["self", "/", f"**{kwargs}: Unpack[{param}]"],
                span,
                pragma="# type: ignore[override]",
            )
        self.lines += _def("    ", "fail", ["self", "error: BaseException | str"], span)
        self.lines += _def("    ", "__enter__", ["self"], span)
        self.lines += _def("    ", "__aenter__", ["self"], span, is_async=True)

    def _metric_class(self, metric: str, names: _MetricNames) -> None:
        definition = self.definitions.metrics[metric]
        out = self.lines
        out += ["", f"class {names.cls}:"]
        doc = _docstring(definition.description, "    ")
        if doc:
            out += [*doc, ""]
        out += [
            "    name: str",
            "    description: str",
            "    unit: str",
            "    passive: bool",
            "    fields: Mapping[str, metricdsl.Field]",
        ]
        for given in ("classmethod[_T, _P, _R]", "staticmethod[_P, _R]"):
            out.append("    @overload")
            out += _def("    ", "run", ["self", f"fn: {given}", "/"], given)
        out.append("    @overload")
        out += _def(
            "    ", "run", ["self", "fn: Callable[_P, _R]", "/"], "Callable[_P, _R]"
        )
        fields = f"**fields: Unpack[{names.fields}]"
        out.append("    @overload")
        out += _def("    ", "run", ["self", "/", fields], _DECORATOR)
        out += _def("    ", "span", ["self", "/", fields], names.span)
        out += _def("    ", "record", ["self", "/", fields], "None")
        out += _def(
            "    ", "emit", ["self", "/", f"**fields: Unpack[{names.emit}]"], "None"
        )

    def _telemetry_class(self) -> None:
        out = self.lines
        everything: dict[str, FieldType] = {}
        for definition in self.definitions.metrics.values():
            for name, field in definition.fields.items():
                everything.setdefault(name, field)
        own = [(t, False) for t in everything.values()]
        self._field_dict("TelemetryFields", own, "fields")
        out += ["", "class Telemetry:"]
        for metric, names in self.metric_names.items():
            if is_plain_name(metric) and is_attribute(metric):
                out += _annotation("    ", metric, names.cls)
        for prop, returns in (
            ("metrics", "Mapping[str, metricdsl.Metric]"),
            ("types", "Mapping[str, metricdsl.FieldType]"),
            ("overrides", "tuple[metricdsl.Override, ...]"),
            ("paths", "tuple[str, ...]"),
        ):
            out.append("    @property")
            out += _def("    ", prop, ["self"], returns)
        out += _def(
            "    ", "record", ["self", "/", "**fields: Unpack[TelemetryFields]"], "None"
        )
        several = len(self.metric_names) > 1
        for metric, names in self.metric_names.items():
            if several:
                out.append("    @overload")
            params = ["self", f"name: Literal[{py_str(metric)}]"]
            out += _def("    ", "__getitem__", params, names.cls)
        out += _def("    ", "__contains__", ["self", "name: object"], "bool")
        out += _def("    ", "__iter__", ["self"], "Iterator[str]")
        out += _def("    ", "__len__", ["self"], "int")
