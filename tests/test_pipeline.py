"""configure(), the processor chain, sinks, stats(), flush() and shutdown()."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import structlog

import metricdsl
from metricdsl import ConfigurationError
from metricdsl._config import STATE

from .support import clean_env, run_python


class Collect:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.flushed = 0
        self.closed = 0

    def write(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def flush(self, timeout: float) -> bool:
        self.flushed += 1
        return True


class TestConfigure:
    def test_only_the_settings_given_change(self) -> None:
        metricdsl.configure(validation="off", batch_size=7)
        metricdsl.configure(timeout=3)
        settings = STATE.settings
        assert (settings.validation, settings.batch_size) == ("off", 7)
        assert settings.timeout == 3.0
        metricdsl.configure(validation=None, batch_size=None)
        assert (STATE.settings.validation, STATE.settings.batch_size) == ("off", 7)

    def test_empty_strings_turn_the_endpoint_and_outbox_off(
        self, tmp_path: Path
    ) -> None:
        metricdsl.configure(outbox=tmp_path / "outbox.db")
        assert STATE.settings.outbox == str(tmp_path / "outbox.db")
        metricdsl.configure(outbox="", endpoint="")
        assert (STATE.settings.outbox, STATE.settings.endpoint) == ("", "")

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"validation": "loud"}, "configure(validation=...) expects one of"),
            ({"sinks": ["file:x"]}, "expects 'log', 'null', 'jsonl:PATH'"),
            ({"sinks": [object()]}, "objects with a write(event) method"),
            ({"processors": [42]}, "structlog processors"),
            ({"endpoint": "ftp://x"}, "an http:// or https:// URL"),
            ({"protocol": "grpc"}, "'json' or 'otlp'"),
            ({"batch_size": 0}, "a positive number; got 0"),
            ({"max_queue": 1.5}, "a positive number; got 1.5"),
            ({"timeout": True}, "a positive number; got True"),
            ({"flush_interval": -1}, "a positive number; got -1"),
            ({"cancellation": [ValueError, "x"]}, "exception classes; got 'x'"),
            ({"sinks": "log"}, "expects a list of sinks; got 'log'"),
            ({"processors": 5}, "expects a list of processors; got 5"),
            ({"cancellation": ValueError}, "a list of exception classes; got <class"),
            ({"headers": ["a"]}, "a mapping of header names to values; got ['a']"),
            ({"outbox": 5}, "expects a path, or ''; got 5"),
        ],
    )
    def test_an_unusable_value_raises_and_changes_nothing(
        self, settings: dict[str, Any], message: str
    ) -> None:
        before = STATE.settings
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            metricdsl.configure(enabled=False, **settings)
        assert STATE.settings is before
        assert isinstance(ConfigurationError("x"), ValueError)

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Bearer s3cr3t\n"},
            {"Authorization": "Bearer s3cr3t\u20ac"},
            {"Bad Name": "x"},
        ],
    )
    def test_headers_http_cannot_carry_are_refused_without_showing_the_value(
        self, headers: dict[str, str]
    ) -> None:
        with pytest.raises(ConfigurationError) as caught:
            metricdsl.configure(headers=headers)
        assert "s3cr3t" not in str(caught.value)
        assert "headers" in str(caught.value)

    def test_an_unknown_setting_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            metricdsl.configure(colour="blue")  # type: ignore[call-arg]

    def test_metricdsl_never_configures_structlog(self, telemetry: Any) -> None:
        structlog.reset_defaults()
        metricdsl.configure(validation="warn", sinks=["log"])
        telemetry.test_outer.emit(count="bad")  # a warning through structlog
        with telemetry.test_outer.span():
            pass
        assert structlog.is_configured() is False


class TestProcessors:
    def test_every_event_passes_the_chain_in_order(
        self, telemetry: Any, captured: Any
    ) -> None:
        calls: list[str] = []

        def first(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
            calls.append("first")
            event["stage"] = "first"
            return event

        def second(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
            calls.append(f"second saw {event['stage']}")
            event["region"] = "eu-west-1"
            return event

        sink = Collect()
        metricdsl.configure(processors=[first, second], sinks=[sink])
        telemetry.test_outer.emit()
        assert calls == ["first", "second saw first"]
        assert sink.events[0]["region"] == "eu-west-1"
        assert captured.events[0]["region"] == "eu-west-1"  # captures see it too

    def test_structlog_processors_work_unchanged(
        self, telemetry: Any, captured: Any
    ) -> None:
        metricdsl.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", key="loggedAt"),
            ]
        )
        telemetry.test_outer.emit()
        event = captured.events[0]
        assert event["level"] == "info"
        assert event["loggedAt"].startswith("20")

    def test_drop_event_filters_an_event_and_counts_it(
        self, telemetry: Any, captured: Any
    ) -> None:
        def only_outer(logger: Any, method: str, event: dict[str, Any]) -> Any:
            if event["metricName"] != "test_outer":
                raise structlog.DropEvent
            return event

        metricdsl.configure(processors=[only_outer], sinks=["null"])
        telemetry.test_outer.emit()
        telemetry.test_inner.emit()
        assert [e["metricName"] for e in captured.events] == ["test_outer"]
        assert metricdsl.stats()["dropped"]["filtered"] == 1

    def test_a_failing_processor_is_counted_in_warn_mode(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def broken(logger: Any, method: str, event: dict[str, Any]) -> Any:
            raise RuntimeError("processor bug")

        def not_a_dict(logger: Any, method: str, event: dict[str, Any]) -> Any:
            return "a string"

        sink = Collect()
        metricdsl.configure(validation="warn", processors=[broken], sinks=[sink])
        telemetry.test_outer.emit()
        metricdsl.configure(processors=[not_a_dict])
        telemetry.test_outer.emit()
        assert sink.events == []
        assert metricdsl.stats()["dropped"]["processor_error"] == 2
        err = capsys.readouterr().err
        assert "processor bug" in err
        assert "not a dict" in err

    def test_a_failing_processor_raises_in_strict_mode(
        self, telemetry: Any, captured: Any
    ) -> None:
        def broken(logger: Any, method: str, event: dict[str, Any]) -> Any:
            raise RuntimeError("processor bug")

        metricdsl.configure(processors=[broken])
        with pytest.raises(RuntimeError, match="processor bug"):
            telemetry.test_outer.emit()


class TestSinks:
    def test_a_sink_object_receives_every_event(self, telemetry: Any) -> None:
        sink = Collect()
        metricdsl.configure(sinks=[sink])
        telemetry.test_outer.emit(count=1)
        with telemetry.test_inner.span():
            pass
        assert [e["metricName"] for e in sink.events] == ["test_outer", "test_inner"]
        assert isinstance(sink, metricdsl.Sink)

    def test_a_failing_sink_is_counted_and_the_others_still_get_the_event(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        class Broken:
            def write(self, event: dict[str, Any]) -> None:
                raise OSError("disk full")

        good = Collect()
        metricdsl.configure(sinks=[Broken(), good])
        telemetry.test_outer.emit()
        assert len(good.events) == 1
        assert metricdsl.stats()["dropped"]["sink_error"] == 1
        assert "disk full" in capsys.readouterr().err

    def test_replacing_the_sinks_flushes_the_old_ones(self, telemetry: Any) -> None:
        old = Collect()
        metricdsl.configure(sinks=[old])
        telemetry.test_outer.emit()
        metricdsl.configure(sinks=["null"])
        telemetry.test_outer.emit()
        assert old.flushed == 1
        assert len(old.events) == 1

    def test_a_failing_sink_that_cannot_be_shown_is_still_counted(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        class Broken:
            def write(self, event: dict[str, Any]) -> None:
                raise OSError("disk full")

            def __repr__(self) -> str:
                raise RuntimeError("cannot repr")

        metricdsl.configure(validation="warn", sinks=[Broken()])
        telemetry.test_outer.emit()
        assert metricdsl.stats()["dropped"]["sink_error"] == 1
        assert "disk full" in capsys.readouterr().err

    def test_no_network_traffic_happens_without_an_endpoint(self) -> None:
        """Every socket connection in the process is recorded: none is made,
        and the sender is not even imported."""
        done = _run(
            "import socket, sys\n"
            "connections = []\n"
            "real = socket.socket.connect\n"
            "def connect(sock, address):\n"
            "    connections.append(address)\n"
            "    return real(sock, address)\n"
            "socket.socket.connect = connect\n"
            "socket.socket.connect_ex = connect\n"
            "import metricdsl\n"
            "t = metricdsl.telemetry\n"
            "@t.metric_setupThing.run(component='editor')\n"
            "def work():\n"
            "    t.metric_setupThing.emit(component='viewer')\n"
            "work()\n"
            "metricdsl.flush()\n"
            "metricdsl.shutdown()\n"
            "print(connections, 'metricdsl._sender' in sys.modules)\n",
        )
        assert done.stdout.strip() == "[] False"
        assert done.stderr.count("metric_setupThing") == 2

    def test_metricdsl_sinks_names_the_sinks(self, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        done = _run(
            "import metricdsl\n"
            "t = metricdsl.telemetry\n"
            "t.metric_setupThing.emit(component='viewer')\n",
            METRICDSL_SINKS=f"jsonl:{path}, nonsense",
        )
        assert json.loads(path.read_text())["component"] == "viewer"
        assert "metricdsl.setting_ignored" in done.stderr
        assert "nonsense" in done.stderr

    def test_the_default_sink_logs_to_stderr_never_stdout(self) -> None:
        done = _run(
            "import metricdsl\n"
            "metricdsl.telemetry.metric_setupThing.emit(component='editor')\n"
        )
        assert done.stdout == ""
        assert json.loads(done.stderr)["metricName"] == "metric_setupThing"


class TestStats:
    def test_stats_has_every_counter(self, telemetry: Any) -> None:
        metricdsl.configure(sinks=["null"])
        for _ in range(3):
            telemetry.test_outer.emit()
        stats = metricdsl.stats()
        assert stats == {
            "emitted": 3,
            "sent": 0,
            "retried": 0,
            "queued": 0,
            "outbox_pending": 0,
            "invalid": 0,
            "dropped": {"queue_full": 0, "rejected": 0, "outbox_full": 0},
        }
        assert metricdsl.stats()["emitted"] == 3  # reading does not count

    def test_emitted_is_exact_across_threads(self, telemetry: Any) -> None:
        metricdsl.configure(sinks=["null"])

        def work() -> None:
            for _ in range(500):
                telemetry.test_outer.emit()

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert metricdsl.stats()["emitted"] == 4000

    def test_a_sink_whose_figures_are_broken_does_not_break_stats(
        self, telemetry: Any
    ) -> None:
        class Odd(Collect):
            def stats(self) -> dict[str, Any]:
                return {"sent": "many", "dropped": None}

        class Good(Collect):
            def stats(self) -> dict[str, Any]:
                return {"sent": 2}

        metricdsl.configure(sinks=[Odd(), Good()])
        telemetry.test_outer.emit()
        stats = metricdsl.stats()
        assert (stats["emitted"], stats["sent"]) == (1, 2)

    def test_a_sinks_own_figures_are_added(self, telemetry: Any) -> None:
        class Counting(Collect):
            def stats(self) -> dict[str, Any]:
                return {"sent": len(self.events), "dropped": {"rejected": 2, "ci": 1}}

        metricdsl.configure(sinks=[Counting()])
        telemetry.test_outer.emit()
        stats = metricdsl.stats()
        assert stats["sent"] == 1
        assert stats["dropped"]["rejected"] == 2
        assert stats["dropped"]["ci"] == 1


class TestFlushAndShutdown:
    def test_flush_asks_every_sink_and_reports_success(self, telemetry: Any) -> None:
        sink = Collect()
        metricdsl.configure(sinks=[sink])
        telemetry.test_outer.emit()
        assert metricdsl.flush(timeout=1) is True
        assert sink.flushed == 1

    def test_flush_reports_a_sink_that_could_not_deliver(self, telemetry: Any) -> None:
        class Stuck(Collect):
            def flush(self, timeout: float) -> bool:
                return False

        metricdsl.configure(sinks=[Stuck()])
        telemetry.test_outer.emit()
        assert metricdsl.flush(timeout=0.1) is False

    def test_a_sink_whose_flush_raises_is_reported_not_raised(
        self, telemetry: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        class Failing(Collect):
            def flush(self, timeout: float) -> bool:
                raise OSError("flush broke")

        good = Collect()
        metricdsl.configure(sinks=[Failing(), good])
        telemetry.test_outer.emit()
        assert metricdsl.flush(timeout=1) is False
        assert good.flushed == 1
        assert "flush broke" in capsys.readouterr().err

    def test_after_shutdown_events_still_reach_fresh_sinks(
        self, telemetry: Any, tmp_path: Path
    ) -> None:
        path = tmp_path / "events.jsonl"
        metricdsl.configure(sinks=[f"jsonl:{path}"])
        telemetry.test_outer.emit(count=1)
        assert metricdsl.shutdown(timeout=1) is True
        telemetry.test_outer.emit(count=2)
        metricdsl.flush()
        counts = [json.loads(line)["count"] for line in path.read_text().splitlines()]
        assert counts == [1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_is_not_stuck_on_a_lock_another_thread_held() -> None:
    """fork() copies a lock held by another thread as held, and that thread
    does not exist in the child: metricdsl's locks must be usable there."""
    done = _run(
        "import os, threading, time\n"
        "import metricdsl\n"
        "from metricdsl import _selflog\n"
        "from metricdsl._config import LOCK\n"
        "metricdsl.configure(sinks=['null'], validation='warn')\n"
        "holding = threading.Event()\n"
        "def hold():\n"
        "    with LOCK, _selflog._lock:\n"
        "        holding.set()\n"
        "        time.sleep(0.3)\n"
        "threading.Thread(target=hold).start()\n"
        "holding.wait()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    metricdsl.stats()\n"
        "    _selflog.warn_limited('metricdsl.child_spoke')\n"
        "    os._exit(0)\n"
        "deadline = time.monotonic() + 20\n"
        "while time.monotonic() < deadline:\n"
        "    if os.waitpid(pid, os.WNOHANG) != (0, 0):\n"
        "        print('child done')\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "else:\n"
        "    os.kill(pid, 9)\n"
        "    print('child stuck')\n",
    )
    assert done.stdout.strip() == "child done"
    assert "metricdsl.child_spoke" in done.stderr


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python("-c", code, env=clean_env(**env))
