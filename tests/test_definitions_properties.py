"""Property tests of the definitions loader: generated valid documents, written
as YAML and as JSON, load and round-trip; mutated, truncated, garbled and random
documents raise DefinitionError and nothing else."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricdsl import DefinitionError
from metricdsl._definitions import (
    GLOBAL_TYPES,
    KINDS,
    RESERVED_NAMES,
    UNITS,
    Definitions,
    load_definitions,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- valid documents, as Python data ---------------------------------------------

#: Text YAML keeps as it is: no control characters, surrogates or unassigned
#: code points, and no line separators (which YAML folds inside quoted text).
TEXT = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp"),
        blacklist_characters="\ufeff",
    ),
    max_size=40,
)
WORD = st.from_regex(r"[a-z][A-Za-z0-9]{0,10}", fullmatch=True)
FIELD_NAMES = (WORD | TEXT.filter(bool)).filter(
    lambda n: (
        not n.startswith(("value", "project", "createTime"))
        and n not in RESERVED_NAMES
        and n not in GLOBAL_TYPES
    )
)
METRIC_NAMES = st.builds(lambda a, b: f"{a}_{b}", WORD | TEXT, WORD | TEXT)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
ALLOWED = {
    "string": st.lists(TEXT, min_size=1, max_size=5),
    "int": st.lists(st.integers(), min_size=1, max_size=5),
    "double": st.lists(FINITE | st.integers(), min_size=1, max_size=5),
}
#: Global fields a file may redefine with their own kind ("value" is reserved).
GLOBALS = sorted(n for n in GLOBAL_TYPES if not n.startswith("value"))


@st.composite
def ordered(draw: st.DrawFn, mapping: dict[str, Any]) -> dict[str, Any]:
    """The same mapping with its keys in a drawn order."""
    keys = draw(st.permutations(list(mapping)))
    return {k: mapping[k] for k in keys}


@st.composite
def type_definitions(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from([None, *KINDS]))
    if name in GLOBAL_TYPES:
        kind = GLOBAL_TYPES[name].kind
    result: dict[str, Any] = {"name": name, "description": draw(TEXT)}
    if kind is not None:
        result["type"] = kind
    strategy = ALLOWED.get(kind or "string")
    if strategy is not None and draw(st.booleans()):
        result["allowedValues"] = draw(strategy)
    if draw(st.booleans()):
        result["sensitive"] = draw(st.booleans())
    return draw(ordered(result))


@st.composite
def metric_definitions(
    draw: st.DrawFn, name: str, field_names: list[str]
) -> dict[str, Any]:
    result: dict[str, Any] = {"name": name, "description": draw(TEXT)}
    if draw(st.booleans()):
        result["unit"] = draw(st.sampled_from(UNITS))
    for flag in ("passive", "trackPerformance"):
        if draw(st.booleans()):
            result[flag] = draw(st.booleans())
    fields = draw(st.lists(st.sampled_from(field_names), unique=True, max_size=6))
    if fields or draw(st.booleans()):
        entries = []
        for field in fields:
            entry: dict[str, Any] = {"type": field}
            if draw(st.booleans()):
                entry["required"] = draw(st.booleans())
            entries.append(draw(ordered(entry)))
        result["metadata"] = entries
    return draw(ordered(result))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid definitions document."""
    own = draw(st.lists(FIELD_NAMES, unique=True, max_size=6))
    redefined = draw(st.lists(st.sampled_from(GLOBALS), unique=True, max_size=2))
    types = [draw(type_definitions(n)) for n in own + redefined]
    names = draw(st.lists(METRIC_NAMES, unique=True, max_size=6))
    usable = own + redefined + list(GLOBAL_TYPES)
    metrics = [draw(metric_definitions(n, usable)) for n in names]
    document: dict[str, Any] = {"metrics": metrics}
    if types or draw(st.booleans()):
        document["types"] = types
    return draw(ordered(document))


