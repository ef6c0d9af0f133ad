"""The local sinks: log (stderr), jsonl:PATH and null."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import metricdsl
from metricdsl._sinks import JsonlSink, LogSink, dumps

from .conftest import TEST_DEFINITIONS
from .support import run_python


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class TestLogSink:
    def test_off_a_terminal_each_event_is_one_json_line_on_stderr(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        metricdsl.configure(sinks=["log"])
        telemetry.test_outer.emit(component="editor")
        with telemetry.test_inner.span():
            pass
        out, err = capsys.readouterr()
        assert out == ""
        lines = [json.loads(line) for line in err.splitlines()]
        assert [e["metricName"] for e in lines] == ["test_outer", "test_inner"]
        assert lines[0]["component"] == "editor"

    def test_on_a_terminal_each_event_is_a_coloured_readable_line(
        self, telemetry: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        metricdsl.configure(sinks=["log"])
        with pytest.raises(ValueError), telemetry.test_outer.span(component="editor"):
            raise ValueError("nope")
        with telemetry.test_inner.span(label="fine"):
            pass
        failed, succeeded = terminal.getvalue().splitlines()
        assert "\x1b[" in failed  # ANSI colours
        plain = _strip_ansi(failed)
        assert "test_outer" in plain
        assert "result=Failed" in plain
        assert "reason=ValueError" in plain
        assert "component=editor" in plain
        assert "ms" in plain
        assert "error" in plain  # a failure shows at error level
        assert "result=Succeeded" in _strip_ansi(succeeded)
        assert "label=fine" in _strip_ansi(succeeded)

    def test_the_log_sink_follows_a_replaced_stderr(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sink = LogSink()
        first, second = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        sink.write({"metricName": "a_b"})
        monkeypatch.setattr(sys, "stderr", second)
        sink.write({"metricName": "c_d"})
        assert sink.flush(1.0) is True
        assert "a_b" in first.getvalue()
        assert "c_d" in second.getvalue()
        assert repr(sink) == "LogSink()"


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class TestJsonlSink:
    def test_events_are_appended_one_json_object_per_line(
        self, telemetry: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "deep" / "er" / "events.jsonl"
        metricdsl.configure(sinks=[f"jsonl:{path}"])
        for n in range(600):  # more than one batch
            telemetry.test_outer.emit(count=n)
        assert metricdsl.flush() is True
        events = [json.loads(line) for line in path.read_text().splitlines()]
        assert [e["count"] for e in events] == list(range(600))
        telemetry.test_outer.emit(count=600)
        metricdsl.flush()
        assert len(path.read_text().splitlines()) == 601

    def test_the_file_is_readable_only_by_its_owner(
        self, telemetry: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "events.jsonl"
        metricdsl.configure(sinks=[f"jsonl:{path}"])
        telemetry.test_outer.emit()
        metricdsl.flush()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_lines_are_written_at_exit_without_a_flush(self, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        _run_program(
            tmp_path,
            f"""
            metricdsl.configure(sinks=["jsonl:{path}"])
            for n in range(10):
                t.test_outer.emit(count=n)
            """,
        )
        assert len(path.read_text().splitlines()) == 10

    def test_lines_are_written_within_a_second_without_a_flush(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "events.jsonl"
        _run_program(
            tmp_path,
            f"""
            import os, time
            metricdsl.configure(sinks=["jsonl:{path}"])
            t.test_outer.emit(count=1)
            deadline = time.monotonic() + 30
            while not os.path.getsize("{path}") if os.path.exists("{path}") else True:
                assert time.monotonic() < deadline, "never written"
                time.sleep(0.05)
            os._exit(0)  # no exit hook: the background writer did it
            """,
        )
        assert len(path.read_text().splitlines()) == 1

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_does_not_write_its_parents_lines_again(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "events.jsonl"
        _run_program(
            tmp_path,
            f"""
            import os
            metricdsl.configure(sinks=["jsonl:{path}"])
            t.test_outer.emit(label="parent-before")
            pid = os.fork()
            if pid == 0:
                t.test_outer.emit(label="child")
                metricdsl.flush()
                os._exit(0)
            os.waitpid(pid, 0)
            t.test_outer.emit(label="parent-after")
            """,
        )
        labels = sorted(json.loads(x)["label"] for x in path.read_text().splitlines())
        assert labels == ["child", "parent-after", "parent-before"]

    def test_a_file_that_cannot_be_written_is_counted_not_raised(
        self, telemetry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("")
        metricdsl.configure(sinks=[f"jsonl:{blocker}/events.jsonl"])
        telemetry.test_outer.emit()
        assert metricdsl.flush() is False
        assert metricdsl.stats()["dropped"]["sink_error"] == 1
        assert "metricdsl.sink_failed" in capsys.readouterr().err

    def test_close_writes_what_waits_and_releases_the_file(
        self, tmp_path: Path
    ) -> None:
        sink = JsonlSink(tmp_path / "events.jsonl")
        sink.write({"metricName": "a_b", "n": 1})
        sink.close(1.0)
        sink.close(1.0)
        assert json.loads((tmp_path / "events.jsonl").read_text()) == {
            "metricName": "a_b",
            "n": 1,
        }
        assert "events.jsonl" in repr(sink)


class TestNullSink:
    def test_null_discards_but_events_are_still_counted(self, telemetry: Any) -> None:
        metricdsl.configure(sinks=["null"])
        telemetry.test_outer.emit()
        assert metricdsl.stats()["emitted"] == 1


def test_an_int_past_64_bits_is_written_as_a_json_number(
    telemetry: Any, tmp_path: Path
) -> None:
    """Any int is a valid int value; orjson refuses those past 64 bits."""
    path = tmp_path / "events.jsonl"
    metricdsl.configure(sinks=[f"jsonl:{path}"])
    telemetry.test_outer.emit(count=2**70)
    telemetry.test_outer.emit(count=-(2**64))
    assert metricdsl.flush() is True
    counts = [json.loads(line)["count"] for line in path.read_text().splitlines()]
    assert counts == [2**70, -(2**64)]
    assert json.loads(dumps({"n": 2**70, "s": "é"})) == {"n": 2**70, "s": "é"}


def test_a_signal_handler_that_flushes_during_a_batch_write_returns(
    tmp_path: Path,
) -> None:
    """A handler (SIGTERM: "flush before exit") runs between two bytecodes of
    whatever the main thread does, also inside the sink writing a batch; its
    flush() must return and every event still reach the file."""
    path = tmp_path / "events.jsonl"
    definitions = tmp_path / "defs.yaml"
    definitions.write_text(TEST_DEFINITIONS)
    program = textwrap.dedent(
        f"""
        import signal
        import metricdsl
        t = metricdsl.load({str(definitions)!r})
        metricdsl.configure(sinks=["jsonl:{path}"], validation="off")
        flushed = []
        signal.signal(
            signal.SIGUSR1,
            lambda *_: (t.test_inner.emit(), flushed.append(metricdsl.flush())),
        )

        class Interrupting:
            # rendered while the batch is written: the signal arrives then
            def __str__(self):
                signal.raise_signal(signal.SIGUSR1)
                return "rendered"

        t.test_outer.emit(label=Interrupting())
        for n in range(300):
            t.test_outer.emit(count=n)
        metricdsl.flush()
        print(flushed)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[False]"  # ran inside the write: not all went
    names = [json.loads(x)["metricName"] for x in path.read_text().splitlines()]
    assert (names.count("test_outer"), names.count("test_inner")) == (301, 1)


