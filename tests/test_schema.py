"""metricdsl/definitions.schema.json: a JSON Schema (draft 7) that mirrors the
loader's rules, so editors validate and complete definitions files. Every file
the loader accepts must validate against it; what it rejects, the loader
rejects too."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metricdsl
from metricdsl import _definitions
from metricdsl._definitions import GLOBAL_TYPES, KINDS, RESERVED_NAMES, UNITS
from metricdsl._errors import DefinitionError
from tests.conftest import DATA, DEFAULT_DEFINITIONS, ROOT

SCHEMA_PATH = Path(metricdsl.__file__).with_name("definitions.schema.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def schema_accepts(document: Any) -> bool:
    return VALIDATOR.is_valid(document)


def loader_accepts(document: Any) -> bool:
    """Whether ``load`` accepts the document, written as a JSON file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "defs.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        try:
            _definitions.load_definitions([path])
        except DefinitionError:
            return False
    return True


class TestSchema:
    def test_is_a_valid_draft_7_schema(self) -> None:
        jsonschema.Draft7Validator.check_schema(SCHEMA)
        assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"

    def test_mirrors_the_loaders_keys_kinds_units_and_reserved_names(self) -> None:
        parts = SCHEMA["definitions"]
        assert set(SCHEMA["properties"]) == set(_definitions._TOP_KEYS)
        assert set(parts["type"]["properties"]) == set(_definitions._TYPE_KEYS)
        assert set(parts["metric"]["properties"]) == set(_definitions._METRIC_KEYS)
        assert set(parts["metadataEntry"]["properties"]) == set(
            _definitions._ENTRY_KEYS
        )
        for part in (SCHEMA, parts["type"], parts["metric"], parts["metadataEntry"]):
            assert part["additionalProperties"] is False
        assert parts["type"]["properties"]["type"]["enum"] == list(KINDS)
        assert parts["metric"]["properties"]["unit"]["enum"] == list(UNITS)
        name = parts["type"]["properties"]["name"]
        assert set(name["not"]["enum"]) == RESERVED_NAMES
        assert (
            name["pattern"] == "^(?!" + "|".join(_definitions._RESERVED_PREFIXES) + ")"
        )

    @pytest.mark.parametrize("name", sorted(n for n in GLOBAL_TYPES if n != "value"))
    def test_a_global_field_may_only_be_redefined_with_its_kind(
        self, name: str
    ) -> None:
        kind = GLOBAL_TYPES[name].kind
        other = "int" if kind != "int" else "string"
        same = {
            "types": [{"name": name, "type": kind, "description": ""}],
            "metrics": [],
        }
        assert schema_accepts(same)
        assert loader_accepts(same)
        changed = {
            "types": [{"name": name, "type": other, "description": ""}],
            "metrics": [],
        }
        assert not schema_accepts(changed)
        assert not loader_accepts(changed)


class TestRealFiles:
    @pytest.mark.parametrize(
        "path",
        [DEFAULT_DEFINITIONS, DATA / "cli" / "odd_names.yaml"],
        ids=lambda p: p.name,
    )
    def test_files_the_loader_accepts_validate(self, path: Path) -> None:
        metricdsl.load(path)
        VALIDATOR.validate(yaml.safe_load(path.read_text(encoding="utf-8")))

    @pytest.mark.parametrize(
        "name",
        ["commonDefinitions.json", "vscodeTelemetry.json", "vscodeDefinitions.json"],
    )
    def test_the_real_aws_files_validate(self, aws: Path, name: str) -> None:
        VALIDATOR.validate(json.loads((aws / name).read_text(encoding="utf-8")))

    def test_the_readme_shows_the_editor_line(self) -> None:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert "# yaml-language-server: $schema=definitions.schema.json" in readme


VALID = {
    "types": [
        {"name": "component", "allowedValues": ["a", "b"], "description": "x"},
        {"name": "count", "type": "int", "allowedValues": [1, 2], "description": ""},
        {"name": "token", "sensitive": True, "description": "secret"},
    ],
    "metrics": [
        {
            "name": "ns_thing",
            "description": "",
            "unit": "Count",
            "passive": True,
            "trackPerformance": False,
            "metadata": [{"type": "component"}, {"type": "count", "required": False}],
        }
    ],
}


def _mutated(path: list[Any], value: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(VALID))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


