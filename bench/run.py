"""metricdsl's benchmark against peer libraries: ``make bench``.

    python bench/run.py             # full run (about a minute): bench/RESULTS.md
    python bench/run.py --quick     # smoke run (seconds), prints only
    python bench/run.py --output X  # write the table to X instead

Runs in one process: the hot-path cases (floors, metricdsl, peers) interleaved
round by round, then loading the real AWS commonDefinitions.json, then fresh
interpreters for the import times, then ``bench/delivery.py`` if it exists.
Prints the Markdown table and writes it (see bench/report.py for its layout).

``bench/delivery.py`` (events per second to a local receiver, emit cost with
the backend down, memory) is written separately; when it exists it is run as
``python bench/delivery.py --json`` in a subprocess (``--events 20000 --emits
100000`` with ``--quick``) and its figures become the *Delivery* section.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COMMON_DEFINITIONS = os.environ.get(
    "METRICDSL_BENCH_DEFINITIONS",
    os.path.join(
        os.path.dirname(ROOT), "shared", "data", "aws-toolkit", "commonDefinitions.json"
    ),
)

# The mode is the production one, set explicitly; and the package's own
# default definitions are used, whatever the environment names.
os.environ["METRICDSL_VALIDATION"] = "warn"
os.environ.pop("METRICDSL_DEFINITIONS", None)
os.environ.pop("METRICDSL_SINKS", None)

import cases  # noqa: E402 - after the environment is set
import report  # noqa: E402
import startup  # noqa: E402
import timing  # noqa: E402


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _common_definitions() -> str | None:
    """The real AWS file: beside the checkout, as the tests find it."""
    return COMMON_DEFINITIONS if os.path.isfile(COMMON_DEFINITIONS) else None


def _delivery(quick: bool) -> str:
    script = os.path.join(HERE, "delivery.py")
    if not os.path.exists(script):
        return (
            "*Not measured: `bench/delivery.py` (events per second to a local "
            "receiver; emit cost with the backend down) does not exist yet. When it "
            "does, this section holds its figures.*"
        )
    argv = [sys.executable, script, "--json"]
    if quick:
        argv += ["--events", "20000", "--emits", "100000"]
    _say(f"delivery: {' '.join(argv[1:])}")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=900, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return "**`bench/delivery.py` did not finish within 15 minutes.**"
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return (
            f"**`bench/delivery.py` failed (exit {done.returncode}):**"
            f"\n\n```\n{tail}\n```"
        )
    return report.delivery(done.stdout)


def _targets(
    samples: list[timing.Sample],
    load: tuple[startup.Timed, startup.Timed, str] | str,
    imports: list[startup.Timed],
) -> list[report.Target]:
    by_key = {s.case.key: s for s in samples}

    def hot(what: str, top: str, bottom: str, limit: float) -> report.Target:
        a, b = by_key.get(top), by_key.get(bottom)
        if a is None or b is None:
            missing = bottom if b is None else top
            return report.Target(what, limit, None, why_missing=f"{missing} not run")
        return report.Target(what, limit, a.median / b.median, a.minimum / b.minimum)

    targets = [
        hot(
            "`@run` + `record()`, events discarded / OpenTelemetry SDK decorator",
            "md_run",
            "otel",
            0.2,
        ),
        hot(
            "`@run` + `record()`, events discarded / do-nothing wrapt decorator",
            "md_run",
            "wrapt",
            4,
        ),
        hot(
            "`@run` + `record()`, JSON line rendered (all costs) / structlog JSON line",
            "md_jsonl",
            "structlog",
            0.5,
        ),
        hot(
            "disabled `@run` + `record()` / do-nothing wrapt decorator",
            "md_disabled",
            "wrapt",
            1.5,
        ),
    ]
    what = "`load(commonDefinitions.json)` / bare PyYAML C-loader parse"
    if isinstance(load, str):
        targets.append(report.Target(what, 1.5, None, why_missing="file absent"))
    else:
        ours, bare, _ = load
        targets.append(
            report.Target(
                what, 1.5, ours.median / bare.median, ours.minimum / bare.minimum
            )
        )
    ours_import, structlog_import = imports[1], imports[2]
    targets.append(
        report.Target(
            "`import metricdsl` / `import structlog` (wall, fresh process)",
            1.3,
            ours_import.median / structlog_import.median,
            ours_import.minimum / structlog_import.minimum,
        )
    )
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--output", help="where to write the Markdown")
    parser.add_argument("--rounds", type=int, help="rounds of the hot-path cases")
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (8 if quick else 60)
    batch_ms = 4 if quick else 20
    output = args.output or (None if quick else os.path.join(HERE, "RESULTS.md"))
    started = time.monotonic()

    import metricdsl

    metricdsl.configure(validation="warn", enabled=True)
    hot_cases = cases.floor_cases() + cases.metricdsl_cases()
    peers, skipped = cases.peer_cases()
    hot_cases += peers
    _say(f"hot path: {len(hot_cases)} cases, {rounds} rounds of ~{batch_ms} ms batches")
    samples = timing.measure(
        hot_cases,
        rounds=rounds,
        batch_ns=batch_ms * 1_000_000,
        calls_so_far=cases.calls_so_far,
        progress=_say,
    )
    invalid = metricdsl.stats()["invalid"]

    path = _common_definitions()
    load: tuple[startup.Timed, startup.Timed, str] | str
    if path is None:
        load = (
            f"*Skipped: {COMMON_DEFINITIONS} is absent "
            "(METRICDSL_BENCH_DEFINITIONS may name another path).*"
        )
        _say("load: skipped, commonDefinitions.json is absent")
    else:
        _say(f"load: {path}")
        load = startup.time_load(path, rounds=6 if quick else 60)
    _say("imports: fresh interpreters")
    imports = startup.time_imports(rounds=5 if quick else 40)
    delivery = _delivery(quick)

    elapsed = time.monotonic() - started
    notes = [
        f"{rounds} interleaved rounds of ~{batch_ms} ms batches per case; "
        f"`stats()['invalid']` = {invalid} after the run; {elapsed:.0f} s in all"
    ]
    markdown = report.render(
        env=report.environment(),
        run_notes=notes,
        targets=_targets(samples, load, imports),
        samples=samples,
        skipped=skipped,
        load=load,
        imports=imports,
        delivery=delivery,
        quick=quick,
    )
    print(markdown)
    if output:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(markdown)
        _say(f"written to {os.path.relpath(output)}")
    unverified = [s.case.label for s in samples if not s.verified]
    if unverified:
        _say(
            "MISMATCH: a case did not produce what it should: " + "; ".join(unverified)
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
