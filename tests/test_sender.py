"""The network sender against real HTTP servers on 127.0.0.1 with injected faults."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trustme

import metricdsl
from metricdsl import _pipeline
from metricdsl._config import STATE, Settings
from metricdsl._sender import Sender, session_id
from tests.conftest import ROOT
from tests.receiver import (
    HANG,
    LOST,
    OK,
    RESET,
    Collector,
    FakeTime,
    Receiver,
    Request,
    free_port,
    metric_ids,
    status,
)
from tests.support import run_python

pytest_plugins = ("tests.delivery_fixtures",)
pytestmark = pytest.mark.usefixtures("sending")


def make_sender(url: str, fake: FakeTime | None = None, **settings: Any) -> Sender:
    options: dict[str, Any] = {"flush_interval": 0.05, "timeout": 5.0, **settings}
    if fake is None:
        return Sender(Settings(endpoint=url, **options), STATE)
    return Sender(
        Settings(endpoint=url, **options), STATE, clock=fake.clock, sleep=fake.sleep
    )


def emit(sender: Sender, count: int) -> list[str]:
    """Emit ``count`` events through metricdsl into ``sender``; their metricIds."""
    sinks = STATE.settings.sinks or ()
    if sender not in sinks:
        sinks = (Collector(), sender)
        metricdsl.configure(sinks=sinks)
    collector = sinks[0]
    assert isinstance(collector, Collector)
    before = len(collector.events)
    metric = metricdsl.telemetry.metric_setupThing
    for _ in range(count):
        metric.emit(component="editor")
    return collector.ids()[before:]


def run_script(
    code: str, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> str:
    environment = {**os.environ, **(env or {})}
    code = textwrap.dedent(code)
    return run_python("-c", code, *args, env=environment, timeout=timeout).stdout


def sender_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "metricdsl-sender"}


def threads_end(threads: set[threading.Thread], within: float = 20.0) -> bool:
    """Whether these threads all end within ``within`` seconds (generous)."""
    deadline = time.monotonic() + within
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


class TestDelivery:
    def test_every_event_arrives_exactly_once_through_5xx_and_resets(self) -> None:
        """30% of requests fail (503, reset before or after the body was taken):
        every metricId is accepted once, and each retry repeats key and body."""
        chance = random.Random(7)

        def plan(number: int, request: Request) -> Any:
            roll = chance.random()
            return (
                status(503)
                if roll < 0.18
                else RESET
                if roll < 0.24
                else LOST
                if roll < 0.30
                else OK
            )

        fake = FakeTime()
        with Receiver(plan) as server:
            sender = make_sender(server.url, fake, batch_size=40)
            emitted = emit(sender, 2000)
            assert sender.flush(30) is True
            accepted = metric_ids(server.events())
            answers = Counter(r.answer.kind for r in server.posted())
            bodies_by_key: dict[str, set[bytes]] = {}
            for request in server.posted():
                if request.raw:
                    key = request.headers["idempotency-key"]
                    bodies_by_key.setdefault(key, set()).add(request.raw)
        assert min(answers["status"], answers["reset"], answers["lost"]) > 0
        assert Counter(accepted) == Counter(emitted)
        assert len(set(emitted)) == 2000
        assert all(len(bodies) == 1 for bodies in bodies_by_key.values())
        assert sender.stats()["sent"] == 2000
        assert sender.stats()["retried"] == len(fake.waits) > 0

    def test_a_batch_holds_at_most_batch_size_events(self, receiver: Receiver) -> None:
        sender = make_sender(receiver.url, batch_size=7)
        emitted = emit(sender, 30)
        assert sender.flush(20)
        sizes = [len(body["events"]) for body in receiver.accepted.values()]
        assert max(sizes) <= 7
        assert sum(sizes) == 30
        assert sorted(metric_ids(receiver.events())) == sorted(emitted)

    def test_a_few_events_go_once_the_oldest_is_flush_interval_old(
        self, receiver: Receiver
    ) -> None:
        """No flush() call: the worker sends a partial batch by age."""
        sender = make_sender(receiver.url, batch_size=1000, flush_interval=0.1)
        emitted = emit(sender, 3)
        assert receiver.wait_for(lambda: len(receiver.events()) == 3)
        assert metric_ids(receiver.events()) == emitted

    @pytest.mark.parametrize("outbox", [False, True], ids=["memory", "outbox"])
    def test_events_after_an_idle_spell_go_once_flush_interval_old(
        self, receiver: Receiver, tmp_path: Path, outbox: bool
    ) -> None:
        """A worker that went idle with nothing to send wakes for the next
        event, not only for a full batch (or, with an outbox, the next look
        for orphaned rows half a minute later)."""
        path = str(tmp_path / "o.db") if outbox else ""
        sender = make_sender(
            receiver.url, batch_size=1000, flush_interval=0.1, outbox=path
        )
        emitted = emit(sender, 1)
        assert receiver.wait_for(lambda: len(receiver.events()) == 1)
        assert receiver.wait_for(lambda: sender._idle)  # waiting for work again
        emitted += emit(sender, 1)
        assert receiver.wait_for(lambda: len(receiver.events()) == 2, timeout=10)
        assert metric_ids(receiver.events()) == emitted

    def test_the_json_body_has_client_session_and_events(
        self, receiver: Receiver
    ) -> None:
        sender = make_sender(receiver.url, headers={"Authorization": "Bearer t0k3n"})
        emitted = emit(sender, 2)
        assert sender.flush(20)
        [request] = receiver.posted()
        body = request.json()
        assert request.path == "/"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == "Bearer t0k3n"
        assert request.headers["user-agent"].startswith("metricdsl/")
        assert len(request.headers["idempotency-key"]) == 32
        assert sorted(body) == ["clientId", "events", "sessionId"]
        assert body["sessionId"] == session_id()
        assert isinstance(body["clientId"], str)
        assert body["clientId"]
        assert [e["metricId"] for e in body["events"]] == emitted
        assert body["events"][0]["metricName"] == "metric_setupThing"
        assert body["events"][0]["component"] == "editor"

    def test_a_large_body_is_gzipped_and_a_small_one_is_not(
        self, receiver: Receiver
    ) -> None:
        sender = make_sender(receiver.url, batch_size=100)
        emit(sender, 1)
        assert sender.flush(20)
        emit(sender, 100)
        assert sender.flush(20)
        small, large = receiver.posted()
        assert "content-encoding" not in small.headers
        assert large.headers["content-encoding"] == "gzip"
        assert len(large.raw) < len(large.body)
        assert len(large.json()["events"]) == 100

    def test_configure_endpoint_sends_through_the_sender(
        self, receiver: Receiver
    ) -> None:
        metricdsl.configure(endpoint=receiver.url, sinks=["null"], flush_interval=0.05)
        metricdsl.telemetry.metric_setupThing.emit(component="viewer")
        assert metricdsl.flush(20)
        [event] = receiver.events()
        assert event["component"] == "viewer"
        assert metricdsl.stats()["sent"] == 1


class TestRetries:
    def test_a_400_drops_the_batch_without_retrying(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with Receiver(lambda number, request: status(400)) as server:
            fake = FakeTime()
            sender = make_sender(server.url, fake, batch_size=10)
            emit(sender, 30)
            assert sender.flush(20)
            requests = server.posted()
        assert len(requests) == 3  # one per batch, none retried
        assert fake.waits == []
        assert sender.stats()["dropped"]["rejected"] == 30
        assert sender.stats()["retried"] == 0
        assert capsys.readouterr().err.count("metricdsl.batch_dropped") == 1

    def test_retry_after_is_honoured(self) -> None:
        answers = [status(429, Retry_After="7"), status(503, Retry_After="3"), OK]
        with Receiver(lambda number, request: answers[min(number, 2)]) as server:
            fake = FakeTime()
            sender = make_sender(server.url, fake)
            emitted = emit(sender, 5)
            assert sender.flush(20)
            assert metric_ids(server.events()) == emitted
        assert fake.waits == [7.0, 3.0]

    @pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
    def test_retried_statuses_back_off_with_jitter(self, code: int) -> None:
        with Receiver(lambda n, request: status(code) if n < 4 else OK) as server:
            fake = FakeTime()
            sender = make_sender(server.url, fake)
            emitted = emit(sender, 3)
            assert sender.flush(20)
            assert metric_ids(server.events()) == emitted
        assert len(fake.waits) == 4
        for attempt, wait in enumerate(fake.waits):
            assert 0.05 <= wait <= 0.5 * 2**attempt  # full jitter, growing window

    def test_a_413_splits_the_batch_until_it_fits(self) -> None:
        def plan(number: int, request: Request) -> Any:
            return OK if len(request.json()["events"]) <= 3 else status(413)

        with Receiver(plan) as server:
            sender = make_sender(server.url, batch_size=16)
            emitted = emit(sender, 16)
            assert sender.flush(20)
            keys = [r.headers["idempotency-key"] for r in server.posted()]
        assert sorted(metric_ids(server.events())) == sorted(emitted)
        assert len(keys) == len(set(keys))  # halves get keys of their own
        assert any(key.endswith(".1.2") for key in keys)

    def test_a_batch_still_failing_at_its_deadline_is_dropped(self) -> None:
        with Receiver(lambda number, request: status(503)) as server:
            fake = FakeTime()
            sender = make_sender(server.url, fake, retry_deadline=20.0)
            emit(sender, 4)
            assert sender.flush(20)
            tries = len(server.posted())
        assert sender.stats()["dropped"]["expired"] == 4
        assert sum(fake.waits) < 20.0
        assert tries == len(fake.waits) + 1

    def test_a_retry_after_past_the_deadline_ends_the_retries(self) -> None:
        with Receiver(lambda n, request: status(429, Retry_After="120")) as server:
            fake = FakeTime()
            sender = make_sender(server.url, fake, retry_deadline=60.0)
            emit(sender, 2)
            assert sender.flush(20)
            assert len(server.posted()) == 1
        assert fake.waits == []
        assert sender.stats()["dropped"]["expired"] == 2

    def test_a_dead_backend_does_not_flood_the_log(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        fake = FakeTime()
        url = f"http://127.0.0.1:{free_port()}"
        sender = make_sender(url, fake, batch_size=1, retry_deadline=300.0)
        emit(sender, 5)
        assert sender.flush(20)
        err = capsys.readouterr().err
        assert sender.stats()["retried"] > 50
        assert err.count("metricdsl.request_failed") == 5  # a few a minute
        assert err.count("metricdsl.batch_dropped") == 5

    def test_connection_refused_is_retried(self) -> None:
        fake = FakeTime()
        sender = make_sender(
            f"http://127.0.0.1:{free_port()}", fake, retry_deadline=5.0
        )
        emit(sender, 1)
        assert sender.flush(20)
        assert sender.stats()["retried"] == len(fake.waits) >= 1
        assert sender.stats()["dropped"]["expired"] == 1


class TestNeverBlocking:
    def test_a_backend_that_never_answers_blocks_no_emitter(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """While the only worker waits on a request that never ends, emitting
        goes on, flush() gives up at its timeout, and so does shutdown()."""
        with Receiver(lambda number, request: HANG) as server:
            sender = make_sender(server.url, timeout=30.0, batch_size=10)
            emit(sender, 10)
            assert server.wait_for(lambda: len(server.requests) == 1)
            worker = sender_threads()
            metric = metricdsl.telemetry.metric_setupThing
            for _ in range(500):
                metric.emit(component="editor")
            assert len(server.posted()) == 1  # the worker is still stuck in it
            assert sender.stats()["queued"] == 510
            started = time.monotonic()
            assert sender.flush(0.5) is False
            assert time.monotonic() - started < 5.0  # on time, generously
            started = time.monotonic()
            assert metricdsl.shutdown(0.3) is False  # the request still hangs
            assert time.monotonic() - started < 3.0  # timeout + at most a second
        assert threads_end(worker)  # the stopped receiver reset the request
        assert sender.stats()["dropped"] == {"shutdown": 510}
        assert "metricdsl.request_failed" not in capsys.readouterr().err  # no retry

    def test_shutdown_interrupts_a_retry_wait(self) -> None:
        with Receiver(lambda n, request: status(503, Retry_After="50")) as server:
            metricdsl.configure(endpoint=server.url, sinks=["null"], retry_deadline=600)
            metricdsl.telemetry.metric_setupThing.emit(component="editor")
            assert server.wait_for(lambda: len(server.requests) == 1)
            [sender] = [s for s in STATE.sinks or () if isinstance(s, Sender)]
            worker = sender_threads()
            started = time.monotonic()
            assert metricdsl.shutdown(0.3) is False
            assert time.monotonic() - started < 3.0  # timeout + at most a second
            assert threads_end(worker)
            assert sender.stats()["dropped"]["shutdown"] == 1

    @pytest.mark.parametrize("outbox", [False, True], ids=["memory", "outbox"])
    def test_a_signal_handler_that_emits_does_not_deadlock(
        self, tmp_path: Path, outbox: bool
    ) -> None:
        """Signals land while the main thread is inside the sender (or its
        outbox); a handler that emits must not wait for a lock it holds."""
        out = run_script(
            """
            import os, signal, sys, threading, time, metricdsl
            metricdsl.configure(
                endpoint=sys.argv[1], outbox=sys.argv[2], sinks=["null"],
                flush_interval=60,
            )
            metric = metricdsl.telemetry.metric_setupThing
            metric.emit(component="editor")  # the sinks are built
            handled = 0
            def handler(signum, frame):
                global handled
                metric.emit(component="other")
                handled += 1
            signal.signal(signal.SIGUSR1, handler)
            def pester():
                while handled < 100:
                    os.kill(os.getpid(), signal.SIGUSR1)
                    time.sleep(0.001)
            threading.Thread(target=pester, daemon=True).start()
            while handled < 100:
                metric.emit(component="editor")
            print(handled)
            """,
            f"http://127.0.0.1:{free_port()}",
            str(tmp_path / "o.db") if outbox else "",
            timeout=30,
            env={"METRICDSL_EXIT_TIMEOUT": "0"},
        )
        assert int(out) >= 100

    def test_a_full_queue_drops_the_oldest_events(self, receiver: Receiver) -> None:
        sender = make_sender(
            receiver.url, max_queue=10, batch_size=50, flush_interval=60
        )
        emitted = emit(sender, 25)
        assert sender.stats()["dropped"]["queue_full"] == 15
        assert sender.stats()["queued"] == 10
        assert sender.flush(20)
        assert metric_ids(receiver.events()) == emitted[-10:]

    def test_the_queue_is_bounded_in_bytes_too(self, receiver: Receiver) -> None:
        sender = make_sender(
            receiver.url, max_queue_bytes=1000, batch_size=50, flush_interval=60
        )
        emitted = emit(sender, 20)
        kept = sender.stats()["queued"]
        assert 0 < kept < 20
        assert sender.stats()["dropped"]["queue_full"] == 20 - kept
        assert sender.flush(20)
        assert metric_ids(receiver.events()) == emitted[-kept:]


class TestLifecycle:
    def test_the_worker_starts_on_the_first_event(self, receiver: Receiver) -> None:
        before = sender_threads()
        sender = make_sender(receiver.url)
        assert sender_threads() == before
        emit(sender, 1)
        assert len(sender_threads() - before) == 1
        assert sender.flush(20)

    def test_importing_and_configuring_start_no_thread(self) -> None:
        out = run_script(
            """
            import threading, metricdsl
            metricdsl.configure(endpoint="http://127.0.0.1:9", sinks=["null"])
            print(threading.active_count())
            """
        )
        assert out.strip() == "1"

    def test_flush_reports_success_and_stats_count_it(self, receiver: Receiver) -> None:
        sender = make_sender(receiver.url, batch_size=5)
        emit(sender, 12)
        assert sender.flush(20)
        figures = sender.stats()
        assert figures["sent"] == 12
        assert figures["queued"] == 0
        assert figures["retried"] == 0

    def test_the_exit_hook_delivers_what_is_queued(self, receiver: Receiver) -> None:
        run_script(
            """
            import sys, metricdsl
            metricdsl.configure(endpoint=sys.argv[1], sinks=["null"], flush_interval=60)
            for _ in range(5):
                metricdsl.telemetry.metric_setupThing.emit(component="other")
            """,
            receiver.url,
            env={"METRICDSL_EXIT_TIMEOUT": "20"},  # ample on a loaded machine
        )
        assert len(receiver.events()) == 5

    def test_the_exit_hook_gives_up_on_a_backend_that_never_answers(self) -> None:
        code = """
            import sys, metricdsl
            metricdsl.configure(
                endpoint=sys.argv[1], sinks=["null"], timeout=60, flush_interval=0.05
            )
            metricdsl.telemetry.metric_setupThing.emit(component="other")
            sys.stdin.read()  # exit when the test says so
            """
        with Receiver(lambda number, request: HANG) as server:
            process = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code), server.url],
                stdin=subprocess.PIPE,
                cwd=ROOT,
                env={**os.environ, "METRICDSL_EXIT_TIMEOUT": "0.5"},
            )
            assert server.wait_for(lambda: len(server.requests) == 1)
            started = time.monotonic()
            process.communicate(b"", timeout=60)  # the request hangs for 60 s
            took = time.monotonic() - started
        assert process.returncode == 0
        assert took < 30.0  # the exit hook's 0.5 s (+1 s), generously

    def test_a_forked_child_sends_only_its_own_events(self, receiver: Receiver) -> None:
        out = run_script(
            """
            import json, os, sys, metricdsl
            metricdsl.configure(
                endpoint=sys.argv[1], sinks=["null"], batch_size=1000, flush_interval=60
            )
            metric = metricdsl.telemetry.metric_setupThing
            for _ in range(5):
                metric.emit(component="editor", source="parent")
            pid = os.fork()
            if pid == 0:
                for _ in range(3):
                    metric.emit(component="editor", source="child")
                os._exit(0 if metricdsl.flush(20) else 3)
            _, status = os.waitpid(pid, 0)
            print(json.dumps([os.waitstatus_to_exitcode(status), metricdsl.flush(20)]))
            """,
            receiver.url,
        )
        assert json.loads(out) == [0, True]
        batches = list(receiver.accepted.values())
        sources = [{e["source"] for e in batch["events"]} for batch in batches]
        assert sorted(sources, key=sorted) == [{"child"}, {"parent"}]
        assert len(receiver.events()) == 8
        assert batches[0]["sessionId"] != batches[1]["sessionId"]


class TestCi:
    def test_under_ci_events_are_made_and_logged_but_not_sent(
        self, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CI", "true")
        before = sender_threads()
        collector = Collector()
        metricdsl.configure(endpoint=receiver.url, sinks=[collector])
        metricdsl.telemetry.metric_setupThing.emit(component="editor")
        assert len(collector.events) == 1
        assert metricdsl.flush(5) is True  # nothing pending
        stats = metricdsl.stats()
        assert stats["dropped"]["ci"] == 1
        assert stats["queued"] == 0
        assert receiver.posted() == []
        assert sender_threads() <= before

    def test_metricdsl_send_in_ci_sends_all_the_same(
        self, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CI", "true")
        monkeypatch.setenv("METRICDSL_SEND_IN_CI", "1")
        metricdsl.configure(endpoint=receiver.url, sinks=["null"])
        metricdsl.telemetry.metric_setupThing.emit(component="editor")
        assert metricdsl.flush(20)
        assert len(receiver.events()) == 1

    def test_disabled_queues_nothing(self, receiver: Receiver) -> None:
        before = sender_threads()
        metricdsl.configure(endpoint=receiver.url, enabled=False)
        metricdsl.telemetry.metric_setupThing.emit(component="editor")
        assert metricdsl.flush(5)
        assert metricdsl.stats()["queued"] == 0
        assert sender_threads() <= before
        assert receiver.posted() == []


class TestIdentity:
    def test_metricdsl_client_id_names_the_client(
        self, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("METRICDSL_CLIENT_ID", "build-farm-7")
        sender = make_sender(receiver.url)
        emit(sender, 1)
        assert sender.flush(20)
        [body] = receiver.accepted.values()
        assert body["clientId"] == "build-farm-7"

    def test_an_event_after_close_is_counted_not_queued(
        self, receiver: Receiver
    ) -> None:
        sender = make_sender(receiver.url)
        emit(sender, 1)
        sender.close(5)
        sender.write({"metricName": "metric_x"})
        assert sender.stats()["dropped"] == {"shutdown": 1}
        assert sender.stats()["sent"] == 1


class TestTls:
    def test_a_certificate_nobody_vouches_for_is_refused(self) -> None:
        with Receiver(tls=trustme.CA()) as server:
            fake = FakeTime()
            sender = make_sender(server.url, fake, retry_deadline=5.0)
            emit(sender, 1)
            assert sender.flush(20)
            assert server.posted() == []
        assert sender.stats()["dropped"]["expired"] == 1
        assert sender.stats()["retried"] >= 1

    def test_a_trusted_certificate_is_accepted(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        authority = trustme.CA()
        bundle = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # what OpenSSL trusts
        with Receiver(tls=authority) as server:
            sender = make_sender(server.url)
            emitted = emit(sender, 3)
            assert sender.flush(20)
            assert metric_ids(server.events()) == emitted


class TestSecrets:
    def test_headers_and_url_credentials_never_reach_the_log(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        port = free_port()
        fake = FakeTime()
        sender = make_sender(
            f"http://user:hunter2@127.0.0.1:{port}/ingest?key=k3y",
            fake,
            headers={"Authorization": "Bearer s3cr3t"},
            retry_deadline=2.0,
        )
        emit(sender, 1)
        assert sender.flush(20)
        err = capsys.readouterr().err
        assert "metricdsl.request_failed" in err
        assert f"http://127.0.0.1:{port}/ingest" in err
        for secret in ("s3cr3t", "hunter2", "k3y"):
            assert secret not in err
            assert secret not in repr(sender)

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Bearer s3cr3t\n"},  # a token read from a file
            {"Authorization": "Bearer s3cr3t\r\nX-Evil: 1"},
            {"Authorization": "Bearer s3cr3t\u20ac"},  # not Latin-1
            {"Authorization: Bearer s3cr3t": ""},  # a whole line as the name
        ],
    )
    def test_an_unusable_header_is_reported_without_its_value(
        self,
        receiver: Receiver,
        capsys: pytest.CaptureFixture[str],
        headers: dict[str, str],
    ) -> None:
        sender = make_sender(receiver.url, headers=headers)
        emit(sender, 1)
        assert sender.flush(20)
        err = capsys.readouterr().err
        assert "metricdsl.sender_failed" in err
        assert "header" in err
        assert "s3cr3t" not in err
        assert receiver.posted() == []
        assert sender.stats()["dropped"] == {"sender_error": 1}


def test_pipeline_stats_sum_the_sender(receiver: Receiver) -> None:
    metricdsl.configure(endpoint=receiver.url, sinks=["null"], batch_size=2)
    for _ in range(4):
        metricdsl.telemetry.metric_setupThing.emit(component="editor")
    assert _pipeline.flush(20)
    figures = metricdsl.stats()
    assert (figures["emitted"], figures["sent"]) == (4, 4)
