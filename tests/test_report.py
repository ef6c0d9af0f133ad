"""``metricdsl report``: per-metric counts, rates, nearest-rank percentiles and
reasons from a JSON-lines file, read as a stream in bounded memory; malformed
lines reported and skipped."""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path

import pytest

import metricdsl
from metricdsl._report import (
    EXACT_LIMIT,
    MAX_LINE,
    REASON_SLOTS,
    Durations,
    Reasons,
    Summary,
    render_json,
    render_table,
)
from metricdsl.cli import main
from tests.conftest import DEFAULT_DEFINITIONS
from tests.test_cli import SCRIPT, run_metricdsl


def event(name: str = "ns_thing", **fields: object) -> str:
    return json.dumps({"metricName": name, **fields})


EVENTS = [
    event(result="Succeeded", duration=10.0),
    event(result="Failed", reason="Timeout", duration=40.0),
    event(result="Cancelled", reason="KeyboardInterrupt", duration=20.0),
    event(result="Failed", reason="Timeout", duration=30.0),
    event("ns_other"),
]


def summarise(lines: list[str]) -> tuple[Summary, str]:
    """The summary of ``lines`` and what it reported on stderr."""
    summary = Summary()
    problems = io.StringIO()
    data = ("\n".join(lines) + "\n").encode()
    summary.read(io.BytesIO(data), "events.jsonl", problems)
    return summary, problems.getvalue()


class TestSummary:
    def test_counts_rates_percentiles_and_reasons(self) -> None:
        summary, problems = summarise(EVENTS)
        assert problems == ""
        data = render_json(summary, top=3)
        assert data["events"] == 5
        assert data["skipped"] == 0
        assert data["metrics"][0] == {
            "metric": "ns_thing",
            "count": 4,
            "failed": 2,
            "cancelled": 1,
            "failedPercent": 50.0,
            "cancelledPercent": 25.0,
            "durationMs": {
                "count": 4,
                "p50": 20.0,
                "p95": 40.0,
                "max": 40.0,
                "exact": True,
            },
            "topReasons": [
                {"reason": "Timeout", "count": 2},
                {"reason": "KeyboardInterrupt", "count": 1},
            ],
            "reasonsExact": True,
        }
        assert data["metrics"][1]["durationMs"]["p50"] is None

    def test_the_table_is_aligned(self) -> None:
        summary, _ = summarise(EVENTS)
        lines = render_table(summary, top=1).splitlines()
        assert lines == [
            "metric    count  failed  cancelled  p50 ms  p95 ms  max ms  top reasons",
            "ns_thing      4   50.0%      25.0%    20.0    40.0    40.0  Timeout (2)",
            "ns_other      1    0.0%       0.0%       -       -       -",
            "",
            "5 events in 2 metrics; 0 malformed lines skipped. "
            "Percentiles by nearest rank.",
        ]

    def test_control_characters_in_the_table_are_escaped(self) -> None:
        """Names and reasons come from the file: no terminal escape sequence or
        line break of theirs reaches the terminal or breaks the rows."""
        summary, _ = summarise([event("ns_\x1b[2Jx", reason="line\nbreak\ttab")])
        lines = render_table(summary, top=1).splitlines()
        assert lines[1] == (
            "ns_\\x1b[2Jx      1    0.0%       0.0%       -       -       -  "
            "line\\nbreak\\ttab (1)"
        )
        json_names = [m["metric"] for m in render_json(summary, top=1)["metrics"]]
        assert json_names == ["ns_\x1b[2Jx"]  # JSON escapes them itself

    def test_malformed_lines_are_reported_with_their_number_and_skipped(
        self,
    ) -> None:
        lines = [
            EVENTS[0],
            "not json",
            "",
            "[1, 2]",
            json.dumps({"result": "Failed"}),
            event(duration="slow"),
            event(duration=True),
            event(reason=3),
            EVENTS[1],
        ]
        summary, problems = summarise(lines)
        assert problems.splitlines()[0].startswith("events.jsonl:2: skipped: not JSON")
        assert problems.splitlines()[1:] == [
            "events.jsonl:4: skipped: not a JSON object but list",
            "events.jsonl:5: skipped: no metricName",
            "events.jsonl:6: skipped: duration is not a finite number: 'slow'",
            "events.jsonl:7: skipped: duration is not a finite number: True",
            "events.jsonl:8: skipped: reason is not a string: 3",
        ]
        assert (summary.events, summary.skipped) == (2, 6)
        assert "2 events in 1 metric; 6 malformed lines skipped." in render_table(
            summary, top=3
        )

    def test_only_the_first_hundred_malformed_lines_are_listed(self) -> None:
        summary, problems = summarise(["x"] * 150)
        assert summary.skipped == 150
        listed = problems.splitlines()
        assert len(listed) == 101
        assert listed[-1] == (
            "events.jsonl:101: skipped; further malformed lines are counted "
            "but not listed"
        )

    def test_a_line_too_long_to_hold_is_skipped_without_loading_it(self) -> None:
        huge = event(reasonDesc="x" * (2 * MAX_LINE))
        summary, problems = summarise([EVENTS[0], huge, EVENTS[1]])
        assert problems == f"events.jsonl:2: skipped: longer than {MAX_LINE} bytes\n"
        assert (summary.events, summary.skipped) == (2, 1)

    def test_several_files_add_up(self) -> None:
        summary = Summary()
        for _ in range(2):
            data = ("\n".join(EVENTS) + "\n").encode()
            summary.read(io.BytesIO(data), "e.jsonl", io.StringIO())
        assert summary.metrics["ns_thing"].count == 8
        assert summary.files == ["e.jsonl", "e.jsonl"]


