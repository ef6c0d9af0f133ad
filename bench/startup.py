"""One-off costs: loading a definitions file, and importing the package.

- ``metricdsl.load(commonDefinitions.json)`` against a bare
  ``yaml.load(text, Loader=yaml.CSafeLoader)`` of the same text (the file read
  beforehand), alternating call by call;
- ``python -c "import metricdsl"`` against ``python -c "import structlog"``
  (and ``python -c pass``, the interpreter's own start-up), fresh processes,
  wall time, interleaved, rotating the order each round.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Timed", "time_imports", "time_load"]


@dataclass
class Timed:
    """Wall times of one contender, in ns."""

    label: str
    times: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def minimum(self) -> float:
        return min(self.times)


def _interleave(
    contenders: list[tuple[Timed, Callable[[], object]]], rounds: int
) -> None:
    for index in range(rounds):
        shift = index % len(contenders)
        for timed, action in contenders[shift:] + contenders[:shift]:
            gc.collect()
            start = time.perf_counter_ns()
            action()
            timed.times.append(time.perf_counter_ns() - start)


def time_load(path: str, rounds: int) -> tuple[Timed, Timed, str]:
    """(metricdsl.load, bare PyYAML C-loader parse, a note)."""
    import yaml

    import metricdsl

    with open(path, encoding="utf-8-sig") as stream:
        text = stream.read()
    loader = getattr(yaml, "CSafeLoader", None)
    note = "PyYAML with libyaml (CSafeLoader)"
    if loader is None:
        loader, note = (
            yaml.SafeLoader,
            "PyYAML WITHOUT libyaml: SafeLoader (pure Python)",
        )
    telemetry = metricdsl.load(path)  # also warms up imports and caches
    yaml.load(text, Loader=loader)
    note += f"; {len(telemetry.metrics)} metrics, {len(telemetry.types)} types"
    ours = Timed("`metricdsl.load(commonDefinitions.json)`")
    bare = Timed("bare `yaml.load(text, Loader=yaml.CSafeLoader)`")
    _interleave(
        [
            (ours, lambda: metricdsl.load(path)),
            (bare, lambda: yaml.load(text, Loader=loader)),
        ],
        rounds,
    )
    return ours, bare, note


def time_imports(rounds: int) -> list[Timed]:
    """Fresh interpreters: ``pass``, ``import metricdsl``, ``import structlog``,
    and the first use of metricdsl (its default definitions loaded)."""
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # Both packages from cached bytecode, as pip leaves an installed wheel: the
    # warm-up run writes metricdsl's (an editable install has none otherwise).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    contenders = []
    with tempfile.TemporaryDirectory() as neutral:  # no package in the cwd
        for label, code in (
            ('`python -c "pass"` (interpreter start-up)', "pass"),
            ('`python -c "import metricdsl"`', "import metricdsl"),
            ('`python -c "import structlog"`', "import structlog"),
            (
                '`python -c "import metricdsl; metricdsl.telemetry"` (first use)',
                "import metricdsl; metricdsl.telemetry",
            ),
        ):
            argv = [sys.executable, "-c", code]
            subprocess.run(argv, check=True, cwd=neutral, env=env)  # warm the cache

            def action(argv: list[str] = argv) -> None:
                subprocess.run(argv, check=True, cwd=neutral, env=env)

            contenders.append((Timed(label), action))
        _interleave(contenders, rounds)
    return [timed for timed, _ in contenders]
