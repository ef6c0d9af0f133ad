"""Profile one of metricdsl's hot paths for a long run (see bench/PROFILE.md).

    python bench/profile_hot.py run    --profiler cprofile      # @run + record()
    python bench/profile_hot.py jsonl  --profiler pyinstrument  # JSON lines
    python bench/profile_hot.py emit   --profiler none --seconds 20  # for py-spy:
    py-spy record --rate 2000 -f speedscope -o emit.json -- \\
        python bench/profile_hot.py emit --profiler none --seconds 20
    python bench/profile_hot.py steps  # each step of the hot path timed alone
    python bench/profile_hot.py spy run  # py-spy on the case, summed per line

The cases are those of bench/cases.py (the same function, the same sinks);
cProfile adds its own cost to every Python call, so its totals read high: use
its *shares*, and the ``steps`` breakdown or py-spy for absolute ns.
pyinstrument and py-spy are not in the ``bench`` extra; install them by hand.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import itertools
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

os.environ["METRICDSL_VALIDATION"] = "warn"
os.environ.pop("METRICDSL_DEFINITIONS", None)

import cases  # after the environment is set


def _case(name: str) -> tuple[Callable[[], object], Callable[[], None]]:
    """The call to repeat and the work that ends a batch (flush)."""
    by_key = {c.key: c for c in cases.metricdsl_cases()}
    case = by_key[{"run": "md_run", "jsonl": "md_jsonl", "emit": "md_emit"}[name]]
    case.setup()
    return case.call, case.finish


def _loop(
    call: Callable[[], object], finish: Callable[[], None], seconds: float
) -> int:
    """Call in batches of 4096 (finishing each) until ``seconds`` pass."""
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in itertools.repeat(None, 4096):
            call()
        finish()
        done += 4096
    return done


def profile(name: str, profiler: str, seconds: float) -> None:
    call, finish = _case(name)
    _loop(call, finish, 0.5)  # warm up
    if profiler == "cprofile":
        prof = cProfile.Profile()
        prof.enable()
        calls = _loop(call, finish, seconds)
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).sort_stats("tottime")
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        print(f"{name}: {calls:,} calls; cProfile total {total / calls * 1e9:,.0f} ns")
        print("own time per call of the case (ns), share, function:")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
        for (path, line, func), (_, ncalls, tottime, _cum, _) in rows[:25]:
            where = f"{os.path.basename(path)}:{line}({func})"
            print(
                f"{tottime / calls * 1e9:8.0f} ns {tottime / total:6.1%} "
                f"{ncalls / calls:5.2f}x  {where}"
            )
    elif profiler == "pyinstrument":
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0001)
        prof.start()
        calls = _loop(call, finish, seconds)
        prof.stop()
        print(f"{name}: {calls:,} calls")
        print(prof.output_text(unicode=True, color=False, show_all=False))
    else:
        started = time.perf_counter()
        calls = _loop(call, finish, seconds)
        elapsed = time.perf_counter() - started
        print(f"{name}: {calls:,} calls, {elapsed / calls * 1e9:,.0f} ns per call")


# -- the steps of the hot path, each timed alone -------------------------------------


def _per_call(action: Callable[[], object], n: int = 200_000) -> float:
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter_ns()
        for _ in itertools.repeat(None, n):
            action()
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def steps() -> None:
    """ns per step of ``@run`` + ``record()`` and ``emit()``, each timed alone
    (the empty loop subtracted), to rank where the time goes."""
    import metricdsl
    from metricdsl import _pipeline, _sinks, _span

    sink = cases.CountingSink()
    metricdsl.configure(validation="warn", enabled=True, sinks=[sink])
    metric = metricdsl.telemetry.metric_setupThing
    checker = metric._checker
    fields = {"component": "editor"}
    span = _span.started(metric, {})
    span._record(dict(fields))
    span._finish(None)
    event = dict(sink.last or {})
    empty = _per_call(lambda: None)

    def begin_and_reset() -> None:
        s = _span.started(metric, {})
        _span.reset_current(s._token)

    def event_only() -> None:
        e = metric._span_event | fields
        e["epochTimestamp"] = 0
        e["duration"] = 0.5
        e["traceId"] = span.trace_id
        e["metricId"] = span.metric_id

    def finish_whole() -> None:
        s = _span.started(metric, {"component": "editor"})
        s._finish(None)

    rows: list[tuple[str, Callable[[], object]]] = [
        ("Span(metric, {}) (object creation)", lambda: _span.Span(metric, {})),
        ("fields.copy() of the decorator's fields", lambda: {}.copy()),
        ("started() (ids, clocks, ContextVar.set) + reset", begin_and_reset),
        (
            "  both ids: getrandbits(192).to_bytes().hex() sliced",
            lambda: _span._bits(192).to_bytes(24, "big").hex()[:32],
        ),
        ("  new span id: getrandbits(64).to_bytes().hex()", _span.new_span_id),
        ("  time.time_ns() // 1_000_000", lambda: time.time_ns() // 1_000_000),
        ("  time.perf_counter_ns()", time.perf_counter_ns),
        ("record(component=...) (find span, check, store)", None),
        ("  Checker.check({'component': 'editor'})", lambda: checker.check(fields)),
        ("the event dict (shape | fields, four stores)", event_only),
        ("dispatch(event) to one counting sink", lambda: _pipeline.dispatch(event)),
        ("  the counting sink's write(event)", lambda: sink.write(event)),
        ("started() + _finish (a whole span, no record)", finish_whole),
        ("emit(component=...) whole", lambda: metric.emit(component="editor")),
        (
            "orjson dumps(event) (the jsonl sink's rendering)",
            lambda: _sinks.dumps(event),
        ),
    ]
    token = _span.set_current(span)  # record() needs a live span of the metric
    span._phase = _span._LIVE
    rows[7] = (rows[7][0], lambda: metric.record(component="editor"))
    try:
        print(f"empty loop: {empty:.0f} ns (subtracted below)")
        for label, action in rows:
            assert action is not None
            print(f"{_per_call(action) - empty:8.0f} ns  {label}")
    finally:
        _span.reset_current(token)

    @metric.run
    def run_and_record() -> None:
        cases.work()
        metric.record(component="editor")

    whole = _per_call(run_and_record)
    print(f"{whole - empty:8.0f} ns  @run + record() whole (for comparison)")


# -- py-spy, summed ------------------------------------------------------------------


def spy(name: str, seconds: float, top: int = 30) -> None:
    """Sample the case with py-spy (out of process, so the run keeps its speed),
    then sum the samples per function (inclusive) and per source line (own)."""
    exe = shutil.which("py-spy") or os.path.join(
        os.path.dirname(sys.executable), "py-spy"
    )
    with tempfile.TemporaryDirectory() as folder:
        raw = os.path.join(folder, "samples.txt")
        # Blocking samples (py-spy pauses the process for each): unbiased, and
        # at 250 a second they slow the run by a few per cent only.
        argv = [exe, "record", "--rate", "250", "-f", "raw", "-o", raw, "--"]
        argv += [sys.executable, os.path.abspath(__file__), name]
        argv += ["--profiler", "none", "--seconds", str(seconds)]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        with open(raw, encoding="utf-8") as stream:
            samples = stream.read().splitlines()
    speed = re.search(r"^\w+: [\d,]+ calls, ([\d,]+) ns per call", done.stdout, re.M)
    ns = float(speed.group(1).replace(",", "")) if speed else 0.0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for sample in samples:
        stack, _, count = sample.rpartition(" ")
        frames = stack.split(";")
        if not any(f.startswith("_loop ") for f in frames):
            continue  # set-up, not the timed loop
        n = int(count)
        total += n
        inside = frames[[f.startswith("_loop ") for f in frames].index(True) + 1 :]
        for function in {re.sub(r":\d+\)$", ")", f) for f in inside}:
            inclusive[function] += n
        if inside:
            own[inside[-1]] += n
    print(f"{speed.group(0) if speed else name}; {total:,} py-spy samples in the loop")
    for title, counter in (
        ("inclusive, per function", inclusive),
        ("own, per line", own),
    ):
        print(f"\n{title} (share of the loop, ns per call):")
        for where, n in counter.most_common(top):
            print(f"{n / total:6.1%} {n / total * ns:7.0f} ns  {where}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=["run", "jsonl", "emit", "steps", "spy"])
    parser.add_argument("spied", nargs="?", choices=["run", "jsonl", "emit"])
    parser.add_argument(
        "--profiler", choices=["cprofile", "pyinstrument", "none"], default="cprofile"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.case == "steps":
        steps()
    elif args.case == "spy":
        spy(args.spied or "run", args.seconds)
    else:
        profile(args.case, args.profiler, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
