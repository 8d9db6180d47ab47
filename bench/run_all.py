"""Run every benchmark and write the generated summary at the top of docs/PERFORMANCE.md.

    .venv/bin/python bench/run_all.py            # full sizes (make bench, ~15-25 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # tiny sizes (make bench-quick, the regular suite)

Each script of `STEPS` runs as a subprocess with its own command-line arguments; the numbers come
from the ``BENCH-RESULT {json}`` line each prints last. The block between ``<!-- bench:begin -->``
and ``<!-- bench:end -->`` in the document (``--doc``) is replaced (inserted under the title the
first time); the hand-written sections stay as they are. A script that fails or prints no result
is listed as such; the run goes on. Scripts that are not there (bench/console.py, while its issue
is open) are skipped and listed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PRESIDIO_VENV = REPO / "var" / "bench" / "presidio-venv"


@dataclass(frozen=True)
class Step:
    """One bench script run: its file, full and quick arguments, and a time limit (full run)."""

    name: str
    script: str
    full: list[str]
    quick: list[str] | None  # None: not run in quick mode
    timeout: int = 600
    why: str = ""  # where the document explains a missed target
    extra: dict[str, Any] = field(default_factory=dict)


def steps(presidio: bool) -> list[Step]:
    """Every bench script, in run order (cheap first). Sizes are chosen so the full run stays
    well under 30 minutes on the 2-core development machine."""
    redaction_full = [] if presidio else ["--no-presidio"]
    return [
        Step("spool", "spool.py", ["5000"], ["200"], 300, "section 'Delivery spool and sinks'"),
        Step("sealing", "sealing.py", ["--claims", "2000"], ["--claims", "100"], 300),
        Step(
            "redaction_eval",
            "redaction_eval.py",
            redaction_full,
            ["--no-presidio", "--repeat", "1"],
            1200 if presidio else 300,
            "section 'Redaction engine': flat profile; needs a compiled scanner or several processes",
        ),
        Step(
            "rules",
            "rules.py",
            ["--records", "100000"],
            ["--records", "2000"],
            600,
            "section 'Rules evaluation'",
        ),
        Step(
            "x12_835",
            "x12_835.py",
            ["--claims", "10000"],
            ["--claims", "200"],
            900,
            "section 'X12 835 intake': normalize (rules) and lifecycle planning in Python; "
            "read+parse alone is ~18x pyx12",
        ),
        Step(
            "x12_835_no_lifecycle",
            "x12_835.py",
            ["--claims", "10000", "--no-lifecycle"],
            ["--claims", "200", "--no-lifecycle"],
            900,
            "section 'X12 835 intake': every denial sealed, ~0.8 ms of redaction per ticket",
        ),
        Step("x12_835_1mb", "x12_835.py", ["--memory", "1"], ["--memory", "1"], 300),
        Step("x12_835_10mb", "x12_835.py", ["--memory", "10"], None, 600),
        Step("x12_835_100mb", "x12_835.py", ["--memory", "100"], None, 1200),
        Step(
            "hl7_mllp",
            "hl7_mllp.py",
            ["--seconds", "8", "--connections", "8", "--rate", "500"],
            ["--seconds", "1", "--connections", "2", "--rate", "50"],
            600,
            "section 'HL7 v2 over MLLP': ~0.5 ms CPU per AA (repeats), ~1.5 ms per ticket-opening message",
        ),
        Step(
            "hl7_mllp_no_lifecycle",
            "hl7_mllp.py",
            ["--seconds", "8", "--connections", "8", "--rate", "500", "--no-lifecycle"],
            None,
            600,
            "section 'Every message a new ticket: profile': ~1.6 ms CPU per AA, sealing 44% of it",
        ),
        Step(
            "delivery",
            "delivery.py",
            ["100000", "4", "1"],
            ["300", "1", "1"],
            900,
            "section 'Delivery spool and sinks': one HTTP round trip per ticket, fsynced settlement",
        ),
        Step(
            "growth",
            "growth.py",
            ["--hl7", "1000,10000,100000", "--spool", "10000,100000,1000000"],
            ["--hl7", "100,200", "--spool", "1000,2000"],
            1500,
        ),
        Step(
            "console",
            "console.py",
            ["100000", "15"],
            ["2000", "3"],
            600,
            "section of issue 10 (bench/console.py)",
        ),
    ]


@dataclass
class Outcome:
    step: Step
    seconds: float
    status: str  # "ok", "failed (exit N)", "timed out", "missing", "no BENCH-RESULT line"
    results: list[dict[str, Any]]
    tail: str = ""


def run_step(step: Step, quick: bool, scale: float) -> Outcome:
    script = REPO / "bench" / step.script
    if not script.exists():
        return Outcome(step, 0.0, "missing", [])
    args = step.quick if quick else step.full
    assert args is not None
    command = [sys.executable, str(script), *args]
    print(f"== {step.name}: {shlex.join(command[1:])}", flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=step.timeout * scale, check=False
        )
    except subprocess.TimeoutExpired:
        return Outcome(step, time.monotonic() - started, "timed out", [])
    seconds = time.monotonic() - started
    results = [
        json.loads(line.split(" ", 1)[1])
        for line in done.stdout.splitlines()
        if line.startswith("BENCH-RESULT ")
    ]
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    print(
        "\n".join(line for line in done.stdout.splitlines() if not line.startswith("BENCH-RESULT")),
        flush=True,
    )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr, flush=True)
        return Outcome(step, seconds, f"failed (exit {done.returncode})", results, tail)
    return Outcome(step, seconds, "ok" if results else "no BENCH-RESULT line", results, tail)


def machine() -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "load": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


def _number(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def _met(target: dict[str, Any], why: str) -> str:
    met = target.get("met")
    if met is None:
        return (
            "not measured"
            if target.get("goal") and target.get("note")
            else ("-" if not target.get("goal") else "n/a")
        )
    if met:
        return "**met**"
    return "**not met**" + (f" (why: {why})" if why else "")


def target_rows(outcomes: list[Outcome]) -> list[str]:
    rows = [
        "| target (issue) | measured | baseline, same run | ratio | goal | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for outcome in outcomes:
        if outcome.status != "ok":
            label = outcome.step.name
            rows.append(f"| `{label}` | {outcome.status} | - | - | - | **not measured** |")
            continue
        for result in outcome.results:
            if result.get("bench") == "growth":
                continue
            for target in result.get("targets", []):
                unit = target.get("unit", "")
                baseline = _number(target.get("baseline"), unit)
                if target.get("baseline_name"):
                    baseline += f" ({target['baseline_name']})"
                ratio = target.get("ratio")
                note = f"; {target['note']}" if target.get("note") else ""
                rows.append(
                    f"| {target['name']}{note} | {_number(target.get('measured'), unit)} | {baseline} | "
                    f"{'-' if ratio is None else f'{ratio:.3g}x'} | {target.get('goal') or '-'} | "
                    f"{_met(target, outcome.step.why)} |"
                )
    return rows


def growth_rows(outcomes: list[Outcome]) -> list[str]:
    lines: list[str] = []
    x12 = [
        target
        for outcome in outcomes
        if outcome.status == "ok"
        for result in outcome.results
        if result.get("bench") == "x12_835_memory"
        for target in result.get("targets", [])
    ]
    if x12:
        lines += [
            "835 streaming read + parse + normalize (`bench/x12_835.py --memory MB`, child process):",
            "",
            "| file | records | seconds | MB/s | peak RSS |",
            "|---:|---:|---:|---:|---:|",
        ]
        for target in x12:
            megabytes = target["bytes"] / 1e6
            lines.append(
                f"| {megabytes:,.1f} MB | {target['records']:,} | {target['seconds']:.1f} | "
                f"{megabytes / target['seconds']:.2f} | {target['measured']:.0f} MB |"
            )
        lines.append("")
    growth = [
        result
        for outcome in outcomes
        if outcome.status == "ok" and outcome.step.name == "growth"
        for result in outcome.results
    ]
    for result in growth:
        if result.get("hl7"):
            lines += [
                "HL7 v2 batch file: streamed read + parse + normalize of N DFT^P03 messages "
                "(`bench/growth.py`, child process):",
                "",
                "| messages | input | seconds | msg/s | peak RSS |",
                "|---:|---:|---:|---:|---:|",
            ]
            for row in result["hl7"]:
                lines.append(
                    f"| {row['messages']:,} | {row['bytes'] / 1e6:.1f} MB | {row['seconds']:.2f} | "
                    f"{row['messages'] / row['seconds']:,.0f} | {row['rss_mb']:.0f} MB |"
                )
            lines.append("")
        if result.get("spool"):
            lines += [
                "SQLite spool depth (`bench/growth.py`, one process filling one spool, WAL, "
                "synchronous=FULL):",
                "",
                "| depth | fill time (cumulative) | put 1,000 (one txn) | depth() | lease 200 | database "
                "| peak RSS |",
                "|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for row in result["spool"]:
                lines.append(
                    f"| {row['depth']:,} | {row['fill_seconds']:.1f} s | {row['put_1000_ms']:.0f} ms | "
                    f"{row['depth_query_ms']:.1f} ms | {row['lease_200_ms']:.0f} ms | "
                    f"{row['db_mb']:,.0f} MB | {row['rss_mb']:.0f} MB |"
                )
            lines.append("")
    return lines or ["(no growth measurements in this run)", ""]


def render(
    outcomes: list[Outcome], info: dict[str, str], command: str, started: datetime, quick: bool
) -> str:
    total = sum(outcome.seconds for outcome in outcomes)
    lines = [
        BEGIN,
        "## Summary of the last `make bench` run (generated by bench/run_all.py; do not edit by hand)",
        "",
        f"Command: `{command}`" + (" (**quick mode: tiny sizes, numbers not meaningful**)" if quick else ""),
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC at commit {info['commit']}, {total / 60:.1f} minutes; machine: "
        f"{info['nproc']} CPUs ({info['cpu']}), load average {info['load_before']} before and "
        f"{info['load']} after (1/5/15 min; the machine is shared, so absolute rates move with the load "
        "and the ratios against baselines measured in the same run are what to compare), "
        f"Python {info['python']}.",
        "",
        *target_rows(outcomes),
        "",
        "Growth of time and memory with input size:",
        "",
        *growth_rows(outcomes),
        "Scripts run (each section below names its own command and explains its numbers):",
        "",
        "| script | arguments | status | seconds |",
        "|---|---|---|---:|",
    ]
    for outcome in outcomes:
        step = outcome.step
        args = step.quick if quick else step.full
        arguments = "-" if args is None else (shlex.join(args) or "(none)")
        lines.append(f"| `bench/{step.script}` | `{arguments}` | {outcome.status} | {outcome.seconds:.0f} |")
    lines += ["", END]
    return "\n".join(lines)


def write_block(doc: Path, block: str) -> None:
    """Replace the generated block of ``doc`` (the markers on lines of their own), or insert it under
    the title."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    begin = re.search(rf"^{re.escape(BEGIN)}$", text, re.M)
    end = re.search(rf"^{re.escape(END)}$", text[begin.end() :] if begin else "", re.M)
    if begin and end:
        text = text[: begin.start()] + block + text[begin.end() + end.end() :]
    else:
        lines = text.splitlines(keepends=True)
        at = 1 if lines and lines[0].startswith("# ") else 0
        text = "".join(lines[:at]) + "\n" + block + "\n\n" + "".join(lines[at:]).lstrip("\n")
    doc.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for the regular test suite)")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "PERFORMANCE.md")
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument(
        "--presidio",
        action=argparse.BooleanOptionalAction,
        default=PRESIDIO_VENV.exists(),
        help="run the Presidio baseline (default: when var/bench/presidio-venv exists)",
    )
    args = parser.parse_args()
    started = datetime.now(UTC)
    load = os.getloadavg()
    only = {name for name in args.only.split(",") if name}
    outcomes: list[Outcome] = []
    for step in steps(args.presidio and not args.quick):
        if (only and step.name not in only) or (args.quick and step.quick is None):
            continue
        outcome = run_step(step, args.quick, 1.0)
        print(f"   {outcome.status} in {outcome.seconds:.0f} s", flush=True)
        outcomes.append(outcome)
    info = {**machine(), "load_before": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"}
    command = "make bench-quick" if args.quick else "make bench"
    if sys.argv[1:] and not (args.quick and len(sys.argv) == 2):
        command = "python bench/run_all.py " + shlex.join(sys.argv[1:])
    write_block(args.doc, render(outcomes, info, command, started, args.quick))
    print(f"wrote the summary to {args.doc}")
    return 0 if all(outcome.status in {"ok", "missing"} for outcome in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
