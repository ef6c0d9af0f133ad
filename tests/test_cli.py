"""The command line as a user runs it (``python -m metricdsl``, the ``metricdsl``
console script): argument handling, exit codes, help texts, ``check`` and
``schema``. The other commands have their own test files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import metricdsl
from metricdsl._definitions import load_definitions
from metricdsl._errors import DefinitionError
from metricdsl.cli import main
from tests.conftest import DEFAULT_DEFINITIONS, ROOT

#: the console script installed with the package, beside this Python
SCRIPT = Path(sys.executable).parent / "metricdsl"
COMMANDS = ("check", "stubs", "docs", "diff", "report", "schema")


def run_metricdsl(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m metricdsl ARGS`` in a fresh process, as a user runs it
    (``env`` adds to the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | (
        env or {}
    )
    return subprocess.run(
        [sys.executable, "-m", "metricdsl", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        input=stdin,
        env=env,
        check=False,
    )


BAD_DEFINITIONS = """\
types:
  - name: component
    type: strin
    description: Which part.
metrics:
  - name: metric_setupThing
    description: Sets up.
    metadata:
      - type: component
        requried: false
"""


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_DEFINITIONS, encoding="utf-8")
    return path


class TestCheck:
    def test_valid_file_prints_a_summary_and_exits_0(self) -> None:
        result = run_metricdsl("check", "definitions.yaml")
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            "ok: 4 metrics, 18 types, 0 overrides in 1 file\n",
            "",
        )

    def test_the_console_script_runs_the_same_command(self) -> None:
        result = subprocess.run(
            [str(SCRIPT), "check", str(DEFAULT_DEFINITIONS)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (result.returncode, result.stdout) == (
            0,
            "ok: 4 metrics, 18 types, 0 overrides in 1 file\n",
        )

    def test_layered_files_count_their_overrides(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        team = tmp_path / "team.yaml"
        team.write_text(
            "types:\n  - name: step\n    description: Redefined.\n"
            "metrics:\n  - name: session_start\n    description: Again.\n",
            encoding="utf-8",
        )
        assert main(["check", str(DEFAULT_DEFINITIONS), str(team)]) == 0
        assert capsys.readouterr().out == (
            "ok: 4 metrics, 18 types, 2 overrides in 2 files\n"
        )

    def test_invalid_file_prints_the_loaders_problems_and_exits_1(
        self, bad_file: Path
    ) -> None:
        with pytest.raises(DefinitionError) as raised:
            metricdsl.load(bad_file)
        expected = [str(problem) for problem in raised.value.problems]
        result = run_metricdsl("check", str(bad_file))
        assert result.returncode == 1
        assert result.stdout.splitlines() == expected
        assert expected[0].startswith(f"{bad_file}:3:11: 'type' of type 'component'")
        assert expected[1].startswith(f"{bad_file}:10:9: unknown key in metadata")

    def test_every_file_is_checked_and_every_problem_listed(
        self, bad_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = tmp_path / "missing.yaml"
        assert main(["check", str(bad_file), str(missing)]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 3
        assert lines[2].startswith(f"{missing}:1:1: cannot read file")

    def test_github_format_prints_annotations(
        self, bad_file: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        problems = _problems(bad_file)
        assert main(["check", "--format", "github", str(bad_file)]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert lines == [
            f"::error file={p.path},line={p.line},col={p.column},"
            f"title=metricdsl check::{p.message}"
            for p in problems
        ]

    def test_github_annotations_escape_what_workflow_commands_reserve(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        folder = tmp_path / "a,b:c%d"
        folder.mkdir()
        path = folder / "defs.yaml"
        path.write_text("metrics: [{name: x_y}]\n", encoding="utf-8")
        assert main(["check", "--format=github", str(path)]) == 1
        out = capsys.readouterr().out
        escaped = str(path).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
        assert out.startswith(f"::error file={escaped},line=1,col=11,")
        assert out.count("\n") == 1  # one annotation: the missing description

    def test_github_annotation_messages_escape_percent_signs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "defs.yaml"
        path.write_text("metrics: [{name: x_y, description: d, 50%: 1}]\n", "utf-8")
        (problem,) = _problems(path)
        assert "'50%'" in problem.message
        assert main(["check", "--format", "github", str(path)]) == 1
        message = capsys.readouterr().out.split("::", 2)[2]
        assert message == problem.message.replace("%", "%25") + "\n"

    def test_github_format_as_a_workflow_runs_it(self, bad_file: Path) -> None:
        result = run_metricdsl("check", "--format", "github", str(bad_file))
        assert result.returncode == 1
        assert result.stdout.splitlines() == [
            f"::error file={p.path},line={p.line},col={p.column},"
            f"title=metricdsl check::{p.message}"
            for p in _problems(bad_file)
        ]

    def test_valid_file_in_github_format_prints_the_summary(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["check", "--format", "github", str(DEFAULT_DEFINITIONS)]) == 0
        assert capsys.readouterr().out.startswith("ok: 4 metrics")


def _problems(path: Path) -> tuple[metricdsl.Problem, ...]:
    with pytest.raises(DefinitionError) as raised:
        load_definitions([path])
    return raised.value.problems


class TestUsage:
    @pytest.mark.parametrize(
        "args",
        [
            [],
            ["nonsense"],
            ["check"],
            ["check", "--format", "xml", "definitions.yaml"],
            ["stubs", "definitions.yaml"],  # no --output
            ["report", "--top", "0", "events.jsonl"],
            ["diff", "definitions.yaml"],
            ["schema", "--path", "--output", "x.json"],
        ],
        ids=[
            "none",
            "unknown",
            "no-file",
            "bad-format",
            "no-output",
            "top-0",
            "one",
            "path-and-output",
        ],
    )
    def test_usage_errors_exit_2_with_a_message_on_stderr(
        self, args: list[str]
    ) -> None:
        result = run_metricdsl(*args)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "usage: metricdsl" in result.stderr

    def test_top_must_be_a_positive_integer(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["report", "--top", "many", "e.jsonl"])
        assert exited.value.code == 2
        assert "expected a positive integer; got 'many'" in capsys.readouterr().err

    def test_text_the_terminal_cannot_encode_is_escaped_not_a_crash(
        self, tmp_path: Path
    ) -> None:
        """A console or redirected file in ASCII (or cp1252): no traceback."""
        path = tmp_path / "defs.yaml"
        path.write_text(
            "metrics:\n  - {name: ns_caf\u00e9, description: \u6587}\n", "utf-8"
        )
        result = run_metricdsl("docs", str(path), env={"PYTHONIOENCODING": "ascii"})
        assert (result.returncode, result.stderr) == (0, "")
        assert "\n## ns_caf\\xe9\n\n\\u6587\n" in result.stdout

    @pytest.mark.parametrize(
        "args",
        [["docs", "definitions.yaml"], ["schema"], ["check", "definitions.yaml"]],
        ids=["docs", "schema", "check"],
    )
    def test_a_closed_pipe_ends_the_command_quietly(self, args: list[str]) -> None:
        """``metricdsl docs ... | head``: exit 1, no traceback."""
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written
        try:
            result = subprocess.run(
                [sys.executable, "-m", "metricdsl", *args],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                check=False,
            )
        finally:
            os.close(write_end)
        assert (result.returncode, result.stderr) == (1, "")

    def test_version(self) -> None:
        result = run_metricdsl("--version")
        assert (result.returncode, result.stdout) == (0, f"{metricdsl.__version__}\n")

    def test_top_level_help_lists_every_command(self) -> None:
        result = run_metricdsl("--help")
        assert result.returncode == 0
        for command in COMMANDS:
            assert f"\n    {command} " in result.stdout

    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_command_has_help_with_an_example(
        self, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: metricdsl {command} ")
        example = text[text.index("\nexample:\n") :]
        assert f"\n  metricdsl {command} " in example


def metricdsl_modules_after(code: str) -> str:
    """The metricdsl (and ddsketch) modules a fresh process has imported after
    running ``code`` (``sys.argv[1]`` is the default definitions file)."""
    code += (
        "\nprint(sorted(m for m in sys.modules"
        " if m.startswith(('metricdsl', 'ddsketch'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(DEFAULT_DEFINITIONS)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


class TestImports:
    def test_import_metricdsl_does_not_import_the_command_line(self) -> None:
        loaded = metricdsl_modules_after(
            "import sys, metricdsl\nmetricdsl.load(sys.argv[1])"
        )
        for module in ("cli", "_stubs", "_docs", "_diff", "_report"):
            assert f"'metricdsl.{module}'" not in loaded
        assert "'metricdsl._metric'" in loaded  # the check above saw real imports
        assert "ddsketch" not in loaded

    def test_the_check_command_does_not_import_the_other_commands(self) -> None:
        loaded = metricdsl_modules_after(
            "import sys\nfrom metricdsl.cli import main\nmain(['check', sys.argv[1]])"
        )
        assert "'metricdsl.cli'" in loaded
        for module in ("_stubs", "_docs", "_diff", "_report"):
            assert f"'metricdsl.{module}'" not in loaded


class TestSchemaCommand:
    def test_prints_the_installed_schema(self) -> None:
        result = run_metricdsl("schema")
        assert result.returncode == 0
        schema = json.loads(result.stdout)
        assert schema["title"] == "metricdsl definitions"

    def test_path_names_the_file_shipped_in_the_package(self) -> None:
        result = run_metricdsl("schema", "--path")
        path = Path(result.stdout.strip())
        assert path == Path(metricdsl.__file__).with_name("definitions.schema.json")
        assert path.is_file()

    def test_in_process_print_and_path(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        shipped = Path(metricdsl.__file__).with_name("definitions.schema.json")
        assert main(["schema"]) == 0
        assert capsys.readouterr().out == shipped.read_text(encoding="utf-8")
        assert main(["schema", "--path"]) == 0
        assert capsys.readouterr().out == f"{shipped}\n"

    def test_output_writes_a_copy(self, tmp_path: Path) -> None:
        target = tmp_path / "schemas" / "definitions.schema.json"
        assert main(["schema", "--output", str(target)]) == 0
        shipped = Path(metricdsl.__file__).with_name("definitions.schema.json")
        assert target.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")

    def test_an_unwritable_output_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("", encoding="utf-8")
        assert main(["schema", "--output", str(blocker / "x.json")]) == 1
        assert "cannot write" in capsys.readouterr().err
