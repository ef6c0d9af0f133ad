"""The ``metricdsl`` command line (also ``python -m metricdsl``).

Parses the arguments and hands each command to the module that does its job
(``_stubs``, ``_docs``, ``_diff``, ``_report``), imported only when that command
runs. ``import metricdsl`` never imports this module.

Exit status: 0 success; 1 the command found something (invalid definitions,
breaking changes, an out-of-date file) or could not read or write a file; 2 a
usage error (and, for ``diff``, definitions that do not load).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ._definitions import Definitions
    from ._errors import Problem

__all__ = ["main"]

OK, FOUND, USAGE = 0, 1, 2

_DESCRIPTION = """\
Check, document and compare metricdsl definitions files; write type stubs
for them; summarise the events a program recorded.

exit status: 0 success; 1 the command found something (invalid definitions,
breaking changes, an out-of-date file) or could not read or write a file;
2 a usage error."""

_EXAMPLES = {
    "check": """\
Validate definitions files as metricdsl.load() would (layered in the order
given). Valid: a one-line summary, exit 0. Invalid: one
path:line:column: message line per problem, exit 1.

example:
  metricdsl check definitions.yaml
  metricdsl check --format github base.yaml team.yaml   # in a GitHub workflow""",
    "stubs": """\
Write a type stub (.pyi) for the module that holds
NAME = metricdsl.load(...): every metric gets a class whose emit, record,
span and run take exactly its fields as typed keyword arguments, so a type
checker reports a misspelt field, a wrong type or a value outside
allowedValues. Put the stub beside that module, with the same name.

example:
  metricdsl stubs definitions.yaml --output myapp/telemetry.pyi
  metricdsl stubs definitions.yaml --output myapp/telemetry.pyi --check   # in CI""",
    "docs": """\
Write a Markdown reference of the definitions: an index and one section per
metric (description, unit, passive, a table of its fields).

example:
  metricdsl docs definitions.yaml --output TELEMETRY.md
  metricdsl docs definitions.yaml | less""",
    "diff": """\
Compare two definition sets: breaking changes (a metric or field removed, a
field's type changed, an allowed value removed, a field became required or a
required field was added, a unit changed), additions and other changes.
Exit 1 when anything breaking changed, 0 otherwise, 2 when a set does not
load. Each set may be several layered files: repeat --old and --new.

example:
  metricdsl diff old/definitions.yaml definitions.yaml
  metricdsl diff --old base.yaml --old team.yaml --new base.yaml --new team2.yaml
  git show main:definitions.yaml > /tmp/main.yaml &&
    metricdsl diff /tmp/main.yaml definitions.yaml""",
    "report": """\
Summarise recorded events (JSON lines, as the jsonl: sink writes them): per
metric the count, failure and cancellation rates, p50/p95/max duration in
milliseconds and the most common reasons. Percentiles are by nearest rank:
exact up to 2048 durations per metric, then from a DDSketch with 1% relative
accuracy (memory stays bounded on files of any size). Malformed lines are
reported on stderr with their line number and skipped. Use - for stdin.

example:
  metricdsl report events.jsonl
  metricdsl report --format json events.jsonl > summary.json""",
    "schema": """\
Print (or write) the JSON Schema of the definitions format, for editors:
with the schema beside your definitions file, the first line
  # yaml-language-server: $schema=definitions.schema.json
lets VS Code (YAML extension) and other yaml-language-server editors validate
and complete it.

example:
  metricdsl schema --output definitions.schema.json
  metricdsl schema --path""",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    for stream in (sys.stdout, sys.stderr):
        # a console or file whose encoding lacks a character gets an escape
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # pragma: no cover - `metricdsl docs ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return FOUND


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="metricdsl",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'metricdsl COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    check = command("check", "validate definitions files as load() would")
    _files(check)
    check.add_argument(
        "--format",
        choices=("text", "github"),
        default="text",
        help="text: path:line:column: message (default); github: Actions annotations",
    )
    check.set_defaults(run=_check)

    stubs = command("stubs", "write a typed .pyi stub for NAME = metricdsl.load(...)")
    _files(stubs)
    stubs.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="PATH.pyi",
        help="the stub to write (beside the module that calls load)",
    )
    stubs.add_argument(
        "--variable",
        default="telemetry",
        metavar="NAME",
        help="the module variable that holds the loaded telemetry (default: telemetry)",
    )
    _check_option(stubs)
    stubs.set_defaults(run=_stubs)

    docs = command("docs", "write a Markdown reference of the metrics")
    _files(docs)
    docs.add_argument(
        "--output", "-o", metavar="PATH.md", help="write here (default: stdout)"
    )
    _check_option(docs)
    docs.set_defaults(run=_docs)

    diff = command("diff", "breaking changes and additions between two definition sets")
    diff.add_argument(
        "sets", nargs="*", metavar="OLD NEW", help="the old and the new file"
    )
    diff.add_argument(
        "--old", action="append", default=[], metavar="FILE", help="a layer of OLD"
    )
    diff.add_argument(
        "--new", action="append", default=[], metavar="FILE", help="a layer of NEW"
    )
    diff.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: for people (default); json: for machines",
    )
    diff.set_defaults(run=_diff, parser=diff)

    report = command("report", "summarise recorded events (a jsonl: sink's file)")
    report.add_argument("files", nargs="+", metavar="FILE.jsonl")
    report.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: aligned columns (default); json: for machines",
    )
    report.add_argument(
        "--top",
        type=_positive,
        default=3,
        metavar="N",
        help="how many reasons to show per metric (default: 3)",
    )
    report.set_defaults(run=_report)

    schema = command("schema", "the JSON Schema of the definitions format")
    where = schema.add_mutually_exclusive_group()
    where.add_argument("--output", "-o", metavar="PATH", help="write it to PATH")
    where.add_argument(
        "--path", action="store_true", help="print where the installed schema is"
    )
    schema.set_defaults(run=_schema)
    return parser