def test_values_json_lacks_are_rendered_as_strings() -> None:
    from decimal import Decimal

    line = dumps({"metricName": "a_b", "amount": Decimal("1.5"), "items": [1]})
    assert json.loads(line) == {"metricName": "a_b", "amount": "1.5", "items": [1]}


def _run_program(tmp_path: Path, body: str) -> None:
    definitions = tmp_path / "defs.yaml"
    definitions.write_text(TEST_DEFINITIONS)
    program = tmp_path / "program.py"
    program.write_text(
        "import metricdsl\n"
        f"t = metricdsl.load({str(definitions)!r})\n" + textwrap.dedent(body)
    )
    run_python(str(program))


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot str")

    __repr__ = __str__


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "bad",
    [
        {"loop": _circular()},
        {"odd": Unprintable()},
        {"big": 2**70, "odd": Unprintable()},  # past orjson, into json
    ],
    ids=["circular", "str-fails", "str-fails-past-orjson"],
)
def test_an_event_that_cannot_be_rendered_is_counted_and_the_rest_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: dict[str, Any]
) -> None:
    """Off mode lets any object through; one that cannot be rendered at all
    costs its own event, never the batch."""
    sink = JsonlSink(tmp_path / "events.jsonl")
    sink.write({"metricName": "a_b", "n": 1})
    sink.write({"metricName": "bad_one", **bad})
    sink.write({"metricName": "a_b", "n": 2})
    assert sink.write_out() is True
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [1, 2]
    assert metricdsl.stats()["dropped"]["sink_error"] == 1
    assert "metricdsl.event_unrenderable" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_by_multiprocessing_writes_its_lines(tmp_path: Path) -> None:
    """multiprocessing ends its forked children with os._exit (no atexit)."""
    path = tmp_path / "events.jsonl"
    _run_program(
        tmp_path,
        f"""
        import multiprocessing
        metricdsl.configure(sinks=["jsonl:{path}"])

        def child(n):
            for i in range(n):
                t.test_outer.emit(label="child")

        t.test_outer.emit(label="parent")
        context = multiprocessing.get_context("fork")
        process = context.Process(target=child, args=(5,))
        process.start()
        process.join()
        assert process.exitcode == 0
        pool = context.Pool(2)
        pool.map(child, [3, 3])
        pool.close()  # workers finish and exit (terminate() would kill them)
        pool.join()
        """,
    )
    labels = [json.loads(x)["label"] for x in path.read_text().splitlines()]
    assert sorted(labels) == ["child"] * 11 + ["parent"]
