"""``metricdsl stubs``: generated stubs are deterministic and ruff-formatted,
mypy --strict accepts correct uses and reports every kind of misuse, and the
stubs of the real AWS definitions type-check.

mypy runs once for the whole module (the ``mypy_run`` fixture) over one folder
holding every generated stub and the usage files of tests/data/cli/typing/.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import metricdsl
from metricdsl._definitions import load_definitions
from metricdsl._stubs import is_plain_name, pascal, py_str, render_stub
from metricdsl.cli import main
from tests.conftest import AWS, DATA, DEFAULT_DEFINITIONS, ROOT
from tests.test_cli import run_metricdsl

ODD = DATA / "cli" / "odd_names.yaml"
TYPING = DATA / "cli" / "typing"
ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): error: .*\[(?P<code>[\w-]+)\]$")
MARKER = re.compile(r"#\s*E:\s*(?P<codes>[\w\-, ]+)$")

LONG = "aVeryLongFieldNameThatKeepsGoingOnAndOnForeverAndEverAndEverMore"
ONE_METRIC = "metrics:\n  - name: solo_metric\n    description: Alone.\n"
NO_METRICS = "metrics: []\n"


def stub_of(*paths: Path, variable: str = "telemetry") -> str:
    definitions = load_definitions(paths)
    return render_stub(definitions, variable=variable, command=["metricdsl", "stubs"])


def ruff_format_problems(folder: Path) -> str:
    """What ``ruff format --check`` says about the stubs in ``folder``."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    result = subprocess.run(
        [ruff, "format", "--check", "--diff", "--isolated", "--line-length", "88", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


@pytest.fixture(scope="module")
def mypy_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, set[tuple[int, str]]]:
    """Generate every stub (through the command line), run mypy --strict once,
    and return file name -> {(line, error code)}."""
    folder = tmp_path_factory.mktemp("typing")
    sources = {
        "app_telemetry": [DEFAULT_DEFINITIONS],
        "odd_telemetry": [ODD],
        "solo_telemetry": [folder / "solo.yaml"],
        "empty_telemetry": [folder / "empty.yaml"],
    }
    (folder / "solo.yaml").write_text(ONE_METRIC, encoding="utf-8")
    (folder / "empty.yaml").write_text(NO_METRICS, encoding="utf-8")
    if AWS.is_dir():
        sources["aws_common"] = [AWS / "commonDefinitions.json"]
        sources["aws_vscode"] = [
            AWS / "commonDefinitions.json",
            AWS / "vscodeTelemetry.json",
            AWS / "vscodeDefinitions.json",
        ]
    for module, paths in sources.items():
        output = folder / f"{module}.pyi"
        result = run_metricdsl("stubs", *map(str, paths), "--output", str(output))
        assert (result.returncode, result.stderr) == (0, "")
    (folder / "app_telemetry.py").write_text(
        "import metricdsl\n\ntelemetry = metricdsl.load('definitions.yaml')\n",
        encoding="utf-8",
    )
    for usage in TYPING.glob("*.py"):
        shutil.copy(usage, folder / usage.name)
    # app_telemetry.py is not listed: importing it, mypy takes the stub beside it
    files = sorted(p.name for p in folder.glob("*.pyi"))
    files += sorted(p.name for p in TYPING.glob("*.py"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file=",
            "--python-version=3.10",
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            "--cache-dir",
            str(folder / ".mypy_cache"),
            *files,
        ],
        cwd=folder,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    errors: dict[str, set[tuple[int, str]]] = {}
    for line in result.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            found = errors.setdefault(match["file"], set())
            found.add((int(match["line"]), match["code"]))
        else:
            assert ": note: " in line, (
                f"unexpected mypy output: {line}\n{result.stderr}"
            )
    assert result.returncode in (0, 1), result.stderr
    return errors


class TestTypeChecking:
    def test_correct_uses_and_the_stubs_themselves_are_clean(
        self, mypy_run: dict[str, set[tuple[int, str]]]
    ) -> None:
        """usage_ok.py and every generated stub: no error at all."""
        unexpected = {f: e for f, e in mypy_run.items() if f != "usage_bad.py"}
        assert unexpected == {}

    def test_every_misuse_is_reported_on_its_line(
        self, mypy_run: dict[str, set[tuple[int, str]]]
    ) -> None:
        """Misspelt fields, wrong types, values outside allowedValues, emit
        without a required field, wrong calls of run-decorated functions,
        misspelt metrics: each marked line gets exactly its error codes."""
        expected: set[tuple[int, str]] = set()
        text = (TYPING / "usage_bad.py").read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                for code in match["codes"].split(","):
                    expected.add((number, code.strip()))
        assert len(expected) >= 30
        assert mypy_run.get("usage_bad.py", set()) == expected

    def test_the_real_aws_stubs_type_check(
        self, aws: Path, mypy_run: dict[str, set[tuple[int, str]]]
    ) -> None:
        assert "aws_common.pyi" not in mypy_run
        assert "aws_vscode.pyi" not in mypy_run


class TestLayout:
    def test_the_output_is_deterministic_and_has_a_regeneration_header(self) -> None:
        first = stub_of(DEFAULT_DEFINITIONS)
        assert first == stub_of(DEFAULT_DEFINITIONS)
        assert first.splitlines()[:2] == [
            "# Generated by `metricdsl stubs`; do not edit. Regenerate with:",
            "#   metricdsl stubs",
        ]

    def test_stubs_are_ruff_format_clean(self, tmp_path: Path) -> None:
        (tmp_path / "app.pyi").write_text(stub_of(DEFAULT_DEFINITIONS), "utf-8")
        (tmp_path / "odd.pyi").write_text(stub_of(ODD), "utf-8")
        assert ruff_format_problems(tmp_path) == ""

    def test_aws_stubs_are_ruff_format_clean(self, aws: Path, tmp_path: Path) -> None:
        layered = (aws / "commonDefinitions.json", aws / "vscodeTelemetry.json")
        (tmp_path / "aws.pyi").write_text(stub_of(*layered), "utf-8")
        assert ruff_format_problems(tmp_path) == ""

    def test_one_class_per_metric_with_typed_fields(self) -> None:
        text = stub_of(DEFAULT_DEFINITIONS)
        for name in ("MetricSetupThing", "MetricSetupStep", "SessionStart"):
            assert f"\nclass {name}:\n" in text
            assert f"\nclass {name}Span(metricdsl.Span):\n" in text
        assert "    component: Required[ComponentValue]\n" in text
        assert "    attempt: int | None\n" in text
        assert "    metric_setupThing: MetricSetupThing\n" in text
        assert text.endswith("\ntelemetry: Telemetry\n")

    def test_allowed_values_become_literals_except_for_doubles(self) -> None:
        text = stub_of(ODD)
        assert "RetryCountValue = Literal[\n    0,\n    1,\n    2,\n    -1,\n]" in text
        assert "    ratio: float | None\n" in text  # Literal cannot hold 0.5
        assert "\n    'it\\'s \"quoted\"',\n" in text

    def test_odd_field_names_are_keys_of_a_functional_typed_dict(self) -> None:
        text = stub_of(ODD)
        assert "\nOddKeywordFieldsEmitFields = TypedDict(\n" in text
        for key in ('"class": Required[str]', '"http-method"', '"self"', '"__mangled"'):
            assert key in text
        # a metric name that is no identifier is reached by indexing only
        assert 'def __getitem__(self, name: Literal["odd_with-dash"])' in text
        assert "odd_with-dash:" not in text

    def test_telemetry_attributes_are_those_the_runtime_has(
        self, tmp_path: Path
    ) -> None:
        """A metric the runtime reaches by index only has no attribute in the
        stub either, so the type checker never accepts what raises."""
        path = tmp_path / "defs.yaml"
        path.write_text(
            "metrics:\n"
            "  - {name: ns_plain, description: x}\n"
            "  - {name: _hidden_metric, description: x}\n"
            "  - {name: _, description: x}\n"
            "  - {name: ns_with-dash, description: x}\n",
            encoding="utf-8",
        )
        tree = ast.parse(stub_of(path))
        (telemetry_class,) = [
            node
            for node in tree.body
            if isinstance(node, ast.ClassDef) and node.name == "Telemetry"
        ]
        declared = {
            node.target.id
            for node in telemetry_class.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        }
        telemetry = metricdsl.load(path)
        assert declared == {name for name in telemetry if hasattr(telemetry, name)}
        assert declared == {"ns_plain"}

    def test_the_variable_name_is_configurable(self) -> None:
        text = stub_of(DEFAULT_DEFINITIONS, variable="metrics_")
        assert text.endswith("\nmetrics_: Telemetry\n")

    def test_class_names_that_collide_get_a_number(self, tmp_path: Path) -> None:
        path = tmp_path / "defs.yaml"
        path.write_text(
            "metrics:\n"
            "  - {name: a_bC, description: one}\n"
            "  - {name: aB_c, description: two}\n"
            "  - {name: ns_telemetry, description: three}\n",
            encoding="utf-8",
        )
        text = stub_of(path)
        assert "\nclass ABC:\n" in text
        assert "\nclass ABC2:\n" in text
        assert "\nclass NsTelemetry:\n" in text

    def test_descriptions_become_docstrings(self) -> None:
        text = stub_of(ODD)
        assert '    """Carries fields that are not plain Python names."""\n' in text

    def test_the_generated_text_is_valid_python(self) -> None:
        ast.parse(stub_of(ODD))

    def test_awkward_descriptions_and_names_stay_valid_and_formatted(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "defs.yaml"
        path.write_text(
            "types:\n"
            '  - name: "x-\\u0001"\n'
            '    allowedValues: ["cr\\rlf", "bell\\a", "nbsp\\u2028"]\n'
            "    description: ''\n"
            f"  - name: {LONG}\n"
            "    type: int\n"
            "    description: ''\n"
            "metrics:\n"
            "  - name: ns_awkward\n"
            '    description: "Ends in a quote \\"\\"\\" \\\\ \\u0007 \\""\n'
            "    metadata:\n"
            '      - type: "x-\\u0001"\n'
            f"      - type: {LONG}\n",
            encoding="utf-8",
        )
        text = stub_of(path)
        tree = ast.parse(text)
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        assert ast.get_docstring(classes["NsAwkward"], clean=False) == (
            'Ends in a quote """ \\ \x07 " '
        )
        assert '\n    "cr\\rlf",\n    "bell\\x07",\n    "nbsp\\u2028",\n' in text
        (tmp_path / "awkward.pyi").write_text(text, encoding="utf-8")
        assert ruff_format_problems(tmp_path) == ""


class TestNames:
    @pytest.mark.parametrize(
        "text",
        ["plain", 'say "hi"', "it's", 'both \' and ""', "back\\slash", "tab\there\n"],
    )
    def test_py_str_round_trips(self, text: str) -> None:
        assert ast.literal_eval(py_str(text)) == text

    def test_py_str_prefers_double_quotes(self) -> None:
        assert py_str("a") == '"a"'
        assert py_str('say "hi"') == "'say \"hi\"'"

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("metric_setupThing", "MetricSetupThing"),
            ("aws_copy-arn", "AwsCopyArn"),
            ("3d_render", "X3dRender"),
            ("_", "X"),
        ],
    )
    def test_pascal(self, name: str, expected: str) -> None:
        assert pascal(name) == expected

    @pytest.mark.parametrize(
        ("name", "plain"),
        [("component", True), ("class", False), ("a-b", False), ("__x", False)],
    )
    def test_is_plain_name(self, name: str, plain: bool) -> None:
        assert is_plain_name(name) is plain