@st.composite
def serialized(draw: st.DrawFn, document: Any) -> str:
    """A document written as YAML (block or flow style) or as JSON."""
    if draw(st.booleans()):
        return json.dumps(
            document,
            ensure_ascii=draw(st.booleans()),
            indent=draw(st.sampled_from([None, 2])),
        )
    return yaml.safe_dump(
        document,
        allow_unicode=draw(st.booleans()),
        sort_keys=False,
        default_flow_style=draw(st.sampled_from([False, True, None])),
        width=draw(st.sampled_from([80, 10_000])),
    )


# -- what a document should load as ----------------------------------------------


def expected_types(document: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        t["name"]: (
            t.get("type", "string"),
            tuple(t["allowedValues"]) if "allowedValues" in t else None,
            t["description"],
            t.get("sensitive", False),
        )
        for t in document.get("types", [])
    }


def kinds_of(values: tuple[Any, ...] | None) -> list[type] | None:
    return None if values is None else [type(v) for v in values]


def assert_round_trip(document: dict[str, Any], loaded: Definitions) -> None:
    """What was generated is what the loader returns."""
    types = expected_types(document)
    for name, (kind, allowed, description, sensitive) in types.items():
        field_type = loaded.types[name]
        assert field_type.name == name
        assert field_type.kind == kind
        assert field_type.allowed_values == allowed
        assert kinds_of(field_type.allowed_values) == kinds_of(allowed)
        assert field_type.description == description
        assert field_type.sensitive is sensitive
    assert set(loaded.types) == set(GLOBAL_TYPES) | set(types)
    assert list(loaded.metrics) == [m["name"] for m in document["metrics"]]
    for metric in document["metrics"]:
        definition = loaded.metrics[metric["name"]]
        assert definition.description == metric["description"]
        assert definition.unit == metric.get("unit", "None")
        assert definition.passive is metric.get("passive", False)
        assert definition.track_performance is metric.get("trackPerformance", False)
        entries = metric.get("metadata", [])
        assert list(definition.fields) == [e["type"] for e in entries]
        for entry in entries:
            field = definition.fields[entry["type"]]
            field_type = loaded.types[entry["type"]]
            assert field.required is entry.get("required", True)
            assert (field.kind, field.allowed_values, field.sensitive) == (
                field_type.kind,
                field_type.allowed_values,
                field_type.sensitive,
            )
    assert loaded.overrides == ()


# -- files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="metricdsl-properties-") as name:
        yield Path(name)


def write(folder: Path, content: str | bytes, name: str = "defs.yaml") -> str:
    path = folder / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return str(path)


def load_or_report(path: str) -> Definitions | None:
    """Load; a DefinitionError is fine (checked for shape), anything else fails."""
    try:
        return load_definitions([path])
    except DefinitionError as caught:
        error = caught
    lines = Path(path).read_bytes().decode("utf-8", "replace").splitlines()
    assert error.problems
    assert str(error).splitlines() == [str(p) for p in error.problems]
    for problem in error.problems:
        assert problem.path == path
        assert 1 <= problem.line <= len(lines) + 1
        assert problem.column >= 1
        assert "; expected " in problem.message
        assert "; got " in problem.message
        assert "\n" not in problem.message
    positions = [(p.line, p.column) for p in error.problems]
    assert positions == sorted(positions)
    return None


# -- valid documents -------------------------------------------------------------


