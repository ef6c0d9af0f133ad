"""Sending one batch: its body, its Idempotency-Key, and the tenacity retries.

A batch's events and key are fixed when it is made; every retry posts the same
bytes with the same key, and a batch split after a 413 gives its halves keys of
their own (``KEY.1``, ``KEY.2``), so no two batches ever share one.
Connection errors, timeouts, 408, 429 and 5xx answers are retried with
jittered exponential backoff (tenacity's full jitter), never sooner than a
``Retry-After`` header asks, until the next wait would pass the batch's
deadline. Waits go through the sender's ``nap``, which shutdown interrupts.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from . import _selflog, _wire
from ._http import Response, Transport, TransportError
from ._sinks import dumps

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["Batch", "Encoder", "Failed", "RetryPolicy", "Stopped"]

_RETRIED_STATUSES: Final = frozenset({408, 429})
_BACKOFF_FIRST: Final = 0.5  # seconds: the first window of the jittered backoff
_BACKOFF_MAX: Final = 30.0


class Stopped(Exception):
    """Shutdown interrupted a wait: the sender stops now."""


class Failed(Exception):
    """No usable answer this time (a retried status, or no answer at all)."""

    def __init__(self, status: int | None, reason: str, retry_after: float | None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class Batch:
    """Events sent together: the same events and key on every retry."""

    events: Sequence[bytes]
    session: str
    ids: Sequence[int] = ()  # their outbox rows, if any
    key: str = field(default_factory=lambda: os.urandom(16).hex())

    def halves(self) -> tuple[Batch, Batch]:
        middle = len(self.events) // 2
        return (
            Batch(
                self.events[:middle], self.session, self.ids[:middle], self.key + ".1"
            ),
            Batch(
                self.events[middle:], self.session, self.ids[middle:], self.key + ".2"
            ),
        )


class Encoder:
    """Turns a batch into a request body and its headers, for one protocol."""

    def __init__(
        self, protocol: str, client_id: str, *, protobuf: bool | None = None
    ) -> None:
        """``protobuf``: OTLP as protobuf; by default when the standard OTel
        variables ask for it and ``opentelemetry-proto`` is installed."""
        from . import __version__

        self.protocol = protocol
        self.client_id = client_id
        self.protobuf = _protobuf_wanted(protocol) if protobuf is None else protobuf
        self.user_agent = f"metricdsl/{__version__}"

    def encode(self, batch: Batch) -> tuple[bytes, dict[str, str]]:
        content_type = _wire.JSON
        if self.protocol == "otlp":
            request = _wire.otlp_request(self.client_id, batch.session, batch.events)
            if self.protobuf:
                body = _wire.otlp_protobuf(request)
                content_type = _wire.PROTOBUF
            else:
                body = dumps(request)
        else:
            body = _wire.json_batch(self.client_id, batch.session, batch.events)
        body, gzipped = _wire.compressed(body)
        headers = {
            "Content-Type": content_type,
            "Idempotency-Key": batch.key,
            "User-Agent": self.user_agent,
        }
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return body, headers


def _protobuf_wanted(protocol: str) -> bool:
    if protocol != "otlp" or not _wire.wants_protobuf():
        return False
    try:
        found = importlib.util.find_spec("opentelemetry.proto") is not None
    except ImportError:  # pragma: no cover - no "opentelemetry" package at all
        found = False
    if not found:
        _selflog.warn_once(
            ("otlp", "protobuf"),
            "metricdsl.setting_ignored",
            setting="OTEL_EXPORTER_OTLP_PROTOCOL",
            got="http/protobuf",
            problem="opentelemetry-proto is not installed "
            "(pip install 'metricdsl[otlp-protobuf]'); sending OTLP/JSON",
        )
    return found


class _Deadline:
    """Stop before the next wait would end past the batch's deadline."""

    def __init__(self, clock: Callable[[], float], seconds: float) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep >= self._end


class RetryPolicy:
    """Posts a batch's body until a final answer, or gives up at the deadline."""

    def __init__(
        self,
        *,
        deadline: float,
        clock: Callable[[], float],
        nap: Callable[[float], None],
        on_retry: Callable[[Failed, float], None],
    ) -> None:
        self._deadline = deadline
        self._clock = clock
        self._nap = nap
        self._on_retry = on_retry
        self._backoff: Any = None

    def post(
        self, transport: Transport, body: bytes, headers: dict[str, str]
    ) -> Response:
        """The final answer (2xx, or a status not worth retrying).

        Raises ``Failed`` (the last failure) when the deadline comes first,
        ``Stopped`` when shutdown interrupts a wait."""

        def attempt() -> Response:
            try:
                response = transport.post(body, headers)
            except TransportError as exc:
                raise Failed(None, str(exc), None) from exc
            status = response.status
            if status in _RETRIED_STATUSES or 500 <= status <= 599:
                raise Failed(status, f"HTTP {status}", response.retry_after)
            return response

        from tenacity import Retrying, retry_if_exception_type
        from tenacity.wait import wait_random_exponential

        if self._backoff is None:
            self._backoff = wait_random_exponential(
                multiplier=_BACKOFF_FIRST, max=_BACKOFF_MAX, min=0.05
            )
        retrying = Retrying(
            sleep=self._nap,
            stop=_Deadline(self._clock, self._deadline),
            wait=self._wait,
            retry=retry_if_exception_type(Failed),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _wait(self, retry_state: RetryCallState) -> float:
        """Jittered exponential backoff, or longer if Retry-After asks for it
        (a ``Retry-After: 0`` does not make a hot loop)."""
        backoff = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, Failed) and failure.retry_after is not None:
            return max(failure.retry_after, backoff)
        return backoff

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, Failed):
            self._on_retry(failure, retry_state.upcoming_sleep)
