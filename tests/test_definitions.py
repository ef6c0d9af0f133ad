"""The definitions loader (metricdsl/_definitions.py, API.md section 1): the real
AWS Toolkit files, the format and its defaults, layering, global fields, and one
bad file per problem in tests/data/ with its exact messages."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import metricdsl
from metricdsl import DefinitionError, MetricDslError, UnknownMetricError
from metricdsl._definitions import (
    GLOBAL_TYPES,
    Definitions,
    Field,
    FieldType,
    Location,
    Override,
    load_definitions,
)
from metricdsl._errors import Problem
from tests.conftest import DATA

KEYS_OF_METRIC = (
    "expected one of 'description', 'metadata', 'metricId', 'name', 'parentId',"
    " 'passive', 'traceId', 'trackPerformance' or 'unit'"
)
KEYS_OF_TYPE = (
    "expected one of 'allowedValues', 'description', 'name', 'sensitive' or 'type'"
)
KINDS_EXPECTED = "expected one of 'string', 'int', 'double' or 'boolean'"
UNITS_EXPECTED = "expected one of 'None', 'Milliseconds', 'Bytes', 'Percent' or 'Count'"
PREFIXES_EXPECTED = (
    "expected a name not starting with 'value', 'project' or 'createTime'"
)
RESERVED_EXPECTED = (
    "expected a name other than 'epochTimestamp', 'metricName', 'missingFields'"
    " or 'unit'"
)
UNDEFINED = (
    "uses an undefined type; expected a type defined in a loaded file or a global field"
)
NOT_ALLOWED = "is not allowed (only safe YAML is read); expected plain YAML values"
#: The wording of YAML syntax errors, and JSON's surrogate-pair escapes, are
#: libyaml's (PyYAML's C parser, which the loader uses when PyYAML has it).
LIBYAML = pytest.mark.skipif(
    not yaml.__with_libyaml__, reason="PyYAML was built without libyaml"
)


def data(name: str) -> str:
    return str(DATA / name)


def problems(*paths: str | os.PathLike[str]) -> list[str]:
    """The problem lines of loading the files, which must fail."""
    with pytest.raises(DefinitionError) as caught:
        load_definitions(paths)
    return [str(p) for p in caught.value.problems]


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- the real AWS Toolkit files ------------------------------------------------


def aws_json(aws: Path, name: str) -> Any:
    """A file of the AWS set as plain data: the independent view to compare with."""
    return json.loads((aws / name).read_text(encoding="utf-8"))


class TestAwsFiles:
    def test_common_definitions_load_as_they_are(self, aws: Path) -> None:
        common = aws_json(aws, "commonDefinitions.json")
        loaded = load_definitions([aws / "commonDefinitions.json"])
        assert len(loaded.metrics) == 374
        assert list(loaded.metrics) == [m["name"] for m in common["metrics"]]
        assert {t["name"] for t in common["types"]} <= set(loaded.types)
        assert loaded.overrides == ()
        assert loaded.paths == (str(aws / "commonDefinitions.json"),)

    def test_every_common_field_matches_the_json(self, aws: Path) -> None:
        """Kinds, allowed values and required flags of all 1,134 metadata
        entries agree with what the json module reads."""
        common = aws_json(aws, "commonDefinitions.json")
        types = {t["name"]: t for t in common["types"]}
        loaded = load_definitions([aws / "commonDefinitions.json"])
        entries = 0
        for metric in common["metrics"]:
            fields = loaded.metrics[metric["name"]].fields
            assert list(fields) == [e["type"] for e in metric.get("metadata", [])]
            for entry in metric.get("metadata", []):
                declared = types[entry["type"]]
                field = fields[entry["type"]]
                assert field.kind == declared.get("type", "string")
                assert field.allowed_values == (
                    tuple(declared["allowedValues"])
                    if "allowedValues" in declared
                    else None
                )
                assert field.required is entry.get("required", True)
                entries += 1
        assert entries == 1134

    def test_real_metrics_keep_their_details(self, aws: Path) -> None:
        loaded = load_definitions([aws / "commonDefinitions.json"])
        refresh = loaded.metrics["aws_refreshCredentials"]
        assert refresh.passive is True
        assert refresh.unit == "None"
        assert refresh.description.startswith("Emitted when credentials are auto")
        assert refresh.fields["result"].required is True
        assert refresh.fields["credentialSourceId"].required is False
        assert refresh.fields["credentialSourceId"].allowed_values == (
            "sharedCredentials",
            "sdkStore",
            "ec2",
            "ecs",
            "envVars",
            "awsId",
            "iamIdentityCenter",
            "memory",
            "other",
        )
        assert loaded.metrics["cloudwatchlogs_download"].unit == "Bytes"
        assert loaded.metrics["languageServer_setup"].unit == "Milliseconds"
        assert loaded.metrics["amazonq_codeGenerationThumbsUp"].unit == "Count"
        assert loaded.metrics["lambda_delete"].unit == "None"
        assert loaded.metrics["s3_uploadObject"].passive is False
        assert loaded.metrics["session_end"].passive is True
        assert sum(m.passive for m in loaded.metrics.values()) == 33
        runtime = loaded.metrics["lambda_invokeRemote"].fields["runtime"]
        assert (runtime.kind, runtime.required) == ("string", False)
        assert "nodejs20.x" in (runtime.allowed_values or ())
        assert loaded.types["duration"].kind == "double"
        assert loaded.types["awsRegion"].description.startswith(
            "AWS Region associated with a metric\n- "
        )

    def test_vscode_telemetry_layers_over_common(self, aws: Path) -> None:
        loaded = load_definitions(
            [aws / "commonDefinitions.json", aws / "vscodeTelemetry.json"]
        )
        assert len(loaded.metrics) == 468
        assert loaded.metrics["session_end"].passive is False
        assert loaded.metrics["session_start"].passive is True
        # session_end was replaced whole: its fields are the layer's
        assert set(loaded.metrics["session_end"].fields) == {
            "proxiedSessionId",
            "timestamp",
        }

    def test_vscode_telemetry_overrides_are_listed_in_load_order(
        self, aws: Path
    ) -> None:
        common = aws_json(aws, "commonDefinitions.json")
        vscode = aws_json(aws, "vscodeTelemetry.json")
        loaded = load_definitions(
            [aws / "commonDefinitions.json", aws / "vscodeTelemetry.json"]
        )
        expected = [
            ("type", t["name"])
            for t in vscode["types"]
            if t["name"] in {c["name"] for c in common["types"]}
        ] + [
            ("metric", m["name"])
            for m in vscode["metrics"]
            if m["name"] in {c["name"] for c in common["metrics"]}
        ]
        assert [(o.kind, o.name) for o in loaded.overrides] == expected
        assert sum(o.kind == "type" for o in loaded.overrides) == 15
        assert sum(o.kind == "metric" for o in loaded.overrides) == 20
        assert expected[:3] == [
            ("type", "toolId"),
            ("type", "command"),
            ("type", "cwsprChatInteractionTarget"),
        ]
        assert {o.replaced.path for o in loaded.overrides} == {
            str(aws / "commonDefinitions.json")
        }
        assert {o.by.path for o in loaded.overrides} == {
            str(aws / "vscodeTelemetry.json")
        }

    def test_override_locations_point_at_the_definitions(self, aws: Path) -> None:
        loaded = load_definitions(
            [aws / "commonDefinitions.json", aws / "vscodeTelemetry.json"]
        )
        session_end = next(o for o in loaded.overrides if o.name == "session_end")
        for where in (session_end.replaced, session_end.by):
            lines = Path(where.path).read_text(encoding="utf-8").splitlines()
            assert lines[where.line - 1][where.column - 1] == "{"
            assert lines[where.line].strip() == '"name": "session_end",'

    def test_vscode_telemetry_alone_lacks_the_common_types(self, aws: Path) -> None:
        vscode = aws_json(aws, "vscodeTelemetry.json")
        own = {t["name"] for t in vscode["types"]} | set(GLOBAL_TYPES)
        undefined = [
            (m["name"], e["type"])
            for m in vscode["metrics"]
            for e in m.get("metadata", [])
            if e["type"] not in own
        ]
        with pytest.raises(DefinitionError) as caught:
            load_definitions([aws / "vscodeTelemetry.json"])
        found = caught.value.problems
        assert len(found) == len(undefined) == 90
        assert len({name for _, name in undefined}) == 34
        for problem, (metric, name) in zip(found, undefined, strict=True):
            assert problem.path == str(aws / "vscodeTelemetry.json")
            assert problem.message.startswith(
                f"metric {metric!r} {UNDEFINED}; got {name!r}"
            )
        assert str(found[0]) == (
            f"{aws / 'vscodeTelemetry.json'}:425:27: metric"
            f" 'amazonq_didSelectProfile' {UNDEFINED}; got 'source'"
        )

    def test_vscode_definitions_layer_over_common(self, aws: Path) -> None:
        loaded = load_definitions(
            [aws / "commonDefinitions.json", aws / "vscodeDefinitions.json"]
        )
        assert len(loaded.metrics) == 374 + 28 - 4
        assert [(o.kind, o.name) for o in loaded.overrides] == [
            ("type", "command"),
            ("metric", "aws_refreshCredentials"),
            ("metric", "sam_attachDebugger"),
            ("metric", "sam_openConfigUi"),
            ("metric", "sam_prewarmContainer"),
        ]

    def test_all_three_files_layer_in_order(self, aws: Path) -> None:
        names = ["commonDefinitions.json", "vscodeDefinitions.json"]
        loaded = load_definitions([aws / n for n in [*names, "vscodeTelemetry.json"]])
        sam = [o for o in loaded.overrides if o.name == "sam_attachDebugger"]
        assert [(Path(o.replaced.path).name, Path(o.by.path).name) for o in sam] == [
            ("commonDefinitions.json", "vscodeDefinitions.json"),
            ("vscodeDefinitions.json", "vscodeTelemetry.json"),
        ]

    def test_public_load_gives_telemetry(self, aws: Path) -> None:
        telemetry = metricdsl.load(
            aws / "commonDefinitions.json", aws / "vscodeTelemetry.json"
        )
        assert len(telemetry.metrics) == 468
        assert telemetry.session_end is telemetry["session_end"]
        assert telemetry.session_end.passive is False
        assert telemetry.metrics["session_end"] is telemetry.session_end
        assert len(telemetry.overrides) == 35
        assert telemetry.types["result"].allowed_values == (
            "Succeeded",
            "Failed",
            "Cancelled",
        )


# -- the public face: metricdsl.load and Telemetry ------------------------------


class TestTelemetry:
    @pytest.fixture
    def telemetry(self) -> metricdsl.Telemetry:
        return metricdsl.load(data("valid_full.yaml"))

    def test_metrics_by_attribute_and_by_index(
        self, telemetry: metricdsl.Telemetry
    ) -> None:
        metric = telemetry.metric_setupThing
        assert isinstance(metric, metricdsl.Metric)
        assert telemetry["metric_setupThing"] is metric
        assert telemetry.metrics["metric_setupThing"] is metric
        assert (metric.name, metric.unit, metric.passive) == (
            "metric_setupThing",
            "Milliseconds",
            True,
        )
        assert metric.description == "Sets up the thing."
        assert list(metric.fields) == [
            "component",
            "attempt",
            "ratio",
            "dryRun",
            "password",
            "reason",
        ]

    def test_unknown_metric_is_attribute_and_key_error(
        self, telemetry: metricdsl.Telemetry
    ) -> None:
        with pytest.raises(AttributeError) as by_attribute:
            telemetry.metric_setupThng  # noqa: B018
        with pytest.raises(KeyError) as by_index:
            telemetry["metric_setupThng"]
        for caught in (by_attribute, by_index):
            assert isinstance(caught.value, UnknownMetricError)
            assert isinstance(caught.value, MetricDslError)
            assert str(caught.value) == (
                "no metric named 'metric_setupThng' in "
                f"{data('valid_full.yaml')}; did you mean 'metric_setupThing'?"
            )
        assert not hasattr(telemetry, "metric_nothingLikeIt")

    def test_metrics_and_types_are_read_only(
        self, telemetry: metricdsl.Telemetry
    ) -> None:
        with pytest.raises(TypeError):
            telemetry.metrics["metric_new"] = telemetry.metric_bare  # type: ignore[index]
        with pytest.raises(TypeError):
            telemetry.types["new"] = telemetry.types["reason"]  # type: ignore[index]

    def test_types_include_the_global_fields(
        self, telemetry: metricdsl.Telemetry
    ) -> None:
        assert set(GLOBAL_TYPES) <= set(telemetry.types)
        assert telemetry.types["reason"] is GLOBAL_TYPES["reason"]
        # a file's own definition of a global field replaces the built-in one
        assert telemetry.types["duration"].description == (
            "Redefines a global field with the same kind."
        )
        assert isinstance(telemetry.types["component"], metricdsl.FieldType)

    def test_overrides_are_public(self) -> None:
        telemetry = metricdsl.load(data("layer_base.yaml"), data("layer_override.yaml"))
        assert [str(o) for o in telemetry.overrides] == [
            f"type 'component' defined at {data('layer_override.yaml')}:2:5"
            f" replaces {data('layer_base.yaml')}:2:5",
            f"metric 'metric_setupThing' defined at {data('layer_override.yaml')}:8:5"
            f" replaces {data('layer_base.yaml')}:8:5",
        ]
        assert all(isinstance(o, metricdsl.Override) for o in telemetry.overrides)

    def test_load_raises_definition_error(self) -> None:
        with pytest.raises(metricdsl.DefinitionError):
            metricdsl.load(data("duplicate_metric.yaml"))


# -- the format -------------------------------------------------------------------


class TestFormat:
    def test_every_key_reads_into_the_definitions(self) -> None:
        loaded = load_definitions([data("valid_full.yaml")])
        where = data("valid_full.yaml")
        assert loaded.types["component"] == FieldType(
            "component",
            "string",
            ("editor", "viewer", "other"),
            "Which part of the UI started the operation.",
        )
        assert loaded.types["component"].location == Location(where, 3, 5)
        assert loaded.types["attempt"].allowed_values == (1, 2, 3)
        assert loaded.types["ratio"].allowed_values == (0.5, 1, 2.5)
        assert loaded.types["dryRun"].kind == "boolean"
        assert loaded.types["password"].sensitive is True
        metric = loaded.metrics["metric_setupThing"]
        assert (metric.unit, metric.passive, metric.track_performance) == (
            "Milliseconds",
            True,
            True,
        )
        assert metric.location == Location(where, 25, 5)
        assert metric.fields["attempt"] == Field(
            "attempt", "int", (1, 2, 3), "Which attempt this is.", False, None, False
        )
        assert metric.fields["ratio"].required is True
        assert metric.fields["password"].sensitive is True
        assert metric.fields["reason"] == Field(
            "reason",
            "string",
            None,
            GLOBAL_TYPES["reason"].description,
            required=False,
        )

    def test_defaults(self) -> None:
        """kind string, no allowed values, not sensitive; unit "None", not
        passive, required."""
        directory = DATA
        loaded = load_definitions([directory / "layer_base.yaml"])
        assert loaded.types["thingName"] == FieldType(
            "thingName", "string", None, "Unchanged by the layer.", False
        )
        metric = loaded.metrics["metric_setupThing"]
        assert metric.unit == "None"
        assert metric.track_performance is False
        assert metric.fields["thingName"].required is True
        bare = load_definitions([data("valid_minimal.yaml")]).metrics["metric_bare"]
        assert (bare.unit, bare.passive, dict(bare.fields)) == ("None", False, {})

    def test_an_empty_description_is_accepted(self) -> None:
        loaded = load_definitions([data("valid_full.yaml")])
        assert loaded.types["dryRun"].description == ""
        assert loaded.metrics["metric_bare"].description == ""

    def test_json_is_read_as_yaml(self, tmp_path: Path) -> None:
        document = {
            "types": [{"name": "count", "type": "int", "description": "n"}],
            "metrics": [
                {
                    "name": "metric_json",
                    "description": "From JSON.",
                    "unit": "Count",
                    "metadata": [{"type": "count", "required": False}],
                }
            ],
        }
        path = write(tmp_path, "d.json", json.dumps(document, indent=2))
        metric = load_definitions([path]).metrics["metric_json"]
        assert (metric.unit, metric.fields["count"].kind) == ("Count", "int")
        assert metric.fields["count"].required is False

    def test_json_numbers_with_exponents_are_numbers(self) -> None:
        """YAML 1.1 reads 1e3 as a string; JSON, and so the loader, as a number."""
        loaded = load_definitions([data("json_exponents.json")])
        assert loaded.types["threshold"].allowed_values == (
            1000.0,
            0.25,
            -400.0,
            150.0,
            7,
        )

    def test_an_exponent_is_text_where_the_kind_is_string(self, tmp_path: Path) -> None:
        """PyYAML writes the string '1e5' unquoted: it stays a string."""
        document = {
            "types": [{"name": "t", "description": "", "allowedValues": ["1e5", "0E0"]}]
        }
        text = yaml.safe_dump({**document, "metrics": []})
        assert "- 1e5\n" in text
        types = load_definitions([write(tmp_path, "t.yaml", text)]).types
        assert types["t"].allowed_values == ("1e5", "0E0")

    @LIBYAML
    def test_json_escapes_of_characters_past_the_bmp(self, tmp_path: Path) -> None:
        """json.dumps writes 😀 as a surrogate pair of escapes, which YAML alone
        refuses."""
        description = "smile 😀, top \U0010ffff, and a plain \\ud83d\\ude00"
        document = {"metrics": [{"name": "a_b", "description": description}]}
        path = write(tmp_path, "d.json", json.dumps(document))
        assert "\\ud83d\\ude00" in Path(path).read_text(encoding="utf-8")
        assert load_definitions([path]).metrics["a_b"].description == description

    @LIBYAML
    def test_a_lone_surrogate_escape_is_invalid(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "d.json",
            '{"metrics": [{"name": "a_b", "description": "\\ud800"}]}',
        )
        assert problems(path) == [
            f"{path}:1:48: invalid YAML: while parsing a quoted scalar at 1:45,"
            " found invalid Unicode character escape code; expected valid YAML;"
            " got 'd800\"}]}'"
        ]

    def test_a_byte_order_mark_is_skipped(self, tmp_path: Path) -> None:
        path = tmp_path / "bom.yaml"
        path.write_bytes(b"\xef\xbb\xbfmetrics: [{name: a_b, description: x}]\n")
        assert list(load_definitions([path]).metrics) == ["a_b"]

    def test_positions_count_characters_not_bytes(self, tmp_path: Path) -> None:
        path = write(
            tmp_path, "u.yaml", 'metrics: [{name: "é€😀_x", description: x, zz: 1}]\n'
        )
        assert problems(path) == [
            f"{path}:1:43: unknown key in metric definition; {KEYS_OF_METRIC}; got 'zz'"
        ]

    def test_anchors_and_aliases_are_plain_yaml(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "a.yaml",
            "metrics:\n"
            "  - {name: a_one, description: x, metadata: &common [{type: reason}]}\n"
            "  - {name: a_two, description: y, metadata: *common}\n",
        )
        loaded = load_definitions([path])
        assert list(loaded.metrics["a_two"].fields) == ["reason"]

    def test_a_sensitive_type(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "s.yaml",
            "types:\n"
            "  - {name: token, sensitive: true, description: x}\n"
            "  - {name: user, sensitive: false, description: y}\n"
            "metrics: [{name: a_b, description: z, metadata: [{type: token}]}]\n",
        )
        loaded = load_definitions([path])
        assert loaded.types["token"].sensitive is True
        assert loaded.types["user"].sensitive is False
        assert loaded.metrics["a_b"].fields["token"].sensitive is True

    def test_no_files_give_only_the_global_fields(self) -> None:
        loaded = load_definitions([])
        assert loaded == Definitions((), GLOBAL_TYPES, {}, ())
        with pytest.raises(metricdsl.UsageError):
            metricdsl.load()


class TestGlobalFields:
    def test_global_fields_and_their_kinds(self) -> None:
        kinds = {name: t.kind for name, t in GLOBAL_TYPES.items()}
        assert kinds == {
            "result": "string",
            "reason": "string",
            "reasonDesc": "string",
            "requestId": "string",
            "httpStatusCode": "string",
            "duration": "double",
            "traceId": "string",
            "metricId": "string",
            "parentId": "string",
            "value": "double",
            "passive": "boolean",
        }
        assert GLOBAL_TYPES["result"].allowed_values == (
            "Succeeded",
            "Failed",
            "Cancelled",
        )

    def test_metrics_may_list_global_fields_undeclared(self, tmp_path: Path) -> None:
        entries = "".join(f"{{type: {name}}}, " for name in GLOBAL_TYPES)
        path = write(
            tmp_path,
            "g.yaml",
            f"metrics: [{{name: a_b, description: x, metadata: [{entries}]}}]\n",
        )
        fields = load_definitions([path]).metrics["a_b"].fields
        assert {n: f.kind for n, f in fields.items()} == {
            n: t.kind for n, t in GLOBAL_TYPES.items()
        }

    def test_a_global_field_redefined_with_its_own_kind(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "g.yaml",
            "types:\n"
            "  - {name: duration, type: double, description: Mine.}\n"
            "  - {name: result, allowedValues: [Succeeded, Failed], description: R}\n"
            "metrics: []\n",
        )
        loaded = load_definitions([path])
        assert loaded.types["duration"].description == "Mine."
        assert loaded.types["result"].allowed_values == ("Succeeded", "Failed")
        # replacing a built-in field is not an override of a loaded file
        assert loaded.overrides == ()


# -- layering -------------------------------------------------------------------------


class TestLayering:
    def test_a_later_file_replaces_a_definition_whole(self) -> None:
        loaded = load_definitions(
            [data("layer_base.yaml"), data("layer_override.yaml")]
        )
        component = loaded.types["component"]
        assert (component.kind, component.allowed_values) == ("int", None)
        metric = loaded.metrics["metric_setupThing"]
        assert metric.passive is False
        assert metric.description == "Replaced whole, no longer passive."
        assert list(metric.fields) == ["component"]
        assert metric.fields["component"].required is False
        assert loaded.metrics["metric_keptAsIs"].unit == "Count"
        assert list(loaded.metrics) == [
            "metric_setupThing",
            "metric_keptAsIs",
            "metric_added",
        ]

    def test_an_earlier_metric_sees_a_later_type(self, tmp_path: Path) -> None:
        """Metrics are resolved against the types of every loaded file, so a
        metric of the base file gets the layer's definition of its field."""
        layer = write(
            tmp_path,
            "layer.yaml",
            "types: [{name: component, type: int, description: x}]\nmetrics: []\n",
        )
        base = load_definitions([data("layer_base.yaml")])
        loaded = load_definitions([data("layer_base.yaml"), layer])
        assert base.metrics["metric_setupThing"].fields["component"].kind == "string"
        field = loaded.metrics["metric_setupThing"].fields["component"]
        assert (field.kind, field.allowed_values) == ("int", None)
        assert [o.kind for o in loaded.overrides] == ["type"]

    def test_overrides_list_every_replacement_in_load_order(self) -> None:
        loaded = load_definitions(
            [data("layer_base.yaml"), data("layer_override.yaml")]
        )
        assert loaded.overrides == (
            Override(
                "type",
                "component",
                Location(data("layer_base.yaml"), 2, 5),
                Location(data("layer_override.yaml"), 2, 5),
            ),
            Override(
                "metric",
                "metric_setupThing",
                Location(data("layer_base.yaml"), 8, 5),
                Location(data("layer_override.yaml"), 8, 5),
            ),
        )

    def test_an_identical_redefinition_is_still_an_override(self) -> None:
        loaded = load_definitions(
            [data("layer_base.yaml"), data("layer_identical.yaml")]
        )
        assert [(o.kind, o.name) for o in loaded.overrides] == [
            ("type", "thingName"),
            ("metric", "metric_keptAsIs"),
        ]
        base = load_definitions([data("layer_base.yaml")])
        assert loaded.types["thingName"] == base.types["thingName"]

    def test_the_same_file_twice_overrides_everything(self) -> None:
        loaded = load_definitions([data("layer_base.yaml")] * 2)
        assert [o.name for o in loaded.overrides] == [
            "component",
            "thingName",
            "metric_setupThing",
            "metric_keptAsIs",
        ]

    def test_a_name_twice_in_one_file_is_an_error_across_files_not(self) -> None:
        assert problems(data("duplicate_metric.yaml")) == [
            f"{data('duplicate_metric.yaml')}:6:5: metric 'metric_setupThing' is"
            " defined twice in this file (first at 2:5); expected each metric once"
            " per file; got a second definition"
        ]
        loaded = load_definitions([data("valid_full.yaml"), data("layer_base.yaml")])
        assert "metric_setupThing" in {o.name for o in loaded.overrides}

    def test_a_type_no_loaded_file_defines(self, tmp_path: Path) -> None:
        layer = write(
            tmp_path,
            "layer.yaml",
            "metrics:\n"
            "  - name: metric_added\n"
            "    description: x\n"
            "    metadata: [{type: thingName}, {type: compnent}]\n",
        )
        assert problems(layer) == [
            f"{layer}:4:23: metric 'metric_added' {UNDEFINED}; got 'thingName'",
            f"{layer}:4:42: metric 'metric_added' {UNDEFINED}; got 'compnent'",
        ]
        # the base file defines component and thingName
        assert problems(data("layer_base.yaml"), layer) == [
            f"{layer}:4:42: metric 'metric_added' {UNDEFINED}; got 'compnent';"
            " did you mean 'component'?"
        ]

    def test_a_replaced_metric_still_needs_its_types(self, tmp_path: Path) -> None:
        """A problem of a file is reported even when a later file replaces the
        metric that has it."""
        base = write(
            tmp_path,
            "base.yaml",
            "metrics: [{name: a_b, description: x, metadata: [{type: nowhere}]}]\n",
        )
        layer = write(
            tmp_path, "layer.yaml", "metrics: [{name: a_b, description: y}]\n"
        )
        assert problems(base, layer) == [
            f"{base}:1:57: metric 'a_b' {UNDEFINED}; got 'nowhere'"
        ]

    def test_problems_of_several_files_come_file_by_file(self) -> None:
        found = problems(data("duplicate_type.yaml"), data("bad_unit.yaml"))
        assert [Path(line.split(":")[0]).name for line in found] == [
            "duplicate_type.yaml",
            "bad_unit.yaml",
            "bad_unit.yaml",
        ]

    def test_a_later_file_may_not_change_a_global_kind(self, tmp_path: Path) -> None:
        layer = write(
            tmp_path,
            "l.yaml",
            "types: [{name: duration, type: int, description: x}]\nmetrics: []\n",
        )
        assert problems(data("valid_full.yaml"), layer) == [
            f"{layer}:1:9: type 'duration' redefines a global field with another"
            " type; expected 'double'; got 'int'"
        ]


