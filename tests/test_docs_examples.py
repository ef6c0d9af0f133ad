"""The README's examples and `make demo`'s program run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METRICDSL", "PYTEST")) and k != "CI"
    }
    env.update(extra)
    return env


def test_the_readme_python_examples_run_in_order() -> None:
    """All ```python blocks of README.md, run one after the other in one
    process from the repository root (so ``definitions.yaml`` is found)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) >= 2
    program = "\n".join(blocks)
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_clean_env(METRICDSL_SINKS="null"),
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_the_demo_shows_the_scenario(tmp_path: Path) -> None:
    out = tmp_path / "demo-events.jsonl"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(METRICDSL_DEMO_OUT=str(out)),
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    things = [e for e in events if e["metricName"] == "metric_setupThing"]
    assert [t["result"] for t in things] == ["Succeeded", "Failed"]
    failed = things[1]
    assert failed["reason"] == "templateMissing"
    steps = [e for e in events if e.get("parentId") == failed["metricId"]]
    assert [s["step"] for s in steps] == ["resolveConfig", "downloadTemplate"]
    assert steps[1]["reason"] == "TemplateNotFound"
    assert "s3cr3t" not in out.read_text()
    # the console shows the events as they happen and the tree at the end
    assert done.stderr.count("metric_setupStep") >= 5
    assert "    metric_setupStep" in done.stdout
    assert "reason=templateMissing" in done.stdout
