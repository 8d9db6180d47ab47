"""``rcmgw ingest --validate``: pyx12 implementation-guide findings become integration tickets,
without PHI, idempotently; the hot path never loads pyx12."""

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
        [str(RCMGW), "ingest", *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )


def test_findings_are_tickets_and_bad_values_are_not_echoed(home: Path, tmp_path: Path) -> None:
    source = (FIXTURES / "denial-co97.835").read_text()
    bad = tmp_path / "bad-date.835"
    bad.write_text(source.replace("DTM*232*19570314", "DTM*232*QUIXOTE"))
    done = _run(home, "--dry-run", "--validate", str(bad))
    assert done.returncode == 0, done.stderr
    tickets = [json.loads(line) for line in done.stdout.splitlines()]
    findings = [t for t in tickets if t["category"] == "integration-interface"]
    assert findings, "pyx12 reports the missing PER and the bad date"
    systems = {code["system"] for t in findings for code in t["codes"]}
    assert {"X12-IK3", "X12-IK4"} <= systems
    assert all(t["priority"] == "low" for t in findings)
    assert find_canaries(done.stdout + done.stderr) == []


def test_validate_spools_findings_once(home: Path) -> None:
    first = _run(home, "--json", "--validate", str(FIXTURES / "denial-co97.835"))
    assert first.returncode == 0, first.stderr
    reports = [json.loads(line) for line in first.stdout.splitlines()]
    [validated] = [r for r in reports if r["status"] == "validated"]
    assert validated["findings"] >= 1 and validated["new_tickets"] == validated["findings"]
    again = _run(home, "--json", "--validate", str(FIXTURES / "denial-co97.835"))
    [validated_again] = [r for r in map(json.loads, again.stdout.splitlines()) if r["status"] == "validated"]
    assert validated_again["new_tickets"] == 0
    assert validated_again["ticket_ids"] == validated["ticket_ids"]


def test_the_hot_path_never_imports_pyx12() -> None:
    code = (
        "import sys, gateway.app, gateway.inbox, gateway.api.x12, gateway.sftp_service, gateway.ingest_files;"
        "print('pyx12' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO)
    assert done.stdout.strip() == "False"