# -- bad files, each with its exact messages --------------------------------------

BAD_FILES: dict[str, list[str]] = {
    "unknown_key_top.yaml": [
        "1:1: unknown key in top level; expected one of 'metrics' or 'types';"
        " got 'typs'; did you mean 'types'?",
        "1:1: top level has no 'metrics'; expected a 'metrics' list;"
        " got no 'metrics' key",
        "2:1: unknown key in top level; expected one of 'metrics' or 'types';"
        " got 'metric'; did you mean 'metrics'?",
    ],
    "unknown_key_type.yaml": [
        f"4:5: unknown key in type definition; {KEYS_OF_TYPE}; got 'allowedValue';"
        " did you mean 'allowedValues'?",
        f"5:5: unknown key in type definition; {KEYS_OF_TYPE}; got 'secret'",
    ],
    "unknown_key_metric.yaml": [
        f"4:5: unknown key in metric definition; {KEYS_OF_METRIC}; got 'units';"
        " did you mean 'unit'?",
        f"5:5: unknown key in metric definition; {KEYS_OF_METRIC}; got 'metdata';"
        " did you mean 'metadata'?",
        f"6:5: unknown key in metric definition; {KEYS_OF_METRIC}; got 'owner'",
    ],
    "unknown_key_metadata.yaml": [
        "6:9: unknown key in metadata entry of metric 'metric_setupThing'; expected"
        " one of 'required' or 'type'; got 'requried'; did you mean 'required'?",
        "7:9: unknown key in metadata entry of metric 'metric_setupThing'; expected"
        " one of 'required' or 'type'; got 'name'",
        "7:9: metadata entry of metric 'metric_setupThing' has no 'type'; expected"
        " the name of a type; got no 'type' key",
    ],
    "missing_name.yaml": [
        "2:5: type definition has no 'name'; expected a name; got no 'name' key",
        "4:5: metric definition has no 'name'; expected a name; got no 'name' key",
    ],
    "missing_description.yaml": [
        "2:5: type definition has no 'description'; expected a description (it may"
        " be empty); got no 'description' key",
        "4:5: metric definition has no 'description'; expected a description (it"
        " may be empty); got no 'description' key",
    ],
    "bad_kind.yaml": [
        f"3:11: 'type' of type 'attempt' is not known; {KINDS_EXPECTED};"
        " got 'integer'; did you mean 'int'?",
        f"6:11: 'type' of type 'label' is not known; {KINDS_EXPECTED}; got 'str';"
        " did you mean 'string'?",
        f"9:11: 'type' of type 'when' is not known; {KINDS_EXPECTED}; got 'timestamp'",
    ],
    "bad_unit.yaml": [
        f"4:11: 'unit' of metric 'metric_setupThing' is not known; {UNITS_EXPECTED};"
        " got 'milliseconds'; did you mean 'Milliseconds'?",
        f"7:11: 'unit' of metric 'metric_wait' is not known; {UNITS_EXPECTED};"
        " got 'Seconds'; did you mean 'Milliseconds'?",
    ],
    "metric_name_without_underscore.yaml": [
        "2:11: metric name has no '_'; expected namespace_camelCaseName such as"
        " 'metric_setupThing'; got 'setupThing'",
        "4:11: metric name is empty; expected a non-empty string; got ''",
    ],
    "reserved_prefix.yaml": [
        "2:11: type name starts with the reserved word 'value';"
        f" {PREFIXES_EXPECTED}; got 'valueKind'",
        "4:11: type name starts with the reserved word 'project';"
        f" {PREFIXES_EXPECTED}; got 'projectName'",
        "6:11: type name starts with the reserved word 'createTime';"
        f" {PREFIXES_EXPECTED}; got 'createTimeMs'",
    ],
    "reserved_names.yaml": [
        f"{line}:11: type name is reserved for the event itself;"
        f" {RESERVED_EXPECTED}; got {name!r}"
        for line, name in (
            (2, "metricName"),
            (4, "epochTimestamp"),
            (6, "unit"),
            (8, "missingFields"),
        )
    ],
    "mixed_allowed_values.yaml": [
        "3:26: 'allowedValues' of type 'level' mix strings and numbers; expected"
        " strings only; got 2",
        "7:27: 'allowedValues' of type 'size' mix strings and numbers; expected"
        " numbers only; got 'large'",
    ],
    "allowed_values_kind.yaml": [
        "4:20: 'allowedValues' of type 'attempt' do not fit its type 'int';"
        " expected integers; got 1, 2.5",
        "7:20: 'allowedValues' of type 'label' do not fit its type 'string';"
        " expected strings; got 1, 2",
        "11:20: 'allowedValues' of type 'ratio' do not fit its type 'double';"
        " expected numbers; got 'half', 'whole'",
        "15:21: an item of 'allowedValues' of type 'flag' is neither a string nor a"
        " finite number; expected a string or a number; got yes; quote it",
        "18:21: an item of 'allowedValues' of type 'when' is neither a string nor a"
        " finite number; expected a string or a number; got a timestamp"
        " '2024-01-01'; quote it",
        "21:20: 'allowedValues' of type 'single' is not a list; expected a list of"
        " strings or numbers; got 'editor'",
        "24:21: an item of 'allowedValues' of type 'nested' is neither a string nor"
        " a finite number; expected a string or a number; got a list",
    ],
    "duplicate_type.yaml": [
        "6:5: type 'component' is defined twice in this file (first at 2:5);"
        " expected each type once per file; got a second definition",
    ],
    "duplicate_metric.yaml": [
        "6:5: metric 'metric_setupThing' is defined twice in this file (first at"
        " 2:5); expected each metric once per file; got a second definition",
    ],
    "undefined_type.yaml": [
        f"8:15: metric 'metric_setupThing' {UNDEFINED}; got 'compnent';"
        " did you mean 'component'?",
        f"9:15: metric 'metric_setupThing' {UNDEFINED}; got 'nothingLikeIt'",
        f"10:15: metric 'metric_setupThing' {UNDEFINED}; got 'resul';"
        " did you mean 'result'?",
    ],
    "duplicate_field.yaml": [
        "10:15: metric 'metric_setupThing' lists field 'component' twice (first at"
        " 8:15); expected each field once; got a second listing",
    ],
    "global_other_kind.yaml": [
        "2:5: type 'duration' redefines a global field with another type;"
        " expected 'double'; got 'string'",
        "5:5: type 'passive' redefines a global field with another type;"
        " expected 'boolean'; got 'int'",
    ],
    "yaml_unclosed_bracket.yaml": [
        "3:1: invalid YAML: while parsing a flow sequence at 1:10, did not find"
        " expected ',' or ']'; expected valid YAML; got the end of the file",
    ],
    "yaml_unclosed_quote.yaml": [
        "4:1: invalid YAML: while scanning a quoted scalar at 2:11, found unexpected"
        " end of stream; expected valid YAML; got the end of the file",
    ],
    "yaml_bad_indentation.yaml": [
        "3:17: invalid YAML: mapping values are not allowed in this context;"
        " expected valid YAML; got ': Sets up the thing.'",
    ],
    "yaml_tab.yaml": [
        "2:1: invalid YAML: while scanning for the next token, found character that"
        " cannot start any token; expected valid YAML;"
        " got '\\t- name: metric_setupThi'...",
    ],
    "yaml_two_documents.yaml": [
        "2:1: invalid YAML: expected a single document in the stream at 1:1, but"
        " found another document; expected valid YAML; got '---'",
    ],
    "yaml_undefined_alias.yaml": [
        "1:10: invalid YAML: found undefined alias; expected valid YAML;"
        " got '*allMetrics'",
    ],
    "yaml_control_character.yaml": [
        "3:24: invalid YAML: control characters are not allowed; expected printable"
        " characters; got character #x0007",
    ],
    "python_object_tag.yaml": [
        "2:5: tag '!!python/object:collections.OrderedDict' is not allowed (only"
        " safe YAML is read); expected plain YAML values;"
        " got a '!!python/object:collections.OrderedDict' tag",
    ],
    "unsafe_tags.yaml": [
        f"2:11: tag '!!python/name:os.system' {NOT_ALLOWED};"
        " got a '!!python/name:os.system' tag",
        f"3:18: tag '!!python/tuple' {NOT_ALLOWED}; got a '!!python/tuple' tag",
        f"5:18: tag '!custom' {NOT_ALLOWED}; got a '!custom' tag",
        f"6:21: tag '!!python/str' {NOT_ALLOWED}; got a '!!python/str' tag",
        f"7:5: tag '!!python/str' {NOT_ALLOWED}; got a '!!python/str' tag",
        "7:5: type definition has no 'name'; expected a name; got no 'name' key",
        f"9:10: tag '!!python/object/new:list' {NOT_ALLOWED};"
        " got a '!!python/object/new:list' tag",
    ],
    "merge_key.yaml": [
        "1:1: unknown key in top level; expected one of 'metrics' or 'types';"
        " got 'base'",
    ],
    "merge_not_a_mapping.yaml": [
        "2:9: merge key in metric definition does not name a mapping; expected a"
        " mapping or a list of mappings; got 5",
    ],
    "top_level_list.yaml": [
        "1:1: top level is not a mapping; expected a mapping with 'metrics';"
        " got a list",
    ],
    "top_level_scalar.yaml": [
        "1:1: top level is not a mapping; expected a mapping with 'metrics';"
        " got 'metrics'",
    ],
    "empty.yaml": [
        "1:1: file is empty; expected a mapping with a 'metrics' list; got no document",
    ],
    "comments_only.yaml": [
        "1:1: file is empty; expected a mapping with a 'metrics' list; got no document",
    ],
    "not_utf8.yaml": [
        "2:21: file is not UTF-8 text; expected UTF-8; got byte 0xe9",
    ],
    "duplicate_key.yaml": [
        "5:5: key 'description' appears twice in metric definition (first at 3:5);"
        " expected each key once; got a second 'description'",
    ],
    "non_string_keys.yaml": [
        f"{line}:5: key in metric definition is not a string; expected a key name;"
        f" got {got}"
        for line, got in (
            (4, "1"),
            (5, "true"),
            (6, "null"),
            (7, "a list"),
            (8, "a timestamp '2024-01-01'"),
        )
    ],
    "wrong_scalar_types.yaml": [
        "2:11: type name is not a string; expected a string; got 42; quote it",
        "3:18: 'description' of type definition is not a string; expected a string;"
        " got true; quote it",
        "5:11: 'type' of type 'component' is not a string; expected a string;"
        " got 1; quote it",
        "6:16: 'sensitive' of type 'component' is not a boolean; expected true or"
        " false; got 'yes'",
        "7:18: 'description' of type 'component' is not a string; expected a"
        " string; got 3.5; quote it",
        "10:18: 'description' of metric 'metric_setupThing' is not a string;"
        " expected a string; got null; quote it",
        "11:11: 'unit' of metric 'metric_setupThing' is not a string; expected a"
        " string; got 5; quote it",
        "12:14: 'passive' of metric 'metric_setupThing' is not a boolean; expected"
        " true or false; got 'false'",
        "13:23: 'trackPerformance' of metric 'metric_setupThing' is not a boolean;"
        " expected true or false; got 1",
        "14:14: 'traceId' of metric 'metric_setupThing' is not a string; expected a"
        " string; got 7; quote it",
        "16:15: 'type' of a metadata entry of metric 'metric_setupThing' is not a"
        " string; expected a string; got 12; quote it",
        "18:19: 'required' of metric 'metric_setupThing' is not a boolean; expected"
        " true or false; got 'no'",
    ],
    "not_lists.yaml": [
        "2:3: 'types' is not a list; expected a list of type definitions;"
        " got a mapping",
        "7:15: 'metadata' of metric 'metric_setupThing' is not a list; expected a"
        " list of metadata entries; got 'component'",
    ],
    "not_mappings.yaml": [
        "2:5: type definition is not a mapping; expected a mapping with 'name' and"
        " 'description'; got 'component'",
        "4:5: metric definition is not a mapping; expected a mapping with 'name'"
        " and 'description'; got 'metric_setupThing'",
        "8:9: metadata entry of metric 'metric_other' is not a mapping; expected a"
        " mapping with 'type'; got 'reason'",
        "9:9: metadata entry of metric 'metric_other' is not a mapping; expected a"
        " mapping with 'type'; got a list",
    ],
    "wrong_booleans.yaml": [
        "3:16: 'sensitive' of type 'component' is not a boolean; expected true or"
        " false; got maybe",
        f"8:14: tag '!custom' {NOT_ALLOWED}; got a '!custom' tag",
        "9:23: 'trackPerformance' of metric 'metric_setupThing' is not a boolean;"
        " expected true or false; got 'true'",
        "12:19: 'required' of metric 'metric_setupThing' is not a boolean; expected"
        " true or false; got a list",
    ],
    "several_problems.yaml": [
        f"4:11: 'type' of type 'component' is not known; {KINDS_EXPECTED};"
        " got 'strng'; did you mean 'string'?",
        "6:11: type name starts with the reserved word 'value';"
        f" {PREFIXES_EXPECTED}; got 'valueCount'",
        "8:5: type 'component' is defined twice in this file (first at 3:5);"
        " expected each type once per file; got a second definition",
        "11:5: metric definition has no 'description'; expected a description (it"
        " may be empty); got no 'description' key",
        f"12:5: unknown key in metric definition; {KEYS_OF_METRIC};"
        " got 'descripton'; did you mean 'description'?",
        "16:19: 'required' of metric 'metric_setupThing' is not a boolean;"
        " expected true or false; got 'maybe'",
        "17:11: metric name has no '_'; expected namespace_camelCaseName such as"
        " 'metric_setupThing'; got 'nounderscore'",
        f"19:11: 'unit' of metric definition is not known; {UNITS_EXPECTED};"
        " got 'Hours'",
    ],
}