class TestDurations:
    @pytest.mark.parametrize(
        ("count", "q", "expected"),
        [(20, 0.95, 19.0), (10, 0.95, 10.0), (20, 0.5, 10.0), (1, 0.5, 1.0)],
    )
    def test_exact_nearest_rank(self, count: int, q: float, expected: float) -> None:
        durations = Durations()
        for value in range(count, 0, -1):  # order does not matter
            durations.add(float(value))
        assert durations.percentile(q) == expected
        assert durations.is_exact

    def test_past_the_exact_limit_a_sketch_keeps_1_percent_accuracy(self) -> None:
        rng = random.Random(4)
        values = [rng.lognormvariate(3, 1.5) for _ in range(5 * EXACT_LIMIT)]
        durations = Durations()
        for value in values:
            durations.add(value)
        assert not durations.is_exact
        assert durations.exact is None  # nothing kept per duration any more
        ordered = sorted(values)
        for q in (0.5, 0.95, 0.99):
            truth = ordered[math.ceil(q * len(values)) - 1]
            assert durations.percentile(q) == pytest.approx(truth, rel=0.01)
        assert durations.max == ordered[-1]
        assert durations.percentile(1.0) == ordered[-1]

    def test_the_table_says_when_percentiles_are_approximate(self) -> None:
        lines = [event(duration=float(i)) for i in range(EXACT_LIMIT + 1)]
        summary, _ = summarise(lines)
        assert render_table(summary, top=3).endswith(
            f"Percentiles by nearest rank (within 1% past {EXACT_LIMIT} durations).\n"
        )

    def test_a_sketch_handles_zero_durations(self) -> None:
        durations = Durations()
        for value in [0.0] * (EXACT_LIMIT + 10) + [5.0] * 10:
            durations.add(value)
        assert durations.percentile(0.5) == 0.0
        assert durations.percentile(1.0) == 5.0


