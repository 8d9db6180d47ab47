"""`rcmgw audit verify` names the first bad record after a flipped byte, a deleted record or two
swapped records; `rcmgw audit export` writes JSON lines and RFC 5424 syslog; retention keeps the
chain verifiable."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.audit import SqliteAuditLog
from gateway.cli import app
from gateway.keys import load_or_create_keys

runner = CliRunner()


@pytest.fixture
def audit_home(home: Path) -> Path:
    keys = load_or_create_keys(home / "keys")
    moments = iter(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=n) for n in range(100))
    log = SqliteAuditLog(home / "audit" / "audit.db", keys.audit_key, clock=lambda: next(moments))
    log.open()
    log.append("config.loaded", actor="system")
    log.append("token.accepted", actor="svc-a", token_id="j1", client_id="svc-a")
    log.append("token.rejected", actor="anonymous", outcome="denied", reason="expired")
    log.append("scope.denied", actor="svc-b", outcome="denied", required="audit:read")
    log.append("input.spooled", actor="svc-a", ticket_id="tkt_1")
    log.close()
    return home


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"RCMGW_HOME": str(home)})
    return result.exit_code, result.stdout, result.stderr


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "audit" / "audit.db", isolation_level=None)


def test_intact_log_verifies(audit_home: Path) -> None:
    code, out, _ = _run(audit_home, "audit", "verify")
    assert code == 0 and "5 records verified" in out


def test_flipped_byte_is_named(audit_home: Path) -> None:
    with _db(audit_home) as conn:
        details = conn.execute("SELECT details FROM audit_log WHERE seq = 3").fetchone()[0]
        conn.execute(
            "UPDATE audit_log SET details = ? WHERE seq = 3", (details.replace("expired", "expirec"),)
        )
    code, _, err = _run(audit_home, "audit", "verify")
    assert code == 65 and "record 3" in err


def test_deleted_record_is_named(audit_home: Path) -> None:
    with _db(audit_home) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    code, _, err = _run(audit_home, "audit", "verify")
    assert code == 65 and "record 2" in err


def test_swapped_records_are_named(audit_home: Path) -> None:
    columns = "at, event, actor, outcome, details, mac"
    with _db(audit_home) as conn:
        second = conn.execute(f"SELECT {columns} FROM audit_log WHERE seq = 2").fetchone()
        fourth = conn.execute(f"SELECT {columns} FROM audit_log WHERE seq = 4").fetchone()
        update = "UPDATE audit_log SET at=?, event=?, actor=?, outcome=?, details=?, mac=? WHERE seq=?"
        conn.execute(update, (*fourth, 2))
        conn.execute(update, (*second, 4))
    code, _, err = _run(audit_home, "audit", "verify")
    assert code == 65 and "record 2" in err


def test_missing_first_record_is_named(audit_home: Path) -> None:
    with _db(audit_home) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 1")
    code, _, err = _run(audit_home, "audit", "verify")
    assert code == 65 and "record 1" in err


def test_export_json_lines_since(audit_home: Path) -> None:
    code, out, _ = _run(audit_home, "audit", "export", "--since", "2030-01-01T00:02:00+00:00")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["seq"] for line in lines] == [3, 4, 5]
    assert lines[0]["details"] == {"reason": "expired"} and len(lines[0]["mac"]) == 64


def test_export_syslog_is_rfc5424(audit_home: Path) -> None:
    code, out, _ = _run(audit_home, "audit", "export", "--format", "syslog")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5
    pattern = re.compile(
        r'^<(\d+)>1 2030-01-01T00:0\dZ?[^ ]* \S+ rcmgw - [a-z.]+ \[rcmgw@32473 seq="\d+" actor="[^"]+"'
        r' outcome="\w+" mac="[0-9a-f]{64}"\] \{.*\}$'
    )
    assert all(pattern.match(line) for line in lines), lines
    assert lines[0].startswith("<109>1 ") and lines[2].startswith("<108>1 ")


def test_bad_since_is_a_usage_error(audit_home: Path) -> None:
    code, _, err = _run(audit_home, "audit", "export", "--since", "yesterday")
    assert code == 2 and "--since" in err


def test_retention_purge_keeps_the_chain_verifiable(audit_home: Path) -> None:
    keys = load_or_create_keys(audit_home / "keys")
    log = SqliteAuditLog(audit_home / "audit" / "audit.db", keys.audit_key)
    removed, last = log.purge_before(datetime(2030, 1, 1, 0, 2, tzinfo=UTC))
    assert (removed, last) == (2, 2)
    assert log.verify().ok
    with _db(audit_home) as conn:
        conn.execute("UPDATE audit_anchor SET seq = 3")
    assert log.verify().first_bad_seq == 4
    log.close()
