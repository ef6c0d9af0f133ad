"""The outbox: on disk before an event counts as emitted, gone once acknowledged,
replayed by the next process, capped, private, shared safely by processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import metricdsl
from metricdsl._config import STATE, Settings
from metricdsl._outbox import Outbox, OutboxError, owner_token, running
from metricdsl._sender import Sender
from tests.conftest import ROOT
from tests.receiver import (
    OK,
    FakeTime,
    Receiver,
    Request,
    free_port,
    metric_ids,
    status,
)

pytest_plugins = ("tests.delivery_fixtures",)
pytestmark = pytest.mark.usefixtures("sending")


# Emits 2,000 events into an outbox whose backend refuses connections, prints
# their metricIds, then waits to be killed.
EMIT_AND_WAIT = """
import json, sys, time, metricdsl
ids = []
class Keep:
    def write(self, event):
        ids.append(event["metricId"])
metricdsl.configure(
    endpoint=sys.argv[1], outbox=sys.argv[2], sinks=[Keep()], retry_deadline=1
)
metric = metricdsl.telemetry.metric_setupThing
for _ in range(int(sys.argv[3])):
    metric.emit(component="editor")
print(json.dumps(ids), flush=True)
time.sleep(600)
"""

# Configures the outbox, optionally emits, flushes, and reports.
EMIT_AND_FLUSH = """
import json, sys, metricdsl
metricdsl.configure(endpoint=sys.argv[1], outbox=sys.argv[2], sinks=["null"])
metric = metricdsl.telemetry.metric_setupThing
for _ in range(int(sys.argv[3])):
    metric.emit(component="editor")
flushed = metricdsl.flush(30)
print(json.dumps({"flushed": flushed, "stats": metricdsl.stats()}))
"""

# Emits into the outbox and forks; the child emits while the parent emits and
# shuts down (closing its outbox), emits more, then is killed. Prints the
# child's exit status.
FORK_AND_DIE = """
import json, os, signal, sys, metricdsl
metricdsl.configure(
    endpoint=sys.argv[1], outbox=sys.argv[2], sinks=["null"], retry_deadline=1
)
metric = metricdsl.telemetry.metric_setupThing
for _ in range(5):
    metric.emit(component="editor")
ready, go = os.pipe(), os.pipe()
child = os.fork()
if child == 0:
    for _ in range(50):
        metric.emit(component="editor")
    os.write(ready[1], b"1")
    os.read(go[0], 1)
    for _ in range(50):
        metric.emit(component="editor")
    os.kill(os.getpid(), signal.SIGKILL)
os.read(ready[0], 1)
for _ in range(5):
    metric.emit(component="editor")
