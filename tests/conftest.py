"""Shared fixtures: a fresh metricdsl state for every test, and the paths of
the test data (the real AWS definitions live beside the checkout)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metricdsl import _pipeline

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
AWS = ROOT.parent / "shared" / "data" / "aws-toolkit"
DEFAULT_DEFINITIONS = ROOT / "definitions.yaml"


@pytest.fixture(autouse=True)
def fresh_metricdsl() -> Iterator[None]:
    """Settings, counters and warnings as in a new process, before and after."""
    _pipeline.reset()
    yield
    _pipeline.reset()


@pytest.fixture
def aws() -> Path:
    """The folder of real AWS Toolkit definition files; skips when absent."""
    if not AWS.is_dir():
        pytest.skip(f"the real AWS Toolkit definitions are not at {AWS}")
    return AWS


TEST_DEFINITIONS = """\
types:
  - name: component
    allowedValues: [editor, viewer]
    description: Which part of the UI.
  - name: count
    type: int
    description: A count.
  - name: ratio
    type: double
    description: A ratio.
  - name: flag
    type: boolean
    description: A flag.
  - name: label
    description: Free text.
  - name: level
    type: int
    allowedValues: [1, 2, 3]
    description: A level.
  - name: secret
    sensitive: true
    description: A credential.
metrics:
  - name: test_outer
    description: The outer operation.
    unit: Milliseconds
    metadata:
      - {type: component, required: false}
      - {type: count, required: false}
      - {type: ratio, required: false}
      - {type: flag, required: false}
      - {type: label, required: false}
      - {type: level, required: false}
      - {type: secret, required: false}
  - name: test_inner
    description: An inner step.
    metadata:
      - {type: label, required: false}
      - {type: count, required: false}
  - name: test_required
    description: Needs a component.
    unit: Count
    passive: true
    metadata:
      - type: component
      - {type: label, required: false}
"""


@pytest.fixture
def telemetry(tmp_path: Path) -> Any:
    """The metrics of TEST_DEFINITIONS (test_outer, test_inner, test_required)."""
    import metricdsl

    path = tmp_path / "definitions.yaml"
    path.write_text(TEST_DEFINITIONS)
    return metricdsl.load(path)


@pytest.fixture
def captured() -> Iterator[Any]:
    """A metricdsl.testing.Captured active for the test."""
    from metricdsl.testing import capture

    with capture() as events:
        yield events
