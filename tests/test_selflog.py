"""metricdsl's own warnings: structured, on stderr, said once or rate-limited."""

from __future__ import annotations

import io
import json
import sys

import pytest

from metricdsl import _selflog


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _events(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines()]


class TestWarnOnce:
    def test_a_key_is_said_once(self, capsys: pytest.CaptureFixture[str]) -> None:
        for _ in range(3):
            _selflog.warn_once(("a", 1), "metricdsl.thing_happened", detail="x")
        _selflog.warn_once(("a", 2), "metricdsl.thing_happened", detail="y")
        events = _events(capsys.readouterr().err)
        assert [e["detail"] for e in events] == ["x", "y"]
        assert events[0]["event"] == "metricdsl.thing_happened"
        assert events[0]["level"] == "warning"
        assert str(events[0]["timestamp"]).endswith("Z")
        assert _selflog.said(("a", 1)) is True
        assert _selflog.said(("a", 3)) is False


class TestWarnLimited:
    def test_at_most_five_a_minute_then_the_count_held_back(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = [1000.0]
        monkeypatch.setattr(_selflog, "clock", lambda: now[0])
        for n in range(12):
            _selflog.warn_limited("metricdsl.batch_dropped", n=n)
        now[0] += 61
        _selflog.warn_limited("metricdsl.batch_dropped", n=12)
        _selflog.warn_limited("metricdsl.other_thing", n=0)
        events = _events(capsys.readouterr().err)
        assert [e["n"] for e in events] == [0, 1, 2, 3, 4, 12, 0]
        assert events[5]["suppressed"] == 7
        assert "suppressed" not in events[6]


class TestOutput:
    def test_on_a_terminal_warnings_are_readable_lines(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        _selflog.reset()
        _selflog.warn_once("k", "metricdsl.field_invalid", field="count")
        line = terminal.getvalue()
        assert "metricdsl.field_invalid" in line
        assert "field" in line
        assert not line.startswith("{")

    def test_a_missing_or_broken_stderr_is_not_an_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sys, "stderr", None)
        _selflog.warn_once("k1", "metricdsl.a_b")
        closed = io.StringIO()
        closed.close()
        monkeypatch.setattr(sys, "stderr", closed)
        _selflog.warn_once("k2", "metricdsl.a_b")
