"""The machine and versions, the targets, and the Markdown of RESULTS.md."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata

from startup import Timed
from timing import Sample

__all__ = ["Target", "delivery", "environment", "render"]

_DISTRIBUTIONS = (
    "metricdsl",
    "structlog",
    "PyYAML",
    "wrapt",
    "orjson",
    "opentelemetry-sdk",
    "eliot",
    "prometheus-client",
)


@dataclass
class Target:
    """One ratio of the issue's table, measured in this run."""

    what: str
    limit: float
    median: float | None  # ratio of the medians (decides PASS / FAIL)
    minimum: float | None = None  # ratio of the minimums, for context
    why_missing: str = ""

    @property
    def verdict(self) -> str:
        if self.median is None:
            return "not measured"
        return "PASS" if self.median <= self.limit else "FAIL"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "../metricdsl"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (metricdsl/ modified)" if dirty else "")


def environment() -> list[tuple[str, str]]:
    """What the figures depend on: machine, interpreter, library versions."""
    import yaml

    versions = []
    for name in _DISTRIBUTIONS:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [
        (
            "Date",
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        ),
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores ({affinity} usable)"),
        ("System", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Libraries", ", ".join(versions)),
        ("libyaml", "yes (CSafeLoader)" if yaml.__with_libyaml__ else "no"),
        ("metricdsl commit", _git_commit()),
        (
            "Validation mode",
            "`warn` (the production default), set by `METRICDSL_VALIDATION=warn` "
            'and `configure(validation="warn")`',
        ),
    ]


def _ns(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1e6:,.1f} ms"
    if abs(value) >= 10_000:
        return f"{value / 1e3:,.1f} µs"
    return f"{value:,.0f} ns"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _precise(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _targets(targets: Sequence[Target]) -> list[str]:
    lines = [
        "| what | ratio (medians) | ratio (minimums) | target | result |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for t in targets:
        verdict = f"**{t.verdict}**" + (f" ({t.why_missing})" if t.why_missing else "")
        lines.append(
            f"| {t.what} | {_precise(t.median)} | {_precise(t.minimum)} "
            f"| at most {t.limit:g} | {verdict} |"
        )
    return lines


def _hot_path(samples: Sequence[Sample], floors: dict[str, Sample]) -> list[str]:
    lines = [
        "| # | case | median | min | × plain call | × wrapt | calls "
        "| reached the sink | check |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    plain, wrapt = floors.get("plain"), floors.get("wrapt")
    for index, s in enumerate(samples, 1):
        reached = (
            "no sink"
            if s.events is None and s.case.expected_per_call == 0
            else f"{s.events:,} {s.case.event_unit}"
            if s.events is not None
            else "not countable here"
        )
        check = "ok" if s.verified else f"**MISMATCH** {s.problem or ''}".strip()
        label = s.case.label + (f" <br>*{s.case.note}*" if s.case.note else "")
        lines.append(
            f"| {index} | {label} | {_ns(s.median)} | {_ns(s.minimum)} "
            f"| {_ratio(s.median / plain.median) if plain else '-'} "
            f"| {_ratio(s.median / wrapt.median) if wrapt else '-'} "
            f"| {s.calls:,} | {reached} | {check} |"
        )
    return lines


def _matrix(samples: Sequence[Sample]) -> list[str]:
    head = "| row ÷ column | " + " | ".join(str(i) for i in range(1, len(samples) + 1))
    lines = [head + " |", "| --- |" + " ---: |" * len(samples)]
    for index, row in enumerate(samples, 1):
        cells = " | ".join(_ratio(row.median / col.median) for col in samples)
        lines.append(f"| {index} {row.case.key} | {cells} |")
    return lines


def _timed_table(rows: Sequence[Timed], base: Timed | None = None) -> list[str]:
    lines = ["| what | median | min | runs |", "| --- | ---: | ---: | ---: |"]
    if base is not None:
        lines[0] = "| what | median | min | runs | net of start-up (median) |"
        lines[1] = "| --- | ---: | ---: | ---: | ---: |"
    for t in rows:
        line = f"| {t.label} | {_ns(t.median)} | {_ns(t.minimum)} | {len(t.times)} |"
        if base is not None:
            net = "-" if t is base else _ns(t.median - base.median)
            line += f" {net} |"
        lines.append(line)
    return lines


def _dropped(value: object) -> str:
    if isinstance(value, dict):
        shown = [f"{reason} {n:,}" for reason, n in value.items() if n]
        return ", ".join(shown) or "0"
    return f"{value:,}" if isinstance(value, int) else str(value)


def delivery(output: str) -> str:
    """The figures ``bench/delivery.py --json`` printed, as Markdown; what
    cannot be read as expected is shown as it came."""
    try:
        figures = json.loads(output)
        flow, memory = figures["throughput"], figures["memory"]
        lines = [
            "Measured by `bench/delivery.py` (fresh processes, a local receiver "
            'on 127.0.0.1, `protocol="json"`).',
            "",
            "| what | figure | target |",
            "| --- | ---: | ---: |",
            f"| throughput to the receiver | {flow['events_per_second']:,} events/s "
            f"({flow['delivered']:,} of {flow['events']:,} in {flow['seconds']} s) "
            "| at least 50,000/s |",
        ]
        for cost in figures["emit_cost"]:
            lines.append(
                f"| `emit()`, {cost['mode']} | {cost['microseconds_per_emit']} µs "
                f"(queued {cost['queued']:,}, outbox {cost['outbox_pending']:,}, "
                f"dropped {_dropped(cost['dropped'])}) | |"
            )
        lines.append(
            f"| memory, backend down, {memory['emits']:,} emits | "
            f"+{memory['peak_above_baseline_mib']} MiB peak (queued "
            f"{memory['queued']:,}, dropped {_dropped(memory['dropped'])}) "
            "| under 64 MB |"
        )
        return "\n".join(lines)
    except (ValueError, KeyError, TypeError):
        return f"`bench/delivery.py` printed:\n\n```\n{output.strip()}\n```"


def render(
    *,
    env: list[tuple[str, str]],
    run_notes: list[str],
    targets: Sequence[Target],
    samples: Sequence[Sample],
    skipped: Sequence[str],
    load: tuple[Timed, Timed, str] | str,
    imports: list[Timed],
    delivery: str,
    quick: bool,
) -> str:
    floors = {s.case.key: s for s in samples if s.case.group == "floor"}
    out = ["# metricdsl benchmark results", ""]
    if quick:
        out += ["> **Quick smoke run (`--quick`): the figures are rough.**", ""]
    out += [
        "Written by `make bench` (`bench/run.py`); not part of `make test`. "
        "All figures come from one process and one run, the cases interleaved "
        "round by round; see *Method* at the end.",
        "",
        "## Machine and versions",
        "",
    ]
    out += [f"- **{key}**: {value}" for key, value in env]
    out += [f"- **Run**: {note}" for note in run_notes]
    out += ["", "## Targets (ratios in this run)", ""]
    out += _targets(targets)
    out += [
        "",
        "## Hot path: time per call",
        "",
        "Each case calls the same trivial function `work()` (it counts its calls). "
        "*calls*: how often `work()` ran in the timed batches; *reached the sink*: "
        "what the case's sink counted in those batches; *check*: both match the "
        "number of iterations and the last event carries its field.",
        "",
    ]
    out += _hot_path(samples, floors)
    if skipped:
        out += [""] + [f"- {line}" for line in skipped]
    out += ["", "### Ratio matrix (medians: row ÷ column)", ""]
    out += _matrix(samples)
    out += ["", "## Loading definitions", ""]
    if isinstance(load, str):
        out += [load]
    else:
        ours, bare, note = load
        out += _timed_table([ours, bare])
        out += ["", f"{note}. The bare parse is given the text already read."]
    out += ["", "## Import time (fresh processes, wall)", ""]
    out += _timed_table(imports, base=imports[0] if imports else None)
    out += ["", "## Delivery", "", delivery, ""]
    out += [
        "## Method",
        "",
        "- Time per call: a batch is `for _ in itertools.repeat(None, n): case()`, "
        "timed with `time.perf_counter_ns()`; the loop's own cost is not subtracted "
        "(the *plain call* floor shows it). A batch is sized to take about the same "
        "time in every case; every round runs one batch of every case, the order "
        "rotating from round to round; *median* and *min* are over the rounds.",
        "- Set-up that is not per call (`metricdsl.configure(sinks=...)`, "
        "`configure(enabled=False)`) happens between batches, untimed; "
        "`metricdsl.flush()` of the JSON-lines case is inside its batch, so "
        "rendering and writing are paid in full.",
        "- The garbage collector stays on (as in production); `gc.collect()` runs "
        "before every batch.",
        "- Peers are set up as their documentation advises for speed: structlog as on "
        "its *Performance* page (filtering bound logger, `BytesLoggerFactory`, orjson "
        "renderer, cached logger); OpenTelemetry with a `SimpleSpanProcessor`, so "
        "that the span reaches its exporter on the caller's thread as metricdsl's "
        "event reaches its sink (a `BatchSpanProcessor` would hand it to a thread); "
        "Eliot and OpenTelemetry with sinks that only count.",
        "",
    ]
    return "\n".join(out)
