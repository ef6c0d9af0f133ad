"""Batches and the retry policy: fixed keys, split keys, backoff, deadline."""

from __future__ import annotations

import pytest

from metricdsl._http import Transport
from metricdsl._retry import Batch, Encoder, Failed, RetryPolicy, Stopped
from tests.receiver import OK, FakeTime, Receiver, status


def policy(fake: FakeTime, deadline: float = 60.0) -> RetryPolicy:
    return RetryPolicy(
        deadline=deadline, clock=fake.clock, nap=fake.sleep, on_retry=lambda *a: None
    )


class TestBatch:
    def test_every_batch_has_a_key_of_its_own(self) -> None:
        keys = {Batch([b"{}"], "s").key for _ in range(1000)}
        assert len(keys) == 1000

    def test_halves_keep_their_events_and_get_derived_keys(self) -> None:
        batch = Batch([b"1", b"2", b"3"], "s", [11, 12, 13])
        first, second = batch.halves()
        assert (first.events, first.ids, first.key) == ([b"1"], [11], batch.key + ".1")
        assert (second.events, second.ids) == ([b"2", b"3"], [12, 13])
        assert second.key == batch.key + ".2"


class TestRetryPolicy:
    def test_the_same_body_and_key_are_posted_on_every_try(self) -> None:
        with Receiver(lambda n, request: status(500) if n < 3 else OK) as server:
            batch = Batch([b'{"metricId":"a"}'], "s")
            body, headers = Encoder("json", "c", protobuf=False).encode(batch)
            fake = FakeTime()
            response = policy(fake).post(
                Transport(server.url, timeout=5, headers={}), body, headers
            )
            requests = server.posted()
        assert response.status == 200
        assert {r.raw for r in requests} == {body}
        assert {r.headers["idempotency-key"] for r in requests} == {batch.key}
        assert len(fake.waits) == 3

    def test_the_last_failure_is_raised_at_the_deadline(self) -> None:
        with Receiver(lambda n, request: status(502)) as server:
            fake = FakeTime()
            with pytest.raises(Failed) as failed:
                policy(fake, deadline=3.0).post(
                    Transport(server.url, timeout=5, headers={}), b"{}", {}
                )
        assert failed.value.status == 502
        assert sum(fake.waits) < 3.0

    def test_a_stopping_nap_ends_the_retries(self) -> None:
        def nap(seconds: float) -> None:
            raise Stopped

        with Receiver(lambda n, request: status(503)) as server:
            retry = RetryPolicy(
                deadline=60, clock=FakeTime().clock, nap=nap, on_retry=lambda *a: None
            )
            with pytest.raises(Stopped):
                retry.post(Transport(server.url, timeout=5, headers={}), b"{}", {})
            assert len(server.posted()) == 1


def test_a_retry_after_of_zero_still_backs_off() -> None:
    answers = [status(429, Retry_After="0")] * 3 + [OK]
    with Receiver(lambda n, request: answers[min(n, 3)]) as server:
        fake = FakeTime()
        transport = Transport(server.url, timeout=5, headers={})
        assert policy(fake).post(transport, b"{}", {}).status == 200
    assert len(fake.waits) == 3
    assert min(fake.waits) >= 0.05
