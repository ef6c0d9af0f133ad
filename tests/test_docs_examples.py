"""The README's examples and `make demo`'s program run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import ROOT
from .support import clean_env, run_python


def test_the_readme_python_examples_run_in_order() -> None:
    """All ```python blocks of README.md, run one after the other in one
    process from the repository root (so ``definitions.yaml`` is found)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) >= 2
    program = "\n".join(blocks)
    run_python("-c", program, env=clean_env(METRICDSL_SINKS="null"))


def test_the_demo_shows_the_scenario(tmp_path: Path) -> None:
    out = tmp_path / "demo-events.jsonl"
    done = run_python(
        str(ROOT / "examples" / "demo.py"),
        env=clean_env(METRICDSL_DEMO_OUT=str(out)),
        cwd=tmp_path,
    )
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