def _files(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="definitions files, layered in order"
    )


def _check_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the output file is missing or out of date",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


# -- shared steps -----------------------------------------------------------------


def _load(
    files: Sequence[str],
    problems_to: TextIO,
    show: Callable[[Problem], str] = str,
) -> Definitions | None:
    """The layered definitions, or None after printing every problem."""
    from ._definitions import load_definitions
    from ._errors import DefinitionError

    try:
        return load_definitions(files)
    except DefinitionError as error:
        for problem in error.problems:
            print(show(problem), file=problems_to)
        return None


def _emit(text: str, output: str | None, *, check: bool, what: str) -> int:
    """Print ``text``, write it to ``output``, or (``check``) compare with it."""
    if output is None or output == "-":
        sys.stdout.write(text)
        return OK
    path = Path(output)
    if check:
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as error:
            print(f"metricdsl {what}: cannot read {output}: {error}", file=sys.stderr)
            return FOUND
        if current != text:
            print(
                f"metricdsl {what}: {output} is out of date; regenerate it",
                file=sys.stderr,
            )
            return FOUND
        return OK
    try:
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
    except OSError as error:
        print(f"metricdsl {what}: cannot write {output}: {error}", file=sys.stderr)
        return FOUND
    return OK


# -- check --------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    show = _github if args.format == "github" else str
    definitions = _load(args.files, sys.stdout, show)
    if definitions is None:
        return FOUND
    types = sum(1 for t in definitions.types.values() if t.location is not None)
    overrides = len(definitions.overrides)
    print(
        f"ok: {_count(len(definitions.metrics), 'metric')}, "
        f"{_count(types, 'type')}, {_count(overrides, 'override')} "
        f"in {_count(len(args.files), 'file')}"
    )
    return OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _github(problem: Problem) -> str:
    """A GitHub Actions error annotation (workflow command) for a problem."""

    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    return (
        f"::error file={prop(problem.path)},line={problem.line},"
        f"col={problem.column},title={prop('metricdsl check')}::"
        f"{data(problem.message)}"
    )


