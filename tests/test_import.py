"""`import metricdsl` is light: no heavy modules, no CLI, no thread."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .support import clean_env, run_python

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


RACE = """
import threading
import metricdsl
barrier = threading.Barrier(16)
seen = []
def first_use():
    barrier.wait()
    seen.append(metricdsl.telemetry)
threads = [threading.Thread(target=first_use) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len({id(t) for t in seen}), seen[0] is metricdsl.telemetry)
"""


def test_threads_racing_to_the_default_telemetry_all_get_the_same_one() -> None:
    """Spans are matched to metrics by identity: two Telemetry objects would
    make record() through one miss the spans of the other."""
    done = run_python("-c", RACE, env=clean_env(METRICDSL_SINKS="null"))
    assert done.stdout.split() == ["1", "True"]
