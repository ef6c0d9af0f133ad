"""``metricdsl report``: a per-metric summary of recorded events (JSON lines).

The file is streamed line by line, and what is kept per metric is bounded
whatever the size of the file:

- durations: kept exactly up to ``EXACT_LIMIT`` per metric; past that they go
  into a DDSketch (``ddsketch``) with 1% relative accuracy, so a percentile is
  within 1% of the true value at its rank, in a few kilobytes;
- reasons: counted exactly for up to ``REASON_SLOTS`` distinct reasons per
  metric; past that the Space-Saving algorithm keeps the most frequent ones
  (a count may then be over-estimated, and is shown with ``~``);
- a line longer than ``MAX_LINE`` bytes is skipped without being held.

Percentiles are by nearest rank: p95 is the smallest duration that at least
95% of the durations do not exceed. The maximum is always exact.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import IO, Any, Final, TextIO

__all__ = [
    "EXACT_LIMIT",
    "MAX_LINE",
    "REASON_SLOTS",
    "Summary",
    "render_json",
    "render_table",
]

EXACT_LIMIT: Final = 2048
REASON_SLOTS: Final = 64
MAX_LINE: Final = 1 << 20
RELATIVE_ACCURACY: Final = 0.01
#: at most this many malformed lines are listed on stderr (all are counted)
LISTED_PROBLEMS: Final = 100


def _loads() -> Callable[[bytes], Any]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is optional
        import json

        return json.loads
    return orjson.loads


class Durations:
    """Durations of one metric: exact while few, then a DDSketch."""

    __slots__ = ("count", "exact", "max", "min", "sketch")

    def __init__(self) -> None:
        self.count = 0
        self.exact: array[float] | None = array("d")
        self.sketch: Any = None
        self.max = -math.inf
        self.min = math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.max = max(self.max, value)
        self.min = min(self.min, value)
        exact = self.exact
        if exact is not None:
            exact.append(value)
            if len(exact) > EXACT_LIMIT:
                from ddsketch import LogCollapsingLowestDenseDDSketch

                self.sketch = LogCollapsingLowestDenseDDSketch(
                    relative_accuracy=RELATIVE_ACCURACY, bin_limit=2048
                )
                for kept in exact:
                    self.sketch.add(kept)
                self.exact = None
        else:
            self.sketch.add(value)

    def percentile(self, q: float) -> float | None:
        """The nearest-rank percentile ``q`` (0 < q <= 1), or None if empty."""
        n = self.count
        if n == 0:
            return None
        rank = max(1, math.ceil(q * n))  # 1-based
        if self.exact is not None:
            return sorted(self.exact)[rank - 1]
        # ddsketch answers for the 0-based rank q' * (n - 1), counting a bucket
        # once its cumulative count exceeds it; aim at the middle of our rank.
        target = min(1.0, (rank - 0.5) / (n - 1))
        value = float(self.sketch.get_quantile_value(target))
        return min(max(value, self.min), self.max)

    @property
    def is_exact(self) -> bool:
        return self.exact is not None


class Reasons:
    """The most frequent reasons, in bounded memory (Space-Saving)."""

    __slots__ = ("counts", "exact")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.exact = True

    def add(self, reason: str) -> None:
        counts = self.counts
        if reason in counts:
            counts[reason] += 1
        elif len(counts) < REASON_SLOTS:
            counts[reason] = 1
        else:  # replace the least frequent; the newcomer inherits its count
            victim = min(counts, key=counts.__getitem__)
            counts[reason] = counts.pop(victim) + 1
            self.exact = False

    def top(self, n: int) -> list[tuple[str, int]]:
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return ordered[:n]


class MetricSummary:
    __slots__ = ("cancelled", "count", "durations", "failed", "name", "reasons")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.failed = 0
        self.cancelled = 0
        self.durations = Durations()
        self.reasons = Reasons()


class Summary:
    """What ``report`` has read so far, from one or more files."""

    def __init__(self) -> None:
        self.metrics: dict[str, MetricSummary] = {}
        self.events = 0
        self.skipped = 0
        self.files: list[str] = []
        self._loads = _loads()

    def read(self, stream: IO[bytes], name: str, problems: TextIO) -> None:
        """Add the events of a binary stream; report malformed lines."""
        self.files.append(name)
        number = 0
        while True:
            line = stream.readline(MAX_LINE)
            if not line:
                return
            number += 1
            if len(line) == MAX_LINE and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # drop the rest of it
                    line = stream.readline(MAX_LINE)
                self._skip(problems, name, number, f"longer than {MAX_LINE} bytes")
                continue
            if not line.strip():
                continue
            why = self._add(line)
            if why is not None:
                self._skip(problems, name, number, why)

    def _skip(self, problems: TextIO, name: str, number: int, why: str) -> None:
        self.skipped += 1
        if self.skipped <= LISTED_PROBLEMS:
            print(f"{name}:{number}: skipped: {why}", file=problems)
        elif self.skipped == LISTED_PROBLEMS + 1:
            print(
                f"{name}:{number}: skipped; further malformed lines are counted "
                "but not listed",
                file=problems,
            )

    def _add(self, line: bytes) -> str | None:
        """Add one event; the reason it is malformed, or None."""
        try:
            event = self._loads(line)
        except ValueError as error:  # also UnicodeDecodeError
            return f"not JSON ({_first_line(error)})"
        if not isinstance(event, dict):
            return f"not a JSON object but {type(event).__name__}"
        name = event.get("metricName")
        if not isinstance(name, str) or not name:
            return "no metricName"
        duration = event.get("duration")
        if duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, (int, float))
            or not math.isfinite(duration)
        ):
            return f"duration is not a finite number: {duration!r}"
        result = event.get("result")
        reason = event.get("reason")
        for key, value in (("result", result), ("reason", reason)):
            if value is not None and not isinstance(value, str):
                return f"{key} is not a string: {value!r}"
        metric = self.metrics.get(name)
        if metric is None:
            metric = self.metrics[name] = MetricSummary(name)
        self.events += 1
        metric.count += 1
        if result == "Failed":
            metric.failed += 1
        elif result == "Cancelled":
            metric.cancelled += 1
        if duration is not None:
            metric.durations.add(float(duration))
        if reason:
            metric.reasons.add(reason)
        return None

    def ordered(self) -> list[MetricSummary]:
        """Most frequent metrics first, then by name."""
        return sorted(self.metrics.values(), key=lambda m: (-m.count, m.name))


def _first_line(error: Exception) -> str:
    text = str(error).splitlines()
    return text[0] if text else type(error).__name__


# -- output -------------------------------------------------------------------------


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _shown(text: str) -> str:
    """Text from the file, for a terminal: control characters as ``repr`` writes
    them, so that none moves the cursor or breaks a row."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _reasons_text(metric: MetricSummary, top: int) -> str:
    mark = "" if metric.reasons.exact else "~"
    return ", ".join(f"{_shown(r)} ({mark}{c})" for r, c in metric.reasons.top(top))


