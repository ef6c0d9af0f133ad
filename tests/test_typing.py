"""The static types: a typed sample passes mypy --strict; its misuses are reported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

SAMPLE = Path(__file__).parent / "typing" / "sample.py"
IGNORE = re.compile(r"  # type: ignore\[([a-z-]+)\]$")


def test_the_typed_sample_passes_and_every_misuse_is_reported(tmp_path: Path) -> None:
    lines = SAMPLE.read_text().splitlines()
    misuses = {
        n + 1: m.group(1) for n, line in enumerate(lines) if (m := IGNORE.search(line))
    }
    assert len(misuses) >= 8
    bare = tmp_path / "sample_without_ignores.py"
    bare.write_text("\n".join(IGNORE.sub("", line) for line in lines) + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version",
            "3.11",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(SAMPLE),
            str(bare),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    in_sample = [e for e in errors if "sample_without_ignores" not in e]
    assert in_sample == [], done.stdout
    reported = {}
    for error in errors:
        match = re.match(r".*:(\d+): error: .*\[([a-z-]+)\]$", error)
        assert match, error
        reported[int(match.group(1))] = match.group(2)
    assert reported == misuses, done.stdout
