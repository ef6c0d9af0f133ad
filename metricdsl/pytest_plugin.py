"""pytest plugin (registered through the ``pytest11`` entry point): the
``captured_metrics`` fixture, a ``metricdsl.testing.Captured`` active for one test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import Captured


@pytest.fixture
def captured_metrics() -> Iterator[Captured]:
    """Every event the test emits, with strict validation while it runs."""
    from .testing import capture

    with capture() as captured:
        yield captured