metricdsl.shutdown(1)
os.write(go[1], b"1")
_, status = os.waitpid(child, 0)
print(json.dumps({"child": os.waitstatus_to_exitcode(status)}))
"""


def python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def finished(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def outbox_sender(url: str, path: Path, fake: FakeTime, **settings: object) -> Sender:
    options: dict[str, object] = {"flush_interval": 0.05, "timeout": 5.0, **settings}
    return Sender(
        Settings(endpoint=url, outbox=str(path), **options),  # type: ignore[arg-type]
        STATE,
        clock=fake.clock,
        sleep=fake.sleep,
    )


class TestCrashes:
    def test_events_of_a_killed_process_are_sent_by_the_next(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        """SIGKILL right after 2,000 emits: the next process delivers all of
        them, each once."""
        path = tmp_path / "outbox.db"
        first = python(
            EMIT_AND_WAIT, f"http://127.0.0.1:{free_port()}", str(path), "2000"
        )
        assert first.stdout is not None
        emitted = json.loads(first.stdout.readline())
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        assert len(set(emitted)) == 2000

        report = finished(python(EMIT_AND_FLUSH, receiver.url, str(path), "0"))

        assert report["flushed"] is True
        assert Counter(metric_ids(receiver.events())) == Counter(emitted)
        assert report["stats"]["outbox_pending"] == 0  # type: ignore[index]

    def test_two_processes_share_an_outbox_and_send_no_row_twice(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        path = str(tmp_path / "outbox.db")
        both = [python(EMIT_AND_FLUSH, receiver.url, path, "400") for _ in range(2)]
        reports = [finished(process) for process in both]
        assert [r["flushed"] for r in reports] == [True, True]
        ids = metric_ids(receiver.events())
        assert len(ids) == 800
        assert len(set(ids)) == 800
        assert len({body["sessionId"] for body in receiver.accepted.values()}) == 2

    def test_a_forked_child_keeps_its_rows_when_the_parent_closes_the_outbox(
        self, tmp_path: Path
    ) -> None:
        """The child's connection must not lean on SQLite state copied from the
        parent: its rows survive the parent closing the file, and its death."""
        path = tmp_path / "outbox.db"
        url = f"http://127.0.0.1:{free_port()}"
        report = finished(python(FORK_AND_DIE, url, str(path)))
        assert report == {"child": -signal.SIGKILL}
        survivor = Outbox(str(path), max_bytes=10**8)
        survivor.adopt()  # both writers are gone
        assert survivor.pending() == 110
        survivor.close()

    def test_a_configured_outbox_is_replayed_without_any_new_event(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        path = str(tmp_path / "outbox.db")
        dead = Outbox(path, max_bytes=10**6)
        dead.owner = "999999999:0"  # a process that cannot exist
        dead.add("old-session", b'{"metricName":"metric_x","metricId":"00aa"}')
        dead.close()
        metricdsl.configure(endpoint=receiver.url, outbox=path, sinks=["null"])
        assert receiver.wait_for(lambda: len(receiver.events()) == 1)
        [body] = receiver.accepted.values()
        assert body["sessionId"] == "old-session"  # sent as the session it was in


class TestSending:
    def test_rows_are_on_disk_once_written_and_leave_once_acknowledged(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        sender = outbox_sender(
            receiver.url, tmp_path / "o.db", FakeTime(), flush_interval=60
        )
        for number in range(5):
            sender.write({"metricName": "metric_x", "metricId": f"{number:016x}"})
        other = Outbox(str(tmp_path / "o.db"), max_bytes=10**6)  # a connection
        assert len(other.take(10, 10**6)) == 5  # of its own sees them all
        other.close()
        assert sender.stats()["outbox_pending"] == 5
        assert receiver.posted() == []
        assert sender.flush(20)
        assert sender.stats()["outbox_pending"] == 0
        assert sender.stats()["sent"] == 5
        assert len(receiver.events()) == 5
        sender.close(1)

    def test_a_backend_that_keeps_failing_leaves_the_rows_for_later(
        self, tmp_path: Path
    ) -> None:
        """With an outbox, a batch whose deadline passed is kept, not dropped."""
        answers = iter([status(503)] * 6)

        def plan(number: int, request: Request) -> object:
            return next(answers, OK)

        with Receiver(plan) as server:  # type: ignore[arg-type]
            fake = FakeTime()
            sender = outbox_sender(
                server.url, tmp_path / "o.db", fake, retry_deadline=1.0
            )
            sender.write({"metricName": "metric_x", "metricId": "00000000000000ab"})
            assert sender.flush(20)
            assert [e["metricId"] for e in server.events()] == ["00000000000000ab"]
            keys = {r.headers["idempotency-key"] for r in server.posted()}
        assert "expired" not in sender.stats()["dropped"]
        assert len(keys) == 1  # the same batch, tried again after a pause
        assert 30.0 in fake.waits
        sender.close(1)

    def test_a_rejected_batch_leaves_the_outbox(self, tmp_path: Path) -> None:
        with Receiver(lambda number, request: status(422)) as server:
            sender = outbox_sender(server.url, tmp_path / "o.db", FakeTime())
            sender.write({"metricName": "metric_x", "metricId": "00000000000000ab"})
            assert sender.flush(20)
        assert sender.stats()["dropped"]["rejected"] == 1
        assert sender.stats()["outbox_pending"] == 0
        sender.close(1)

    def test_flush_returns_false_while_rows_wait(self, tmp_path: Path) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        sender = outbox_sender(url, tmp_path / "o.db", FakeTime(), retry_deadline=1.0)
        sender._sleep = None  # real, interruptible waits
        sender.write({"metricName": "metric_x", "metricId": "00000000000000ab"})
        assert sender.flush(0.3) is False
        assert sender.stats()["outbox_pending"] == 1
        sender.close(0.2)
        kept = Outbox(str(tmp_path / "o.db"), max_bytes=10**6)
        assert len(kept.take(10, 10**6)) == 1  # there for the next try, or process
        kept.close()


class TestFile:
    def test_the_outbox_files_are_readable_by_their_owner_only(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "private" / "outbox.db"
        old_umask = os.umask(0)
        try:
            outbox = Outbox(str(path), max_bytes=10**6)
            outbox.add("s", b"{}")
        finally:
            os.umask(old_umask)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
        assert modes == dict.fromkeys(modes, 0o600)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        outbox.close()

    def test_an_existing_file_open_to_others_is_made_private(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "outbox.db"
        path.touch(mode=0o644)
        os.chmod(path, 0o644)
        outbox = Outbox(str(path), max_bytes=10**6)
        outbox.add("s", b"{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        outbox.close()

    def test_a_full_outbox_drops_the_oldest_rows(self, tmp_path: Path) -> None:
        outbox = Outbox(str(tmp_path / "o.db"), max_bytes=1000)
        for number in range(25):
            outbox.add("s", b"%03d" % number + b"x" * 97)
        rows = outbox.take(100, 10**6)
        assert [row.body[:3] for row in rows] == [b"%03d" % n for n in range(15, 25)]
        assert outbox.dropped == 15
        outbox.close()

    def test_writers_sharing_an_outbox_keep_it_within_its_cap(
        self, tmp_path: Path
    ) -> None:
        """Each writer (a process, here a connection) counts what the others
        added too: together they stay within max_bytes."""
        path = str(tmp_path / "o.db")
        writers = [Outbox(path, max_bytes=1000) for _ in range(2)]
        assert [writer.pending() for writer in writers] == [0, 0]  # both open
        for number in range(20):
            writers[number % 2].add("s", b"%03d" % number + b"x" * 97)
        reader = Outbox(path, max_bytes=1000)
        rows = reader.take(100, 10**6)
        assert [row.body[:3] for row in rows] == [b"%03d" % n for n in range(10, 20)]
        assert sum(writer.dropped for writer in writers) == 10
        for outbox in (*writers, reader):
            outbox.close()

    def test_a_full_outbox_is_counted_as_outbox_full(self, tmp_path: Path) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        sender = outbox_sender(
            url, tmp_path / "o.db", FakeTime(), outbox_max_bytes=500, flush_interval=60
        )
        for number in range(10):
            sender.write({"metricName": "metric_x", "n": number, "pad": "p" * 60})
        figures = sender.stats()
        assert figures["dropped"]["outbox_full"] > 0
        assert figures["outbox_pending"] + figures["dropped"]["outbox_full"] == 10
        sender.close(0.2)

    def test_an_unusable_path_is_reported_not_raised(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "file").write_text("not a directory")
        url = f"http://127.0.0.1:{free_port()}"
        sender = outbox_sender(url, tmp_path / "file" / "o.db", FakeTime())
        sender.write({"metricName": "metric_x"})
        assert sender.stats()["dropped"]["outbox_error"] == 1
        assert "metricdsl.outbox_failed" in capsys.readouterr().err
        with pytest.raises(OutboxError):
            Outbox(str(tmp_path / "file" / "o.db"), max_bytes=1).add("s", b"{}")
        sender.close(0.2)

    def test_the_client_id_is_kept_in_the_outbox(self, tmp_path: Path) -> None:
        first = Outbox(str(tmp_path / "o.db"), max_bytes=1000)
        second = Outbox(str(tmp_path / "o.db"), max_bytes=1000)
        assert first.client_id() == second.client_id()
        first.close()
        second.close()


class TestOwners:
    def test_rows_of_dead_owners_are_adopted_and_of_live_ones_not(
        self, tmp_path: Path
    ) -> None:
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        dead_pid = int(child.stdout)
        path = str(tmp_path / "o.db")
        writer = Outbox(path, max_bytes=10**6)
        for owner, body in (
            (f"{dead_pid}:0", b"dead"),
            (owner_token(os.getppid()), b"live"),
        ):
            writer.owner = owner
            writer.add("s", body)
        mine = Outbox(path, max_bytes=10**6)
        assert mine.adopt() == 1
        assert [row.body for row in mine.take(10, 10**6)] == [b"dead"]
        writer.close()
        mine.close()

    def test_running_tells_a_reused_pid_from_its_first_process(self) -> None:
        me = owner_token()
        assert running(me)
        assert running(owner_token(os.getppid()))
        if os.path.exists("/proc/self/stat"):
            assert not running(f"{os.getppid()}:1")  # another start time
        assert not running("not-a-pid:0")