VALID_FILES = {
    "valid_full.yaml",
    "valid_merge.yaml",
    "valid_minimal.yaml",
    "layer_base.yaml",
    "layer_override.yaml",
    "layer_identical.yaml",
    "json_exponents.json",
}


class TestBadFiles:
    @pytest.mark.parametrize(
        "name",
        [
            pytest.param(n, marks=[LIBYAML] if n.startswith("yaml_") else [])
            for n in sorted(BAD_FILES)
        ],
    )
    def test_exact_messages(self, name: str) -> None:
        path = data(name)
        assert problems(path) == [f"{path}:{line}" for line in BAD_FILES[name]]

    def test_every_data_file_is_checked(self) -> None:
        files = sorted(p.name for p in DATA.iterdir() if p.is_file())
        assert files == sorted(set(BAD_FILES) | VALID_FILES)

    @pytest.mark.parametrize("name", sorted(VALID_FILES))
    def test_valid_files_load(self, name: str) -> None:
        assert load_definitions([data(name)]).metrics

    def test_merge_keys_are_resolved_as_yaml_says(self) -> None:
        metrics = load_definitions([data("valid_merge.yaml")]).metrics
        one, two, three = (metrics[f"metric_{n}"] for n in ("one", "two", "three"))
        assert (two.description, two.unit, list(two.fields)) == (
            "Shared description.",
            "Count",
            ["result"],
        )
        # an earlier merged mapping wins over a later one
        assert (three.unit, three.passive, three.description) == (
            "Bytes",
            True,
            "Shared description.",
        )
        assert one.unit == "Count"

    def test_a_mapping_merged_into_itself_is_reported(self, tmp_path: Path) -> None:
        path = write(
            tmp_path, "loop.yaml", "metrics:\n  - &m\n    <<: *m\n    name: a_b\n"
        )
        assert any("merges a mapping into itself" in p for p in problems(path))

    @LIBYAML
    def test_a_yaml_error_at_the_end_of_a_line(self, tmp_path: Path) -> None:
        path = write(tmp_path, "anchor.yaml", "metrics: &\n")
        assert problems(path) == [
            f"{path}:1:11: invalid YAML: while scanning an anchor at 1:10, did not"
            " find expected alphabetic or numeric character; expected valid YAML;"
            " got the end of the line"
        ]

    def test_a_missing_file(self, tmp_path: Path) -> None:
        path = str(tmp_path / "nowhere.yaml")
        assert problems(path) == [
            f"{path}:1:1: cannot read file; expected a readable file;"
            " got FileNotFoundError: No such file or directory"
        ]

    def test_a_directory(self, tmp_path: Path) -> None:
        assert problems(tmp_path) == [
            f"{tmp_path}:1:1: cannot read file; expected a readable file;"
            " got IsADirectoryError: Is a directory"
        ]

    def test_a_bad_byte_after_a_byte_order_mark(self, tmp_path: Path) -> None:
        path = tmp_path / "bom.yaml"
        path.write_bytes(b"\xef\xbb\xbfmetrics:\n  - {name: a_\xc3\xa9\xe9}\n")
        assert problems(path) == [
            f"{path}:2:15: file is not UTF-8 text; expected UTF-8; got byte 0xe9"
        ]

    def test_an_unreadable_file_does_not_hide_the_others(self, tmp_path: Path) -> None:
        missing = str(tmp_path / "nowhere.yaml")
        found = problems(missing, data("duplicate_type.yaml"))
        assert [line.split(":")[0] for line in found] == [
            missing,
            data("duplicate_type.yaml"),
        ]

    def test_explicitly_tagged_scalars_show_their_tag(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "t.yaml",
            "types:\n"
            "  - {name: a, description: x, allowedValues: [!!int '']}\n"
            "  - {name: b, description: x, allowedValues: [!!float '']}\n"
            "  - name: c\n"
            "    description: x\n"
            "    allowedValues: !!int\n"
            "  - {name: d, description: !!binary aGk=}\n"
            "metrics: []\n",
        )
        item = "is neither a string nor a finite number; expected a string or a number"
        assert problems(path) == [
            f"{path}:2:47: an item of 'allowedValues' of type 'a' {item};"
            " got !!int ''; quote it",
            f"{path}:3:47: an item of 'allowedValues' of type 'b' {item};"
            " got !!float ''; quote it",
            f"{path}:6:20: 'allowedValues' of type 'c' is not a list; expected a"
            " list of strings or numbers; got !!int ''",
            f"{path}:7:28: 'description' of type 'd' is not a string; expected a"
            " string; got binary data 'aGk='; quote it",
        ]

    def test_numbers_that_are_not_finite(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "n.yaml",
            "types:\n"
            "  - {name: a, type: double, description: x, allowedValues: [1, .inf]}\n"
            "  - {name: b, type: double, description: x, allowedValues: [1, 1e999]}\n"
            "metrics: []\n",
        )
        assert problems(path) == [
            f"{path}:2:64: an item of 'allowedValues' of type 'a' is neither a"
            " string nor a finite number; expected a string or a number; got .inf;"
            " quote it",
            f"{path}:3:64: an item of 'allowedValues' of type 'b' is neither a"
            " string nor a finite number; expected a string or a number;"
            " got '1e999'; quote it",
        ]

    def test_collection_tags_that_are_safe_but_not_lists(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "c.yaml",
            "types: !!omap [{a: 1}]\nmetrics: !!set {a_b}\n",
        )
        assert problems(path) == [
            f"{path}:1:8: 'types' is not a list; expected a list of type"
            " definitions; got a '!!omap' value",
            f"{path}:2:10: 'metrics' is not a list; expected a list of metrics;"
            " got a '!!set' value",
        ]

    def test_an_alias_of_one_metric_is_a_second_definition(
        self, tmp_path: Path
    ) -> None:
        path = write(
            tmp_path, "a.yaml", "metrics: [&m {name: a_b, description: x}, *m]\n"
        )
        assert problems(path) == [
            f"{path}:1:11: metric 'a_b' is defined twice in this file (first at"
            " 1:11); expected each metric once per file; got a second definition"
        ]

    def test_a_duplicate_metric_still_needs_its_types(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "d.yaml",
            "metrics:\n"
            "  - {name: a_b, description: x}\n"
            "  - {name: a_b, description: y, metadata: [{type: nowhere}]}\n",
        )
        assert problems(path) == [
            f"{path}:3:5: metric 'a_b' is defined twice in this file (first at"
            " 2:5); expected each metric once per file; got a second definition",
            f"{path}:3:51: metric 'a_b' {UNDEFINED}; got 'nowhere'",
        ]