class TestValidDocuments:
    @SETTINGS
    @given(data=st.data())
    def test_load_and_round_trip(self, folder: Path, data: st.DataObject) -> None:
        document = data.draw(documents())
        text = data.draw(serialized(document))
        loaded = load_definitions([write(folder, text)])
        assert_round_trip(document, loaded)

    @SETTINGS
    @given(data=st.data())
    def test_a_later_document_replaces_whole(
        self, folder: Path, data: st.DataObject
    ) -> None:
        first = data.draw(documents())
        second = data.draw(documents())
        paths = [
            write(folder, data.draw(serialized(first)), "first.yaml"),
            write(folder, data.draw(serialized(second)), "second.yaml"),
        ]
        loaded = load_definitions(paths)
        first_types = expected_types(first)
        second_types = expected_types(second)
        for name, expected in {**first_types, **second_types}.items():
            field_type = loaded.types[name]
            actual = (
                field_type.kind,
                field_type.allowed_values,
                field_type.description,
                field_type.sensitive,
            )
            assert actual == expected
        first_metrics = [m["name"] for m in first["metrics"]]
        second_metrics = {m["name"]: m for m in second["metrics"]}
        for name in second_metrics:
            assert (
                loaded.metrics[name].description
                == (second_metrics[name]["description"])
            )
        assert [(o.kind, o.name) for o in loaded.overrides] == [
            ("type", n) for n in second_types if n in first_types
        ] + [("metric", n) for n in second_metrics if n in first_metrics]
        for override in loaded.overrides:
            assert (override.replaced.path, override.by.path) == tuple(paths)


# -- broken documents ------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    TEXT,
    st.lists(st.integers() | TEXT, max_size=3),
    st.dictionaries(TEXT, st.integers() | TEXT, max_size=3),
)


def containers(node: Any) -> list[Any]:
    """Every dict and list inside a document, itself included."""
    found = [node]
    children = node.values() if isinstance(node, dict) else node
    for child in children:
        if isinstance(child, dict | list):
            found.extend(containers(child))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid document with a few random keys renamed, values swapped for
    values of another type, and entries deleted."""
    document = draw(documents())
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(containers(document)))
        if not target:
            continue
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target)))
            action = draw(st.sampled_from(["rename", "swap", "delete"]))
            if action == "rename":
                target[draw(TEXT | WORD)] = target.pop(key)
            elif action == "swap":
                target[key] = draw(JUNK)
            else:
                del target[key]
        else:
            index = draw(st.integers(0, len(target) - 1))
            if draw(st.booleans()):
                target[index] = draw(JUNK)
            else:
                del target[index]
    if draw(st.integers(0, 9)) == 0:
        document = draw(JUNK)
    return document


class TestBrokenDocuments:
    @SETTINGS
    @given(data=st.data())
    def test_mutated_documents(self, folder: Path, data: st.DataObject) -> None:
        document = data.draw(mutated())
        load_or_report(write(folder, data.draw(serialized(document))))

    @SETTINGS
    @given(data=st.data())
    def test_garbage_bytes(self, folder: Path, data: st.DataObject) -> None:
        text = data.draw(serialized(data.draw(documents()))).encode("utf-8")
        for _ in range(data.draw(st.integers(1, 5))):
            at = data.draw(st.integers(0, len(text)))
            garbage = data.draw(st.binary(min_size=1, max_size=4))
            cut = data.draw(st.integers(0, 4))
            text = text[:at] + garbage + text[at + cut :]
        load_or_report(write(folder, text))

    @SETTINGS
    @given(data=st.data())
    def test_truncated_documents(self, folder: Path, data: st.DataObject) -> None:
        text = data.draw(serialized(data.draw(documents())))
        cut = data.draw(st.integers(0, len(text)))
        load_or_report(write(folder, text[:cut]))

    @SETTINGS
    @given(
        document=st.recursive(
            JUNK | st.dates() | st.binary(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    TEXT | st.integers() | st.booleans(), inner, max_size=4
                )
            ),
            max_leaves=20,
        )
    )
    def test_random_yaml(self, folder: Path, document: Any) -> None:
        load_or_report(write(folder, yaml.safe_dump(document, allow_unicode=True)))

    @SETTINGS
    @given(text=st.text(max_size=200))
    def test_random_text(self, folder: Path, text: str) -> None:
        load_or_report(write(folder, text.encode("utf-8", "surrogatepass")))

    @SETTINGS
    @given(
        text=st.text(
            st.sampled_from(list("{}[]:,-?!&*|>'\"#%@` \n\t\\abc12._~")),
            max_size=120,
        )
    )
    def test_random_yaml_punctuation(self, folder: Path, text: str) -> None:
        load_or_report(write(folder, "metrics:\n" + text))