REJECTED = {
    "unknown top key": _mutated(["version"], 1),
    "unknown type key": _mutated(["types", 0, "requried"], True),
    "unknown metric key": _mutated(["metrics", 0, "units"], "Count"),
    "unknown entry key": _mutated(["metrics", 0, "metadata", 0, "requried"], False),
    "bad kind": _mutated(["types", 0, "type"], "float"),
    "bad unit": _mutated(["metrics", 0, "unit"], "Seconds"),
    "reserved prefix": _mutated(["types", 0, "name"], "projectName"),
    "reserved name": _mutated(["types", 0, "name"], "metricName"),
    "metric name without _": _mutated(["metrics", 0, "name"], "thing"),
    "mixed allowedValues": _mutated(["types", 0, "allowedValues"], ["a", 1]),
    "strings for an int": _mutated(["types", 1, "allowedValues"], ["1"]),
    "allowedValues on a boolean": _mutated(
        ["types", 2],
        {"name": "b", "type": "boolean", "allowedValues": ["x"], "description": ""},
    ),
    "sensitive as a string": _mutated(["types", 2, "sensitive"], "yes"),
    "no description": _mutated(["metrics", 0], {"name": "ns_x"}),
    "no metrics": {"types": []},
    "empty metadata type": _mutated(["metrics", 0, "metadata", 0, "type"], ""),
}


class TestAgreement:
    def test_the_reference_document_is_valid_for_both(self) -> None:
        assert schema_accepts(VALID)
        assert loader_accepts(VALID)

    @pytest.mark.parametrize("case", sorted(REJECTED))
    def test_what_the_schema_rejects_the_loader_rejects(self, case: str) -> None:
        document = REJECTED[case]
        assert not schema_accepts(document)
        assert not loader_accepts(document)

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(st.data())
    def test_every_document_the_loader_accepts_validates(
        self, data: st.DataObject
    ) -> None:
        document = data.draw(documents())
        if loader_accepts(document):
            VALIDATOR.validate(document)


# -- generated documents ------------------------------------------------------------

_TYPE_NAMES = ["component", "count", "ratio", "flag", "label", "result", "duration"]
_KIND_OF = {"result": "string", "duration": "double"}
# printable text: PyYAML refuses control characters even as JSON escapes
_CHARS = st.characters(categories=("L", "N", "P", "Zs"))
_TEXT = st.text(_CHARS, max_size=4)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Definitions documents the loader accepts, by construction."""
    names = draw(st.lists(st.sampled_from(_TYPE_NAMES), max_size=5, unique=True))
    types = []
    for name in names:
        kind = _KIND_OF.get(name) or draw(st.sampled_from(KINDS))
        entry: dict[str, Any] = {"name": name, "description": draw(_TEXT)}
        if kind != "string" or draw(st.booleans()):
            entry["type"] = kind
        values = {
            "string": st.lists(st.text(_CHARS, min_size=1, max_size=3), max_size=3),
            "int": st.lists(st.integers(-5, 5), max_size=3),
            "double": st.lists(
                st.one_of(
                    st.integers(-5, 5), st.floats(-5, 5).map(lambda x: round(x, 1))
                ),
                max_size=3,
            ),
            "boolean": st.just([]),
        }[kind]
        if draw(st.booleans()):
            entry["allowedValues"] = draw(values)
        if draw(st.booleans()):
            entry["sensitive"] = draw(st.booleans())
        types.append(entry)
    metrics = []
    for name in draw(
        st.lists(st.sampled_from(["ns_a", "ns_b", "x_y", "_"]), max_size=3, unique=True)
    ):
        metric: dict[str, Any] = {"name": name, "description": draw(_TEXT)}
        if draw(st.booleans()):
            metric["unit"] = draw(st.sampled_from(UNITS))
        for flag in ("passive", "trackPerformance"):
            if draw(st.booleans()):
                metric[flag] = draw(st.booleans())
        if draw(st.booleans()):
            fields = draw(
                st.lists(
                    st.sampled_from([*names, "reason", "value"]),
                    max_size=4,
                    unique=True,
                )
            )
            metric["metadata"] = [
                {"type": field}
                | ({"required": draw(st.booleans())} if draw(st.booleans()) else {})
                for field in fields
            ]
        metrics.append(metric)
    document: dict[str, Any] = {"metrics": metrics}
    if types or draw(st.booleans()):
        document["types"] = types
    return document


_BAD_VALUES = st.one_of(
    st.just("x"),
    st.just(""),
    st.just(1),
    st.just(1.5),
    st.just(True),
    st.none(),
    st.just([]),
    st.just({}),
    st.just(["a", 1]),
    st.just("valueOf"),
    st.just("unit"),
    st.just("Seconds"),
    st.just("float"),
    st.just("requried"),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid documents, half of them with one key set to an odd value or an
    odd key added somewhere."""
    document = draw(valid_documents())
    if draw(st.booleans()):
        return document
    # the mappings of the document, with where they sit
    places: list[dict[str, Any]] = [document]
    places += document.get("types", [])
    for metric in document["metrics"]:
        places.append(metric)
        places += metric.get("metadata", [])
    target = draw(st.sampled_from(places))
    key = draw(st.sampled_from([*target, "requried", "sensitive", "unit", "type"]))
    if draw(st.integers(0, 4)) == 0:
        target.pop(key, None)
    else:
        target[key] = draw(_BAD_VALUES)
    return document