def render_table(summary: Summary, *, top: int) -> str:
    header = (
        "metric",
        "count",
        "failed",
        "cancelled",
        "p50 ms",
        "p95 ms",
        "max ms",
        "top reasons",
    )
    rows = [header]
    approximate = False
    for metric in summary.ordered():
        durations = metric.durations
        approximate |= not durations.is_exact
        rows.append(
            (
                _shown(metric.name),
                str(metric.count),
                f"{_percent(metric.failed, metric.count):.1f}%",
                f"{_percent(metric.cancelled, metric.count):.1f}%",
                _ms(durations.percentile(0.50)),
                _ms(durations.percentile(0.95)),
                _ms(durations.max if durations.count else None),
                _reasons_text(metric, top),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i in (0, len(header) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    skipped = summary.skipped
    footer = (
        f"{summary.events} event{'' if summary.events == 1 else 's'} in "
        f"{len(summary.metrics)} metric{'' if len(summary.metrics) == 1 else 's'}; "
        f"{skipped} malformed line{'' if skipped == 1 else 's'} skipped. "
        "Percentiles by nearest rank"
    )
    if approximate:
        footer += f" (within {RELATIVE_ACCURACY:.0%} past {EXACT_LIMIT} durations)"
    lines += ["", footer + "."]
    return "\n".join(lines) + "\n"


def render_json(summary: Summary, *, top: int) -> dict[str, Any]:
    metrics = []
    for metric in summary.ordered():
        durations = metric.durations
        metrics.append(
            {
                "metric": metric.name,
                "count": metric.count,
                "failed": metric.failed,
                "cancelled": metric.cancelled,
                "failedPercent": _percent(metric.failed, metric.count),
                "cancelledPercent": _percent(metric.cancelled, metric.count),
                "durationMs": {
                    "count": durations.count,
                    "p50": durations.percentile(0.50),
                    "p95": durations.percentile(0.95),
                    "max": durations.max if durations.count else None,
                    "exact": durations.is_exact,
                },
                "topReasons": [
                    {"reason": reason, "count": count}
                    for reason, count in metric.reasons.top(top)
                ],
                "reasonsExact": metric.reasons.exact,
            }
        )
    return {
        "files": summary.files,
        "events": summary.events,
        "skipped": summary.skipped,
        "percentiles": "nearest rank",
        "metrics": metrics,
    }
