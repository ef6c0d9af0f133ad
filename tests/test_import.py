"""`import metricdsl` is light: no heavy modules, no CLI, no thread."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys, threading
before = set(sys.modules)
import metricdsl
after = set(sys.modules) - before
print(json.dumps({"modules": sorted(after), "threads": threading.active_count()}))
"""


def test_importing_metricdsl_imports_nothing_heavy_and_starts_no_thread() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    loaded = set(report["modules"])
    for heavy in (
        "yaml",
        "structlog",
        "wrapt",
        "tenacity",
        "metricdsl.cli",
        "asyncio",
        "urllib3",
        "sqlite3",
    ):
        assert heavy not in loaded, f"import metricdsl imported {heavy}"
    assert report["threads"] == 1


def test_names_resolve_on_first_use() -> None:
    import metricdsl

    for name in metricdsl.__all__:
        assert getattr(metricdsl, name) is not None
    assert sorted(metricdsl.__all__) == metricdsl.__all__
    assert set(metricdsl.__all__) <= set(dir(metricdsl))
    with pytest.raises(AttributeError, match="nothing_here"):
        _ = metricdsl.nothing_here  # type: ignore[attr-defined]
