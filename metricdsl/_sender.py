"""The network sender: a bounded queue, one worker thread, retries, an outbox.

``Sender.write(event)`` runs on the caller's thread: it renders the event as
JSON and either appends it to a bounded in-memory queue (at most ``max_queue``
events and ``max_queue_bytes`` bytes; past that the oldest are dropped and
counted as ``queue_full``) or, with ``outbox=PATH``, stores it in the outbox
(``_outbox``) before returning. It never waits on the network.

One daemon thread, started on first use, makes batches of up to
``batch_size`` events, or fewer once the oldest has waited ``flush_interval``
seconds, and posts them (``_retry``): acknowledged batches are counted as
``sent`` (and leave the outbox), refused ones (4xx) as ``rejected``; a batch
the backend keeps failing is dropped as ``expired`` when its ``retry_deadline``
passes, or, with an outbox, kept there and tried again later.

Under ``CI`` (unless ``METRICDSL_SEND_IN_CI``) events are counted as ``ci`` and
go nowhere. After ``fork()`` the child's sender starts empty, with a session of
its own: it never sends what its parent had queued.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from . import _selflog, _wire
from ._config import Event, Settings, State
from ._http import Transport, safe_url
from ._outbox import Outbox, OutboxError
from ._retry import Batch, Encoder, Failed, RetryPolicy, Stopped
from ._sinks import dumps

__all__ = ["Sender", "session_id"]

_BATCH: Final = "batch"
_ADOPT: Final = "adopt"
_END: Final = "end"

#: At most this many bytes of events in one batch (a huge batch risks a 413).
MAX_BATCH_BYTES: Final = 4 * 1024 * 1024
#: How often a worker with an outbox looks for rows left by dead processes.
ADOPT_EVERY: Final = 30.0
#: With an outbox, how long to pause after a batch's retries ran out.
OUTBOX_PAUSE: Final = 30.0

#: How often flush() looks again when no batch finished meanwhile.
_POLL: Final = 0.1

_session = os.urandom(16).hex()
_client = os.urandom(16).hex()


def session_id() -> str:
    """This process's session: new in every process (and in a forked child)."""
    return _session


