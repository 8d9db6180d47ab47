"""``rcmgw ingest`` on X12 files: dry-run JSON lines, exit 65 with a one-line reason, quarantine,
idempotent re-ingest, no canary PHI on stdout/stderr/outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit import REPO, find_canaries

RCMGW = Path(sys.executable).parent / "rcmgw"
FIXTURES = REPO / "fixtures" / "x12"


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    env["RCMGW_HOME"] = str(home)
    return subprocess.run(
        [str(RCMGW), "ingest", *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )


def test_dry_run_prints_one_ticket_per_line(home: Path) -> None:
    done = _run(
        home, "--dry-run", "--json", str(FIXTURES / "denial-co97.835"), str(FIXTURES / "ta1-r-006.ta1")
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [t["category"] for t in lines] == ["denial-management", "integration-interface"]
    assert find_canaries(done.stdout + done.stderr) == []


def test_malformed_file_exits_65_with_one_line(home: Path) -> None:
    done = _run(home, "--dry-run", "--json", str(FIXTURES / "bad-se-count.835"))
    assert done.returncode == 65
    [line] = done.stderr.strip().splitlines()
    assert "interchange 000000107, segment" in line and "SE01 says 99 segments" in line
    assert len(done.stdout.splitlines()) == 1  # the good claim still makes its ticket


def test_ingest_spools_quarantines_and_is_idempotent(home: Path) -> None:
    first = _run(home, "--json", str(FIXTURES / "denial-co97.835"), str(FIXTURES / "bad-se-count.835"))
    assert first.returncode == 65
    reports = [json.loads(line) for line in first.stdout.splitlines()]
    assert [r["new_tickets"] for r in reports] == [1, 1]
    assert list((home / "quarantine").glob("*.reason"))
    again = _run(home, "--json", str(FIXTURES / "denial-co97.835"))
    assert again.returncode == 0
    assert json.loads(again.stdout)["new_tickets"] == 0
    spool = (home / "spool" / "spool.db").read_bytes()
    assert find_canaries(first.stdout + first.stderr + again.stderr) == []
    assert find_canaries(spool) == []


def test_ingest_reports_tickets_resolved_by_evidence_and_dry_run_prints_no_evidence(home: Path) -> None:
    done = _run(
        home,
        "--json",
        str(FIXTURES / "denial-co97.835"),
        str(FIXTURES / "paid-after-denial.835"),
        str(FIXTURES / "paid-routine.835"),
    )
    assert done.returncode == 0, done.stderr
    denial, payment, unknown = (json.loads(line) for line in done.stdout.splitlines())
    assert denial["new_tickets"] == 1 and denial["resolved_ticket_ids"] == []
    assert payment["tickets"] == 0 and payment["evidence"] == 1
    assert payment["resolved_ticket_ids"] == denial["ticket_ids"]
    assert unknown["tickets"] == 0 and unknown["evidence"] == 1 and unknown["resolved_ticket_ids"] == []
    dry = _run(home, "--dry-run", "--json", str(FIXTURES / "paid-after-denial.835"))
    assert dry.returncode == 0 and dry.stdout == ""
