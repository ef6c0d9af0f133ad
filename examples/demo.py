"""The design-document scenario, on metricdsl's default definitions.

``setup_thing()`` runs in a span of ``metric_setupThing``, records a first
state, and calls nested steps; one of them fails deep down and records a
specific reason. The events appear on the console (stderr) as they are emitted
and are left in ``demo-events.jsonl``; at the end the demo prints them as a
tree, children under their parents.

They are also delivered over HTTP to a small local receiver
(``examples/receiver.py`` on 127.0.0.1), which fails the first requests on
purpose (a 503, then a reset connection): the sender retries, and the receiver
shows the batches arriving.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import metricdsl

OUT = Path(os.environ.get("METRICDSL_DEMO_OUT", "demo-events.jsonl"))

metricdsl.configure(sinks=["log", f"jsonl:{OUT}"], validation="warn")
telemetry = metricdsl.telemetry  # built from the default definitions.yaml


class TemplateNotFound(Exception):
    code = "TemplateNotFound"  # becomes the event's reason


@telemetry.metric_setupStep.run(step="downloadTemplate")
def download_template(name: str) -> bytes:
    telemetry.metric_setupStep.record(attempt=1)
    return fetch(f"https://templates.example.com/{name}.zip")


def fetch(url: str) -> bytes:
    # Deep down, far from any span object: say precisely why it failed.
    if "broken" in url:
        telemetry.metric_setupThing.record(reason="templateMissing")
        raise TemplateNotFound(f"no template at {url} (token=s3cr3t)")
    with telemetry.metric_downloadTemplate.span() as span:
        time.sleep(0.02)  # the download
        span.record(byteCount=2048, httpStatusCode="200")
    return b"PK..."


@telemetry.metric_setupStep.run(step="writeFiles")
def write_files(payload: bytes) -> int:
    count = 3
    time.sleep(0.005)  # writing them
    telemetry.metric_setupStep.record(fileCount=count)
    return count


@telemetry.metric_setupThing.run
def setup_thing(name: str) -> int:
    telemetry.metric_setupThing.record(component="editor", thingName=name)
    with telemetry.metric_setupStep.span(step="resolveConfig"):
        time.sleep(0.002)  # reading the configuration
    payload = download_template(name)
    return write_files(payload)


def show_tree(path: Path) -> None:
    events = [json.loads(line) for line in path.read_text().splitlines() if line]
    children: dict[str | None, list[dict[str, object]]] = {}
    for event in events:
        children.setdefault(event.get("parentId"), []).append(event)  # type: ignore[arg-type]

    def show(event: dict[str, object], depth: int) -> None:
        detail = f"reason={event['reason']}" if "reason" in event else ""
        print(
            f"{'    ' * depth}{event['metricName']:<26} {event.get('result', '-'):<9} "
            f"{float(event.get('duration', 0.0)):7.2f} ms  "  # type: ignore[arg-type]
            f"id={event['metricId']} parent={event.get('parentId', '-')} {detail}"
        )
        for child in sorted(
            children.get(str(event["metricId"]), []), key=lambda e: e["epochTimestamp"]
        ):  # type: ignore[arg-type, return-value]
            show(child, depth + 1)

    for root in children.get(None, []):
        show(root, 0)


def start_receiver() -> tuple[subprocess.Popen[str], threading.Thread]:
    """examples/receiver.py in its own process; its lines are shown as they come."""
    receiver = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("receiver.py")),
            "--faults=503,reset",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    url = receiver.stdout.readline().split()[-1]
    lines = receiver.stdout
    shown = threading.Thread(
        target=lambda: [print(line, end="") for line in lines], daemon=True
    )
    shown.start()
    # Send to it: small batches, quickly, so the demo shows them arriving.
    metricdsl.configure(endpoint=url, flush_interval=0.2)
    print(f"-- sending the events to a local receiver at {url} --", file=sys.stderr)
    return receiver, shown


def main() -> None:
    OUT.unlink(missing_ok=True)
    receiver, shown = start_receiver()
    print("-- events as they are emitted (the log sink, on stderr) --", file=sys.stderr)
    setup_thing("good")
    try:
        setup_thing("broken")
    except TemplateNotFound as error:
        print(
            f"-- setup_thing('broken') raised, as it should: {error!r}", file=sys.stderr
        )
    delivered = metricdsl.flush(timeout=15)
    receiver.terminate()
    receiver.wait(5)
    shown.join(5)  # every line the receiver printed is on the screen
    print(f"-- delivered to the receiver through the injected failures: {delivered}")
    print(f"\n-- the same events, read back from {OUT}, as a tree --")
    show_tree(OUT)
    print(f"\nstats: {metricdsl.stats()}")


if __name__ == "__main__":
    main()