class Sender:
    """The sink that delivers events to ``settings.endpoint``."""

    owned_by_metricdsl = True

    def __init__(
        self,
        settings: Settings,
        state: State,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        """``clock`` and ``sleep`` time the retries (tests pass fakes); by
        default a retry waits on the stop signal, so shutdown interrupts it."""
        self._settings = settings
        self._state = state
        endpoint = settings.endpoint
        if settings.protocol == "otlp":
            endpoint = endpoint.rstrip("/") + "/v1/logs"
        self._url = endpoint
        self._otlp = settings.protocol == "otlp"
        self._batch_size = settings.batch_size
        self._interval = settings.flush_interval
        self._max_events = settings.max_queue
        self._max_bytes = settings.max_queue_bytes
        self._clock = clock
        self._sleep = sleep
        self._outbox = (
            Outbox(settings.outbox, max_bytes=settings.outbox_max_bytes)
            if settings.outbox
            else None
        )
        self._fresh()
        _SENDERS.add(self)
        if self._outbox is not None and self._sending():
            self._start()  # replay what earlier processes left in the outbox

    def _fresh(self) -> None:
        """Empty queue, no worker, zero counters (at start and in a forked child)."""
        # reentrant: a signal handler that emits may interrupt write() inside it
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._written = 0  # events put in the queue (or the outbox) so far
        self._taken = 0  # of those, taken off the queue (into a batch, or dropped)
        self._waiting = 0  # outbox: rows not yet taken into a batch
        self._since = 0.0  # when the oldest waiting event arrived
        self._inflight: tuple[int, int] | None = None  # (first event, count)
        self._rounds = 0  # batches finished, for flush() to notice progress
        self._flushing = 0  # callers inside flush(): send what waits now
        self._closing = False
        self._closed = False
        self._idle = False
        self._next_adopt = 0.0
        self._unsettled = 0  # events of the batch in hand not yet counted
        self._transport: Transport | None = None
        self._encoder: Encoder | None = None
        self.sent = 0
        self.retried = 0
        self.dropped: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Sender({safe_url(self._url)!r}, protocol={self._settings.protocol!r})"

    # -- the caller's side -----------------------------------------------------------

    def _sending(self) -> bool:
        state = self._state
        return not state.in_ci or state.send_in_ci

    def write(self, event: Event) -> None:
        """Queue one event (or store it in the outbox); never waits on the network."""
        state = self._state
        if state.in_ci and not state.send_in_ci:
            self._count("ci", 1)
            return
        # orjson hands back a 4 KiB buffer whatever the length: keep a snug copy
        data = bytes(memoryview(dumps(event)))
        if self._outbox is not None:
            self._write_outbox(data)
            return
        with self._lock:
            if self._closed:
                self.dropped["shutdown"] = self.dropped.get("shutdown", 0) + 1
                return
            queue = self._queue
            first = not queue
            if first:
                self._since = time.monotonic()
            queue.append(data)
            self._written += 1
            self._queued_bytes += len(data)
            overflowed = 0
            if len(queue) > self._max_events or self._queued_bytes > self._max_bytes:
                overflowed = self._overflow()
            self._wake(first, len(queue))
        if overflowed:
            _selflog.warn_limited(
                "metricdsl.events_dropped",
                reason="queue_full",
                dropped_so_far=overflowed,
                max_queue=self._max_events,
                max_queue_bytes=self._max_bytes,
            )

    def _overflow(self) -> int:
        """Drop the oldest queued events until the queue fits (lock held).

        Returns the number dropped so far when that is worth a warning (the
        first time, then every thousandth), else 0."""
        queue, dropped = self._queue, 0
        while queue and (
            len(queue) > self._max_events or self._queued_bytes > self._max_bytes
        ):
            self._queued_bytes -= len(queue.popleft())
            dropped += 1
        self._taken += dropped
        before = self.dropped.get("queue_full", 0)
        self.dropped["queue_full"] = before + dropped
        worth_saying = before == 0 or before // 1000 != (before + dropped) // 1000
        return before + dropped if worth_saying else 0

    def _write_outbox(self, data: bytes) -> None:
        assert self._outbox is not None
        try:
            self._outbox.add(_session, data)
        except OutboxError as exc:
            self._count("outbox_error", 1)
            _selflog.warn_limited("metricdsl.outbox_failed", error=str(exc))
            return
        with self._lock:
            first = not self._waiting
            if first:
                self._since = time.monotonic()
            self._waiting += 1
            self._written += 1
            self._wake(first, self._waiting)

    def _wake(self, first: bool, waiting: int) -> None:
        """Start the worker, or wake it if idle and these events change its
        plan: the first one starts the age clock, a full batch goes at once
        (lock held)."""
        if self._thread is None:
            if not self._closed:
                self._start()
        elif self._idle and (first or waiting >= self._batch_size):
            self._changed.notify()

    def _start(self) -> None:
        """Start the worker (lock held, or before anyone else can see us)."""
        thread = threading.Thread(
            target=self._run, name="metricdsl-sender", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: no new threads
            return
        self._thread = thread

    # -- flush, close, stats ---------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until every event written before the call is acknowledged or
        dropped, or ``timeout`` seconds pass; return whether it all went."""
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._sending():
            return True
        outbox = self._outbox
        last = 0
        if outbox is not None:
            try:
                self._adopt(outbox)  # rows a dead process left are pending too
                last = outbox.last_id()
            except OutboxError:
                return False
        with self._lock:
            target = self._written
            self._flushing += 1
            if outbox is not None:
                self._waiting = max(self._waiting, 1)  # have the worker look
            if self._thread is None and not self._closed:
                self._start()
            self._changed.notify_all()
        try:
            while True:
                with self._lock:
                    rounds = self._rounds
                    if outbox is None and self._resolved(target):
                        return True
                if outbox is not None:
                    try:
                        if not outbox.pending_through(last):
                            return True
                    except OutboxError:
                        return False
                with self._lock:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._thread is None:
                        return False
                    if self._rounds == rounds:  # a finished batch wakes us early
                        self._changed.wait(min(remaining, _POLL))
        finally:
            with self._lock:
                self._flushing -= 1

    def _resolved(self, target: int) -> bool:
        """Whether the first ``target`` events are all sent or dropped (lock held)."""
        inflight = self._inflight
        return self._taken >= target and (inflight is None or inflight[0] >= target)

    def close(self, timeout: float) -> None:
        """Send what is waiting for at most ``timeout`` seconds, then stop."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            self._closing = True
            thread = self._thread
            self._changed.notify_all()
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        if thread is not None:
            thread.join(0.5)  # a wait it was in is interrupted at once
            if thread.is_alive():
                return  # stuck in a request: it closes what it uses when done
        self._release()

    def _release(self) -> None:
        with self._lock:
            lost = len(self._queue) + (self._inflight[1] if self._inflight else 0)
            self._queue.clear()
            self._queued_bytes = 0
            self._inflight = None
            if lost:
                self.dropped["shutdown"] = self.dropped.get("shutdown", 0) + lost
            transport, self._transport = self._transport, None
        if lost:
            _selflog.warn_limited(
                "metricdsl.events_dropped", reason="shutdown", count=lost
            )
        if transport is not None:
            transport.close()
        if self._outbox is not None:
            self._outbox.close()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            inflight = self._inflight[1] if self._inflight else 0
            figures: dict[str, Any] = {
                "sent": self.sent,
                "retried": self.retried,
                "queued": len(self._queue) + inflight,
                "outbox_pending": 0,
                "dropped": dict(self.dropped),
            }
        outbox = self._outbox
        if outbox is not None and outbox.opened:
            with contextlib.suppress(OutboxError):
                figures["outbox_pending"] = outbox.pending()
            if outbox.dropped:
                figures["dropped"]["outbox_full"] = outbox.dropped
        return figures

    # -- the worker ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    break
                self._unsettled = len(batch.events)
                try:
                    self._deliver(batch)
                except Stopped:
                    if self._outbox is None:  # (outbox rows stay for later)
                        self._count("shutdown", self._unsettled)
                    raise
                except Exception as exc:  # a bug must not kill the worker
                    self._settle(batch, "sender_error", self._unsettled)
                    _selflog.warn_limited("metricdsl.sender_failed", error=repr(exc))
                finally:
                    with self._lock:
                        self._inflight = None
                        self._rounds += 1
                        self._changed.notify_all()
        except Stopped:
            pass
        finally:
            with self._lock:
                self._thread = None
                self._changed.notify_all()
                closed = self._closed
            if closed:
                self._release()

    def _next_batch(self) -> Batch | None:
        """The next batch to send, once there is one; None when it is time to end."""
        outbox = self._outbox
        while True:
            with self._lock:
                work = self._wait_for_work()
                if work == _BATCH and outbox is None:
                    return self._take_from_queue()
            if work == _END:
                return None
            assert outbox is not None
            try:
                if work == _ADOPT:
                    self._adopt(outbox)
                else:
                    batch = self._take_from_outbox(outbox)
                    if batch is not None:
                        return batch
            except OutboxError as exc:
                _selflog.warn_limited("metricdsl.outbox_failed", error=str(exc))
                self._nap(self._interval)

    def _wait_for_work(self) -> str:
        """Block until a batch should go (_BATCH), orphaned outbox rows should be
        looked for (_ADOPT), or the worker should end (_END). Lock held."""
        outbox = self._outbox
        while True:
            if self._stop.is_set():
                return _END
            now = time.monotonic()
            if outbox is not None and now >= self._next_adopt and not self._closing:
                return _ADOPT
            waiting = len(self._queue) if outbox is None else self._waiting
            if waiting >= self._batch_size:
                return _BATCH
            if waiting and (
                self._closing or self._flushing or now - self._since >= self._interval
            ):
                return _BATCH
            if self._closing:
                return _END  # everything went
            timeout = self._interval - (now - self._since) if waiting else None
            if outbox is not None:
                until = self._next_adopt - now
                timeout = until if timeout is None else min(timeout, until)
            self._idle = True
            try:
                self._changed.wait(timeout)
            finally:
                self._idle = False

    def _adopt(self, outbox: Outbox) -> None:
        """Take over rows that dead processes left in the outbox."""
        self._next_adopt = time.monotonic() + ADOPT_EVERY
        outbox.adopt()
        pending = outbox.pending()
        with self._lock:
            if pending and not self._waiting:
                self._since = time.monotonic() - self._interval  # send them now
            self._waiting = pending

    def _take_from_outbox(self, outbox: Outbox) -> Batch | None:
        """This process's oldest outbox rows, all of one session, as a batch."""
        rows = outbox.take(self._batch_size, MAX_BATCH_BYTES)
        session = rows[0].session if rows else ""
        same = 0
        while same < len(rows) and rows[same].session == session:
            same += 1
        with self._lock:
            self._waiting = max(0, self._waiting - same) if rows else 0
        if not rows:
            return None
        rows = rows[:same]
        return Batch([r.body for r in rows], session, [r.id for r in rows])

    def _take_from_queue(self) -> Batch:
        """Take the oldest events off the queue as one batch (lock held)."""
        queue, size = self._queue, 0
        events: list[bytes] = []
        while queue and len(events) < self._batch_size:
            data = queue[0]
            if events and size + len(data) > MAX_BATCH_BYTES:
                break
            events.append(queue.popleft())
            size += len(data)
        self._queued_bytes -= size
        self._inflight = (self._taken, len(events))
        self._taken += len(events)
        return Batch(events, _session)

    def _deliver(self, batch: Batch) -> None:
        """Post a batch until it is acknowledged, refused or given up on."""
        transport, encoder = self._connect()
        body, headers = encoder.encode(batch)
        policy = RetryPolicy(
            deadline=self._settings.retry_deadline,
            clock=self._clock,
            nap=self._nap,
            on_retry=self._on_retry,
        )
        while True:
            try:
                response = policy.post(transport, body, headers)
            except Failed as failure:
                if self._outbox is None:
                    self._settle(batch, "expired")
                    self._warn_dropped(batch, "expired", failure.reason)
                    return
                pause = max(OUTBOX_PAUSE, min(failure.retry_after or 0.0, 300.0))
                self._nap(pause)  # the rows stay in the outbox; try again later
                continue
            break
        status = response.status
        if 200 <= status <= 299:
            refused = _wire.refused_records(response.body) if self._otlp else 0
            refused = min(refused, len(batch.events))
            self._settle(batch, "sent", len(batch.events) - refused)
            if refused:
                self._count("rejected", refused)
                self._warn_rejected(status, refused, response.body)
        elif status == 413 and len(batch.events) > 1:
            for half in batch.halves():
                self._deliver(half)
        else:
            self._settle(batch, "rejected")
            self._warn_rejected(status, len(batch.events), response.body)

    def _warn_rejected(self, status: int, count: int, answer: bytes) -> None:
        """Said once per endpoint and status: a refusal repeats, the log must not."""
        _selflog.warn_once(
            ("rejected", self._url, status),
            "metricdsl.batch_dropped",
            reason="rejected",
            status=status,
            events=count,
            endpoint=safe_url(self._url),
            answer=answer[:200].decode("utf-8", "replace"),
        )

    def _connect(self) -> tuple[Transport, Encoder]:
        if self._transport is None or self._encoder is None:
            settings = self._settings
            self._transport = Transport(
                self._url, timeout=settings.timeout, headers=settings.headers
            )
            self._encoder = Encoder(settings.protocol, self._client_id())
        return self._transport, self._encoder

    def _client_id(self) -> str:
        """``METRICDSL_CLIENT_ID``, else one kept in the outbox, else per process."""
        named = os.environ.get("METRICDSL_CLIENT_ID", "").strip()
        if named:
            return named
        if self._outbox is not None:
            try:
                return self._outbox.client_id()
            except OutboxError:
                pass
        return _client

    def _settle(self, batch: Batch, outcome: str, count: int | None = None) -> None:
        """Count a batch (``count`` of its events) as sent or dropped, and
        forget its outbox rows."""
        if self._outbox is not None and batch.ids:
            try:
                self._outbox.remove(batch.ids)
            except OutboxError as exc:
                _selflog.warn_limited("metricdsl.outbox_failed", error=str(exc))
        self._unsettled -= len(batch.events)
        self._count(outcome, len(batch.events) if count is None else count)

    def _count(self, outcome: str, count: int) -> None:
        with self._lock:
            if outcome == "sent":
                self.sent += count
            else:
                self.dropped[outcome] = self.dropped.get(outcome, 0) + count

    def _warn_dropped(self, batch: Batch, reason: str, error: str) -> None:
        _selflog.warn_limited(
            "metricdsl.batch_dropped",
            reason=reason,
            events=len(batch.events),
            endpoint=safe_url(self._url),
            error=error,
        )

    def _on_retry(self, failure: Failed, wait: float) -> None:
        if self._stop.is_set():
            return  # shutdown: the wait ends at once, no retry follows
        with self._lock:
            self.retried += 1
        _selflog.warn_limited(
            "metricdsl.request_failed",
            endpoint=safe_url(self._url),
            error=failure.reason,
            retry_in=round(wait, 3),
        )

    def _nap(self, seconds: float) -> None:
        """Wait between tries; shutdown cuts it short (raises Stopped)."""
        if self._sleep is not None:
            self._sleep(seconds)
            interrupted = self._stop.is_set()
        else:
            interrupted = self._stop.wait(seconds)
        if interrupted:
            raise Stopped

    # -- fork ------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        # the parent's queue, worker and connections stay the parent's (the
        # outbox sees to its own file: _outbox)
        self._fresh()


_SENDERS: Final[weakref.WeakSet[Sender]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _session
    _session = os.urandom(16).hex()
    for sender in list(_SENDERS):
        sender._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
