"""Helpers for tests: a sink that keeps events, and Python in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import ROOT


class Collect:
    """A sink that keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without metricdsl's, pytest's and CI's variables (so
    a child process sees production defaults), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METRICDSL", "PYTEST")) and k not in ("CI", "DO_NOT_TRACK")
    }
    env.update(extra)
    return env


def run_python(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python ARGS...`` in a fresh process; fails the test on a non-zero exit
    unless ``check`` is false."""
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=clean_env() if env is None else env,
        cwd=cwd,
        check=False,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done
