"""The timing engine: cases interleaved round by round, ns per call, ratios.

Every case is a zero-argument callable run ``n`` times in a tight loop per
batch; one batch of every case makes a round, and the order of the cases
rotates from round to round, so a noisy neighbour or a frequency change hits
them all alike. A case may have work that belongs inside the timing at the end
of a batch (``finish``, e.g. ``metricdsl.flush()``) and set-up or tear-down
that does not (``setup``/``teardown``, e.g. ``configure(sinks=...)``).

The loop overhead (``for _ in repeat(None, n)``) is not subtracted: the
``plain call`` floor shows how much it and the call itself cost.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Case", "Sample", "measure", "median_ratio"]


def _nothing() -> None:
    return None


@dataclass
class Case:
    """One thing to time, and how to check that it really did its work."""

    key: str
    label: str
    group: str  # "floor", "metricdsl", "peer"
    call: Callable[[], object]
    #: what reached the sink so far (a running total), or None: no sink
    events: Callable[[], int | None] = lambda: None
    #: events the sink should receive per call (0 for floors and disabled)
    expected_per_call: float = 0.0
    #: a description of the unit counted by ``events``
    event_unit: str = "events"
    setup: Callable[[], None] = _nothing  # before a batch, not timed
    finish: Callable[[], None] = _nothing  # end of a batch, timed
    teardown: Callable[[], None] = _nothing  # after a batch, not timed
    #: run once after the timing: a problem found in the last event, or None
    verify: Callable[[], str | None] = lambda: None
    note: str = ""
    #: False for a step timed alone: it calls no work()
    calls_work: bool = True


@dataclass
class Sample:
    """What the rounds measured for one case."""

    case: Case
    batch: int  # calls per batch
    per_call: list[float] = field(default_factory=list)  # ns, one per round
    calls: int = 0  # times the wrapped function actually ran (timed batches)
    iterations: int = 0  # times the case was called (timed batches)
    events: int | None = None  # what reached the sink (timed batches)
    problem: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    @property
    def minimum(self) -> float:
        return min(self.per_call)

    @property
    def expected_events(self) -> float:
        return self.iterations * self.case.expected_per_call

    @property
    def verified(self) -> bool:
        """The function ran every time and the sink got what it should."""
        if self.problem is not None:
            return False
        if self.case.calls_work and self.calls != self.iterations:
            return False
        if self.case.expected_per_call == 0:
            return self.events in (None, 0)
        return self.events is not None and self.events == self.expected_events


def _run_batch(case: Case, n: int) -> int:
    """One batch of ``n`` calls; the elapsed ns (the case's finish included)."""
    call = case.call
    case.setup()
    gc.collect()
    try:
        start = time.perf_counter_ns()
        for _ in itertools.repeat(None, n):
            call()
        case.finish()
        return time.perf_counter_ns() - start
    finally:
        case.teardown()


def _calibrate(case: Case, batch_ns: int) -> int:
    """Calls per batch so that one batch takes about ``batch_ns``."""
    n = 16
    _run_batch(case, n)  # first use: imports, sinks built, threads started
    while True:
        elapsed = _run_batch(case, n)
        if elapsed >= batch_ns // 4 or n >= 1 << 24:
            return max(16, int(n * batch_ns / max(elapsed, 1)))
        n *= 4


def measure(
    cases: Sequence[Case],
    *,
    rounds: int,
    batch_ns: int,
    calls_so_far: Callable[[], int],
    progress: Callable[[str], None] = lambda line: None,
) -> list[Sample]:
    """Calibrate, warm up, then time ``rounds`` interleaved rounds."""
    samples = []
    for case in cases:
        samples.append(Sample(case, _calibrate(case, batch_ns)))
        progress(f"  calibrated {case.label}: {samples[-1].batch} calls per batch")
    for sample in samples:  # one untimed warm-up round
        _run_batch(sample.case, sample.batch)
    for sample in samples:
        sample.events = 0 if sample.case.events() is not None else None
    for index in range(rounds):
        shift = index % len(samples)
        for sample in samples[shift:] + samples[:shift]:
            case = sample.case
            calls_before, events_before = calls_so_far(), case.events()
            elapsed = _run_batch(case, sample.batch)
            sample.per_call.append(elapsed / sample.batch)
            sample.calls += calls_so_far() - calls_before
            sample.iterations += sample.batch
            events_after = case.events()
            if sample.events is not None and events_after is not None:
                sample.events += events_after - (events_before or 0)
        if (index + 1) % max(1, rounds // 5) == 0:
            progress(f"  round {index + 1}/{rounds}")
    for sample in samples:
        sample.problem = sample.case.verify()
    return samples


def median_ratio(a: Sample, b: Sample) -> float:
    return a.median / b.median
