"""``metricdsl diff``: breaking changes, additions and other changes between
two definition sets, layered sets, output formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricdsl._definitions import load_definitions
from metricdsl._diff import compare, render_text
from metricdsl.cli import main
from tests.conftest import DEFAULT_DEFINITIONS
from tests.test_cli import run_metricdsl

BASE = """\
types:
  - name: component
    allowedValues: [editor, viewer]
    description: Which part.
  - name: count
    type: int
    description: How many.
  - name: label
    description: A label.
metrics:
  - name: ns_thing
    description: A thing.
    unit: Milliseconds
    metadata:
      - type: component
      - type: count
        required: false
  - name: ns_other
    description: Another.
"""


def kinds(old: str, new: str, tmp_path: Path) -> dict[str, list[str]]:
    """The change kinds, by group, from ``old`` to ``new`` (YAML texts)."""
    (tmp_path / "old.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
    changes = compare(
        load_definitions([tmp_path / "old.yaml"]),
        load_definitions([tmp_path / "new.yaml"]),
    )
    return {
        group: [c["kind"] for c in items] for group, items in changes.as_json().items()
    }


BREAKING = {
    "metric_removed": BASE.replace(
        "  - name: ns_other\n    description: Another.\n", ""
    ),
    "field_removed": BASE.replace("      - type: count\n        required: false\n", ""),
    "type_changed": BASE.replace("    type: int\n", "    type: double\n"),
    "allowed_value_removed": BASE.replace("[editor, viewer]", "[editor]"),
    "allowed_values_imposed": BASE.replace(
        "description: A label.", "allowedValues: [a]\n    description: A label."
    ),
    "field_required": BASE.replace(
        "      - type: count\n        required: false\n", "      - type: count\n"
    ),
    "required_field_added": BASE.replace(
        "      - type: count\n", "      - type: label\n      - type: count\n"
    ),
    "unit_changed": BASE.replace("unit: Milliseconds", "unit: Count"),
}


class TestCompare:
    @pytest.mark.parametrize("kind", sorted(BREAKING))
    def test_each_breaking_change_is_found(self, kind: str, tmp_path: Path) -> None:
        found = kinds(BASE, BREAKING[kind], tmp_path)
        assert found["breaking"] == [kind]

    def test_additions(self, tmp_path: Path) -> None:
        new = (
            BASE.replace("[editor, viewer]", "[editor, viewer, web]").replace(
                "      - type: count\n",
                "      - type: label\n        required: false\n      - type: count\n",
            )
            + "  - name: ns_new\n    description: New.\n"
        )
        assert kinds(BASE, new, tmp_path) == {
            "breaking": [],
            "additions": ["allowed_value_added", "metric_added", "field_added"],
            "other": [],
        }

    def test_other_changes(self, tmp_path: Path) -> None:
        new = (
            BASE.replace("description: A thing.", "description: A thing, changed.")
            .replace(
                "description: Another.", "description: Another.\n    passive: true"
            )
            .replace(
                "      - type: component\n",
                "      - type: component\n        required: false\n",
            )
            .replace(
                "description: How many.", "description: How many.\n    sensitive: true"
            )
        )
        assert kinds(BASE, new, tmp_path)["other"] == [
            "sensitive_changed",
            "passive_changed",
            "description_changed",
            "field_optional",
        ]

    def test_lifted_allowed_values_and_removed_unused_types(
        self, tmp_path: Path
    ) -> None:
        new = BASE.replace("    allowedValues: [editor, viewer]\n", "").replace(
            "  - name: label\n    description: A label.\n", ""
        )
        assert kinds(BASE, new, tmp_path) == {
            "breaking": [],
            "additions": ["allowed_values_lifted"],
            "other": ["type_removed"],
        }

    def test_a_global_field_no_longer_declared_is_not_breaking(
        self, tmp_path: Path
    ) -> None:
        """Every metric may still carry it: code that sets it keeps working."""
        old = BASE.replace(
            "      - type: component\n",
            "      - type: component\n      - type: reason\n",
        )
        assert kinds(old, BASE, tmp_path) == {
            "breaking": [],
            "additions": [],
            "other": ["field_undeclared"],
        }

    def test_identical_sets_have_no_changes(self, tmp_path: Path) -> None:
        assert kinds(BASE, BASE, tmp_path) == {
            "breaking": [],
            "additions": [],
            "other": [],
        }

    def test_messages_name_the_metric_field_and_values(self, tmp_path: Path) -> None:
        (tmp_path / "old.yaml").write_text(BASE, encoding="utf-8")
        new = BREAKING["allowed_value_removed"].replace(
            "unit: Milliseconds", "unit: Count"
        )
        (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
        changes = compare(
            load_definitions([tmp_path / "old.yaml"]),
            load_definitions([tmp_path / "new.yaml"]),
        )
        assert render_text(changes) == (
            "Breaking changes (2):\n"
            "  field 'component': allowed value removed: 'viewer' (used by ns_thing)\n"
            "  metric 'ns_thing': unit changed from Milliseconds to Count\n"
        )


class TestCommand:
    def test_breaking_changes_exit_1(self, tmp_path: Path) -> None:
        old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
        old.write_text(BASE, encoding="utf-8")
        new.write_text(BREAKING["metric_removed"], encoding="utf-8")
        result = run_metricdsl("diff", str(old), str(new))
        assert (result.returncode, result.stdout) == (
            1,
            "Breaking changes (1):\n  metric 'ns_other': removed\n",
        )

    def test_no_breaking_change_exits_0(self, tmp_path: Path) -> None:
        old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
        old.write_text(BASE, encoding="utf-8")
        new.write_text(BASE.replace("[editor, viewer]", "[editor, viewer, web]"))
        result = run_metricdsl("diff", str(old), str(new))
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            "Additions (1):\n  field 'component': allowed value added: 'web'\n",
            "",
        )

    def test_identical_sets_print_no_changes(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = str(DEFAULT_DEFINITIONS)
        assert main(["diff", path, path]) == 0
        assert capsys.readouterr().out == "No changes.\n"

    def test_layered_sets_with_repeated_options(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        base = tmp_path / "base.yaml"
        base.write_text(BASE, encoding="utf-8")
        team = tmp_path / "team.yaml"
        team.write_text(
            "types:\n  - name: count\n    description: Now text.\n"
            "metrics:\n"
            "  - name: ns_other\n    description: Another.\n    unit: Count\n"
            "  - name: ns_team\n    description: The team's.\n",
            encoding="utf-8",
        )
        args = ["--old", str(base), "--new", str(base), "--new", str(team)]
        result = run_metricdsl("diff", *args, "--format", "json")
        assert result.returncode == 1
        assert json.loads(result.stdout)["breaking"] == [
            {
                "kind": "type_changed",
                "field": "count",
                "message": "field 'count': type changed from int to string "
                "(used by ns_thing)",
            },
            {
                "kind": "unit_changed",
                "metric": "ns_other",
                "message": "metric 'ns_other': unit changed from None to Count",
            },
        ]
        # the other way round, the layer's metric is removed
        back = ["--old", str(base), "--old", str(team), "--new", str(base)]
        assert main(["diff", *back]) == 1
        assert "  metric 'ns_team': removed\n" in capsys.readouterr().out

    @pytest.mark.parametrize(
        "args",
        [
            ["a.yaml", "--old", "b.yaml", "--new", "c.yaml"],
            ["a.yaml", "b.yaml", "c.yaml"],
            ["--old", "a.yaml"],
            [],
        ],
    )
    def test_unclear_sets_are_usage_errors(self, args: list[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["diff", *args])
        assert exited.value.code == 2

    def test_definitions_that_do_not_load_exit_2(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("metrics: 3\n", encoding="utf-8")
        result = run_metricdsl("diff", str(DEFAULT_DEFINITIONS), str(bad))
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.startswith(f"{bad}:1:10: 'metrics' is not a list")

    def test_the_real_vscode_layer_over_common(
        self, aws: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        common = str(aws / "commonDefinitions.json")
        vscode = str(aws / "vscodeTelemetry.json")
        code = main(["diff", "--old", common, "--new", common, "--new", vscode])
        out = capsys.readouterr().out
        assert "metric 'session_end': passive changed from true to false" in out
        assert code == (1 if out.startswith("Breaking changes") else 0)