class TestUnsafeYaml:
    def test_a_python_tag_never_runs(self, tmp_path: Path) -> None:
        marker = tmp_path / "ran"
        path = write(
            tmp_path,
            "attack.yaml",
            f"metrics: !!python/object/apply:os.system ['touch {marker}']\n",
        )
        assert problems(path) == [
            f"{path}:1:10: tag '!!python/object/apply:os.system' {NOT_ALLOWED};"
            " got a '!!python/object/apply:os.system' tag"
        ]
        assert not marker.exists()
        # the payload is live: an unsafe loader runs it
        yaml.unsafe_load(Path(path).read_text(encoding="utf-8"))
        assert marker.exists()

    def test_a_tag_inside_a_valid_document_never_runs(self, tmp_path: Path) -> None:
        marker = tmp_path / "ran"
        path = write(
            tmp_path,
            "attack.yaml",
            "metrics:\n"
            "  - name: a_b\n"
            "    description: !!python/object/apply:os.system\n"
            f"      args: ['touch {marker}']\n",
        )
        assert len(problems(path)) == 1
        assert not marker.exists()


class TestDefinitionError:
    def test_is_a_value_error_listing_every_problem(self) -> None:
        path = data("several_problems.yaml")
        with pytest.raises(ValueError) as caught:
            load_definitions([path])
        error = caught.value
        assert isinstance(error, DefinitionError)
        assert isinstance(error, MetricDslError)
        assert str(error).splitlines() == [str(p) for p in error.problems]
        assert len(error.problems) == len(BAD_FILES["several_problems.yaml"])
        assert error.problems[0] == Problem(
            path,
            4,
            11,
            f"'type' of type 'component' is not known; {KINDS_EXPECTED};"
            " got 'strng'; did you mean 'string'?",
        )

    def test_problems_come_in_file_order(self) -> None:
        with pytest.raises(DefinitionError) as caught:
            load_definitions([data("several_problems.yaml")])
        positions = [(p.line, p.column) for p in caught.value.problems]
        assert positions == sorted(positions)
