"""Shared fixtures: a fresh metricdsl state for every test, and the paths of
the test data (the real AWS definitions live beside the checkout)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
