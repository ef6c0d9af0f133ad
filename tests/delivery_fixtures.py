"""Fixtures of the delivery tests, loaded with
``pytest_plugins = ("tests.delivery_fixtures",)``: ``receiver`` (a local
server that accepts everything) and ``sending`` (the environment of a machine
that sends: no ``CI``, no client id or OTLP encoding chosen)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metricdsl._config import LOCK, STATE
from tests.receiver import Receiver


@pytest.fixture
def sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send, whatever the CI running the tests says (CI suppression has its own
    tests), and in the protocols' default encodings."""
    for name in (
        "CI",
        "METRICDSL_SEND_IN_CI",
        "METRICDSL_CLIENT_ID",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ):
        monkeypatch.delenv(name, raising=False)
    with LOCK:
        STATE.resolve()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server