class TestReasons:
    def test_exact_while_few(self) -> None:
        reasons = Reasons()
        for reason in ["b", "a", "b", "c"]:
            reasons.add(reason)
        assert reasons.top(2) == [("b", 2), ("a", 1)]
        assert reasons.exact

    def test_bounded_and_keeps_the_frequent_ones_when_many(self) -> None:
        reasons = Reasons()
        for number in range(20 * REASON_SLOTS):
            reasons.add("Timeout")
            reasons.add(f"rare{number}")
        assert len(reasons.counts) == REASON_SLOTS
        assert not reasons.exact
        (top, count), *_ = reasons.top(1)
        assert top == "Timeout"
        assert count >= 20 * REASON_SLOTS  # Space-Saving never under-counts

    def test_approximate_counts_are_marked(self) -> None:
        lines = [event(reason=f"r{i}") for i in range(REASON_SLOTS + 1)]
        summary, _ = summarise(lines)
        assert "(~" in render_table(summary, top=1)


class TestCommand:
    def test_reads_what_the_jsonl_sink_wrote(self, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        metricdsl.configure(sinks=[f"jsonl:{path}"])
        telemetry = metricdsl.load(DEFAULT_DEFINITIONS)
        step = telemetry.metric_setupStep
        for attempt in range(3):
            with step.span(step="writeFiles", attempt=attempt + 1) as span:
                if attempt == 1:
                    span.fail("diskFull")
        with pytest.raises(KeyError), step.span(step="resolveConfig"):
            raise KeyError("x")
        assert metricdsl.flush(timeout=5)
        result = run_metricdsl("report", "--format", "json", str(path))
        data = json.loads(result.stdout)
        (metric,) = data["metrics"]
        assert (metric["metric"], metric["count"], metric["failed"]) == (
            "metric_setupStep",
            4,
            2,
        )
        assert metric["topReasons"] == [
            {"reason": "KeyError", "count": 1},
            {"reason": "diskFull", "count": 1},
        ]
        assert metric["durationMs"]["count"] == 4
        assert metric["durationMs"]["max"] >= metric["durationMs"]["p95"] > 0

    def test_console_script_prints_the_table(self, tmp_path: Path) -> None:
        import subprocess

        path = tmp_path / "events.jsonl"
        path.write_text("\n".join([*EVENTS, "{oops"]) + "\n", encoding="utf-8")
        result = subprocess.run(
            [str(SCRIPT), "report", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0
        assert result.stdout.splitlines()[1].startswith("ns_thing      4   50.0%")
        assert result.stderr.startswith(f"{path}:6: skipped: not JSON")
        assert "1 malformed line skipped" in result.stdout

    def test_reads_standard_input(self) -> None:
        result = run_metricdsl("report", "-", stdin="\n".join(EVENTS) + "\n")
        assert result.returncode == 0
        assert "5 events in 2 metrics" in result.stdout

    def test_top_limits_the_reasons(self, tmp_path: Path) -> None:
        path = tmp_path / "events.jsonl"
        path.write_text("\n".join(EVENTS) + "\n", encoding="utf-8")
        result = run_metricdsl("report", "--top", "1", "--format=json", str(path))
        assert len(json.loads(result.stdout)["metrics"][0]["topReasons"]) == 1

    def test_in_process_table_json_and_stdin(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        path = tmp_path / "events.jsonl"
        path.write_text("\n".join(EVENTS) + "\n", encoding="utf-8")
        assert main(["report", str(path)]) == 0
        table = capsys.readouterr().out
        assert table.startswith("metric    count")
        assert main(["report", "--format", "json", str(path)]) == 0
        assert json.loads(capsys.readouterr().out)["events"] == 5
        data = io.TextIOWrapper(io.BytesIO(path.read_bytes()))
        monkeypatch.setattr("sys.stdin", data)
        assert main(["report", "-"]) == 0
        assert capsys.readouterr().out == table

    def test_an_unreadable_file_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["report", str(tmp_path / "missing.jsonl")]) == 1
        assert "cannot read" in capsys.readouterr().err
