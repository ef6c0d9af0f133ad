"""Delivery benchmark: what the network sender costs and how much it carries.

    python bench/delivery.py [--events 200000] [--emits 1000000] [--json]

Each figure is measured in a fresh Python process (so one does not warm up or
inflate the next), against a local receiver (``examples/receiver.py``) in a
process of its own on 127.0.0.1:

- throughput: events per second from the first ``emit`` until the receiver has
  acknowledged all of them (``protocol="json"``; target >= 50,000/s);
- the caller's cost of one ``emit`` with no endpoint, and with the backend down
  (nothing listens on the port), without and with an outbox;
- peak memory above the baseline while the backend is down for 1,000,000
  emits (target < 64 MB, bounded by ``max_queue`` / ``max_queue_bytes``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RECEIVER = os.path.join(ROOT, "examples", "receiver.py")


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, RECEIVER, "--quiet"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().split()[-1]
    return process, url


def receiver_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats", timeout=10) as answer:
        figures: dict[str, int] = json.load(answer)
    return figures


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- the cases, each run in its own process ------------------------------------------


def case_throughput(events: int) -> dict[str, Any]:
    import metricdsl

    process, url = start_receiver()
    try:
        # a queue that holds them all: what is measured is delivery, not drops
        metricdsl.configure(
            endpoint=url,
            sinks=["null"],
            validation="warn",
            max_queue=events,
            max_queue_bytes=1 << 30,
        )
        metric = metricdsl.telemetry.metric_setupThing
        metric.emit(component="editor")  # load the definitions, start the worker
        metricdsl.flush(10)
        before = receiver_stats(url)["events"]
        started = time.perf_counter()
        for _ in range(events):
            metric.emit(component="editor", thingName="bench")
        emitted = time.perf_counter()
        flushed = metricdsl.flush(120)
        done = time.perf_counter()
        delivered = receiver_stats(url)["events"] - before
        stats = metricdsl.stats()
    finally:
        metricdsl.shutdown(2)
        process.terminate()
        process.wait(10)
    return {
        "events": events,
        "delivered": delivered,
        "flushed": flushed,
        "seconds": round(done - started, 3),
        "events_per_second": round(delivered / (done - started)),
        "emit_loop_seconds": round(emitted - started, 3),
        "dropped": {k: v for k, v in stats["dropped"].items() if v},
    }


def _emit_cost(count: int, **settings: Any) -> float:
    import metricdsl

    metricdsl.configure(sinks=["null"], validation="warn", **settings)
    metric = metricdsl.telemetry.metric_setupThing
    for _ in range(1000):  # warm up: definitions loaded, sender started
        metric.emit(component="editor")
    started = time.perf_counter()
    for _ in range(count):
        metric.emit(component="editor", thingName="bench")
    return (time.perf_counter() - started) / count * 1e6


def case_emit_cost(count: int, mode: str) -> dict[str, Any]:
    import metricdsl

    if mode == "no endpoint":
        micros = _emit_cost(count)
    elif mode == "backend down":
        micros = _emit_cost(count, endpoint=closed_port_url())
    else:
        with tempfile.TemporaryDirectory() as folder:
            micros = _emit_cost(
                count,
                endpoint=closed_port_url(),
                outbox=os.path.join(folder, "outbox.db"),
            )
            stats = metricdsl.stats()
            metricdsl.shutdown(0.5)
    if mode != "backend down, outbox":
        stats = metricdsl.stats()
    metricdsl.shutdown(0.5)
    return {
        "mode": mode,
        "emits": count,
        "microseconds_per_emit": round(micros, 2),
        "queued": stats["queued"],
        "outbox_pending": stats["outbox_pending"],
        "dropped": {k: v for k, v in stats["dropped"].items() if v},
    }


def case_memory(emits: int) -> dict[str, Any]:
    import metricdsl

    metricdsl.configure(endpoint=closed_port_url(), sinks=["null"], validation="warn")
    metric = metricdsl.telemetry.metric_setupThing
    for _ in range(1000):
        metric.emit(component="editor")
    baseline = peak = rss_kib()
    started = time.perf_counter()
    for number in range(emits):
        metric.emit(component="editor", thingName="bench")
        if number % 10_000 == 0:
            peak = max(peak, rss_kib())
    seconds = time.perf_counter() - started
    peak = max(peak, rss_kib())
    stats = metricdsl.stats()
    metricdsl.shutdown(0.2)
    return {
        "emits": emits,
        "baseline_mib": round(baseline / 1024, 1),
        "peak_above_baseline_mib": round((peak - baseline) / 1024, 1),
        "queued": stats["queued"],
        "dropped": {k: v for k, v in stats["dropped"].items() if v},
        "seconds": round(seconds, 2),
    }


def run_case(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--case", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "METRICDSL_EXIT_TIMEOUT": "0.5"},
    )
    if done.returncode != 0:
        raise SystemExit(f"case {args} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--emits", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.pop("CI", None)  # measure sending, not CI suppression

    if args.case:
        name, *rest = args.case
        if name == "throughput":
            result = case_throughput(int(rest[0]))
        elif name == "emit":
            result = case_emit_cost(int(rest[0]), rest[1])
        else:
            result = case_memory(int(rest[0]))
        print(json.dumps(result))
        return

    results = {
        "throughput": run_case("throughput", str(args.events)),
        "emit_cost": [
            run_case("emit", "200000", "no endpoint"),
            run_case("emit", "200000", "backend down"),
            run_case("emit", "20000", "backend down, outbox"),
        ],
        "memory": run_case("memory", str(args.emits)),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    flow = results["throughput"]
    print("metricdsl delivery benchmark (protocol=json, receiver on 127.0.0.1)")
    print(
        f"  throughput: {flow['events_per_second']:,} events/s delivered "
        f"({flow['delivered']:,} of {flow['events']:,} in {flow['seconds']} s; "
        f"emit loop {flow['emit_loop_seconds']} s; target >= 50,000/s)"
    )
    for cost in results["emit_cost"]:
        print(
            f"  emit, {cost['mode']:<22} {cost['microseconds_per_emit']:>7} us/emit"
            f"  (queued {cost['queued']}, outbox {cost['outbox_pending']},"
            f" dropped {cost['dropped']})"
        )
    memory = results["memory"]
    print(
        f"  memory, backend down, {memory['emits']:,} emits: "
        f"+{memory['peak_above_baseline_mib']} MiB peak above a baseline of "
        f"{memory['baseline_mib']} MiB (queued {memory['queued']}, dropped "
        f"{memory['dropped']}; target < 64 MB)"
    )


if __name__ == "__main__":
    main()