# -- stubs and docs -------------------------------------------------------------------


def _stubs(args: argparse.Namespace) -> int:
    import keyword

    from ._stubs import MODULE_NAMES, render_stub

    variable = args.variable
    if not variable.isidentifier() or keyword.iskeyword(variable):
        print(
            f"metricdsl stubs: --variable must be an identifier; got {variable!r}",
            file=sys.stderr,
        )
        return USAGE
    if variable in MODULE_NAMES:
        print(
            f"metricdsl stubs: --variable {variable!r} is a name the stub itself "
            "imports or defines; choose another",
            file=sys.stderr,
        )
        return USAGE
    if not args.output.endswith(".pyi"):
        print(
            f"metricdsl stubs: --output must name a .pyi file; got {args.output!r}",
            file=sys.stderr,
        )
        return USAGE
    definitions = _load(args.files, sys.stderr)
    if definitions is None:
        return FOUND
    command = ["metricdsl", "stubs", *args.files, "--output", args.output]
    if variable != "telemetry":
        command += ["--variable", variable]
    text = render_stub(definitions, variable=variable, command=command)
    return _emit(text, args.output, check=args.check, what="stubs")


def _docs(args: argparse.Namespace) -> int:
    if args.check and args.output in (None, "-"):
        print("metricdsl docs: --check needs --output FILE", file=sys.stderr)
        return USAGE
    definitions = _load(args.files, sys.stderr)
    if definitions is None:
        return FOUND
    from ._docs import render_docs

    command = ["metricdsl", "docs", *args.files]
    if args.output:
        command += ["--output", args.output]
    text = render_docs(definitions, command=command)
    return _emit(text, args.output, check=args.check, what="docs")


# -- diff -----------------------------------------------------------------------------


def _diff(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.sets and (args.old or args.new):
        parser.error("give either OLD NEW or --old/--new, not both")
    if args.sets:
        if len(args.sets) != 2:
            parser.error(f"expected two files, OLD and NEW; got {len(args.sets)}")
        old_files, new_files = [args.sets[0]], [args.sets[1]]
    else:
        if not args.old or not args.new:
            parser.error("expected OLD NEW, or at least one --old and one --new")
        old_files, new_files = args.old, args.new
    old = _load(old_files, sys.stderr)
    new = _load(new_files, sys.stderr)
    if old is None or new is None:
        return USAGE
    from ._diff import compare, render_text

    changes = compare(old, new)
    if args.format == "json":
        print(json.dumps(changes.as_json(), indent=2))
    else:
        sys.stdout.write(render_text(changes))
    return FOUND if changes.breaking else OK


# -- report -------------------------------------------------------------------------


def _report(args: argparse.Namespace) -> int:
    from ._report import Summary, render_json, render_table

    summary = Summary()
    for name in args.files:
        try:
            if name == "-":
                summary.read(sys.stdin.buffer, "<stdin>", sys.stderr)
            else:
                with open(name, "rb") as stream:
                    summary.read(stream, name, sys.stderr)
        except OSError as error:
            print(f"metricdsl report: cannot read {name}: {error}", file=sys.stderr)
            return FOUND
    if args.format == "json":
        print(json.dumps(render_json(summary, top=args.top), indent=2))
    else:
        sys.stdout.write(render_table(summary, top=args.top))
    return OK


# -- schema ---------------------------------------------------------------------------


def _schema(args: argparse.Namespace) -> int:
    path = Path(__file__).with_name("definitions.schema.json")
    if args.path:
        print(path)
        return OK
    text = path.read_text(encoding="utf-8")
    return _emit(text, args.output, check=False, what="schema")
