"""The ``metricdsl`` command line (also ``python -m metricdsl``).

Not imported by ``import metricdsl``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _check(args: argparse.Namespace) -> int:
    from ._definitions import load_definitions
    from ._errors import DefinitionError

    try:
        definitions = load_definitions(args.files)
    except DefinitionError as error:
        for problem in error.problems:
            print(problem, file=sys.stdout)
        return 1
    print(
        f"ok: {len(definitions.metrics)} metrics, {len(definitions.types)} types, "
        f"{len(definitions.overrides)} overrides"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metricdsl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="validate definitions files as load() would"
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    return int(args.run(args))