class TestCommand:
    def test_writes_the_stub_and_check_accepts_it(self, tmp_path: Path) -> None:
        output = tmp_path / "pkg" / "telemetry.pyi"
        args = ["stubs", str(DEFAULT_DEFINITIONS), "--output", str(output)]
        assert main(args) == 0
        text = output.read_text(encoding="utf-8")
        assert f"#   metricdsl stubs {DEFAULT_DEFINITIONS} --output {output}\n" in text
        assert main([*args, "--check"]) == 0

    def test_the_regeneration_command_is_quoted_for_the_shell(
        self, tmp_path: Path
    ) -> None:
        folder = tmp_path / "my defs"
        folder.mkdir()
        source = folder / "definitions.yaml"
        shutil.copy(DEFAULT_DEFINITIONS, source)
        output = folder / "t.pyi"
        assert main(["stubs", str(source), "-o", str(output)]) == 0
        command = output.read_text(encoding="utf-8").splitlines()[1]
        assert shlex.split(command.removeprefix("#   ")) == [
            "metricdsl",
            "stubs",
            str(source),
            "--output",
            str(output),
        ]

    def test_check_reports_a_stale_or_missing_stub(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        output = tmp_path / "telemetry.pyi"
        args = ["stubs", str(DEFAULT_DEFINITIONS), "-o", str(output), "--check"]
        assert main(args) == 1
        output.write_text("# old\n", encoding="utf-8")
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "cannot read" in err
        assert f"{output} is out of date" in err
        assert output.read_text(encoding="utf-8") == "# old\n"

    def test_a_variable_appears_in_the_regeneration_command(
        self, tmp_path: Path
    ) -> None:
        output = tmp_path / "t.pyi"
        cmd = ["stubs", str(DEFAULT_DEFINITIONS), "-o", str(output)]
        assert main([*cmd, "--variable", "metrics"]) == 0
        assert "--variable metrics\n" in output.read_text(encoding="utf-8")

    @pytest.mark.parametrize(
        "extra",
        [
            ["--variable", "class"],
            ["--variable", "a-b"],
            ["--variable", "Telemetry"],  # names the stub itself defines or imports
            ["--variable", "metricdsl"],
            ["--variable", "_P"],
            ["-o", "x.py"],
        ],
    )
    def test_bad_variable_or_output_is_a_usage_error(
        self, extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = ["stubs", str(DEFAULT_DEFINITIONS), "-o", str(tmp_path / "t.pyi")]
        assert main([*args, *extra]) == 2
        assert capsys.readouterr().err.startswith("metricdsl stubs: ")

    def test_invalid_definitions_exit_1_with_problems_on_stderr(
        self, tmp_path: Path
    ) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("metrics: [{name: nounderscore, description: x}]\n", "utf-8")
        result = run_metricdsl("stubs", str(bad), "-o", str(tmp_path / "t.pyi"))
        assert result.returncode == 1
        assert result.stderr.startswith(f"{bad}:1:18: metric name has no '_'")
        assert not (tmp_path / "t.pyi").exists()
