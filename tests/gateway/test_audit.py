"""The audit log is tamper-evident: an edit, a removal or a swap is found and named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries

from gateway.audit import SqliteAuditLog
from gateway.runtime import Runtime

KEY = b"k" * 32


@pytest.fixture
def audit(tmp_path: Path) -> SqliteAuditLog:
    log = SqliteAuditLog(tmp_path / "audit.db", KEY)
    log.open()
    for index in range(1, 6):
        log.append("input.spooled", actor="epic", ticket_id=f"tkt_{index}", count=index)
    return log


def _sql(audit: SqliteAuditLog, statement: str, *params: object) -> None:
    conn = sqlite3.connect(audit._path)
    conn.execute(statement, params)
    conn.commit()
    conn.close()


def test_intact_chain_verifies(audit: SqliteAuditLog) -> None:
    result = audit.verify()
    assert result.ok and result.records == 5


def test_edited_record_is_named(audit: SqliteAuditLog) -> None:
    _sql(audit, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3")
    assert audit.verify().first_bad_seq == 3


def test_flipped_byte_in_details_is_named(audit: SqliteAuditLog) -> None:
    _sql(audit, "UPDATE audit_log SET details = replace(details, 'tkt_2', 'tkt_7') WHERE seq = 2")
    assert audit.verify().first_bad_seq == 2


def test_deleted_record_is_named(audit: SqliteAuditLog) -> None:
    _sql(audit, "DELETE FROM audit_log WHERE seq = 4")
    result = audit.verify()
    assert result.first_bad_seq == 4 and "missing" in (result.problem or "")


def test_deleted_last_record_then_forged_append_is_named(audit: SqliteAuditLog) -> None:
    _sql(audit, "DELETE FROM audit_log WHERE seq = 5")
    _sql(
        audit,
        "INSERT INTO audit_log VALUES (5, '2026-01-01T00:00:00+00:00', 'x', 'y', 'ok', '{}', ?)",
        "f" * 64,
    )
    assert audit.verify().first_bad_seq == 5


def test_swapped_records_are_named(audit: SqliteAuditLog) -> None:
    conn = sqlite3.connect(audit._path)
    rows = {
        r[0]: r for r in conn.execute("SELECT seq, at, event, actor, outcome, details, mac FROM audit_log")
    }
    for seq, source in ((2, 3), (3, 2)):
        _, at, event, actor, outcome, details, mac = rows[source]
        conn.execute(
            "UPDATE audit_log SET at=?, event=?, actor=?, outcome=?, details=?, mac=? WHERE seq=?",
            (at, event, actor, outcome, details, mac, seq),
        )
    conn.commit()
    conn.close()
    assert audit.verify().first_bad_seq == 2


def test_details_refuse_non_scalar_values(audit: SqliteAuditLog) -> None:
    with pytest.raises(TypeError):
        audit.append("x", actor="y", payload={"a": 1})  # type: ignore[arg-type]


def test_api_activity_is_audited_without_phi(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    assert client.post("/v1/events", json=canary_event()).status_code == 401
    reader = runtime.issuer.mint("reader", ["tickets:read"])
    assert (
        client.post(
            "/v1/events", json=canary_event(), headers={"Authorization": f"Bearer {reader}"}
        ).status_code
        == 403
    )
    assert client.post("/v1/events", json=canary_event(), headers=writer_headers).status_code == 202
    events = [(r.event, r.outcome) for r in runtime.audit.records()]
    assert events == [
        ("config.loaded", "ok"),
        ("token.rejected", "denied"),
        ("scope.denied", "denied"),
        ("token.accepted", "ok"),
        ("input.spooled", "ok"),
    ]
    spooled = runtime.audit.records(event="input.spooled")[0]
    assert spooled.details["control.event_id"] == "canary-0001" and spooled.details["redacted"]
    assert runtime.audit.verify().ok
    assert find_canaries((runtime.settings.home / "audit" / "audit.db").read_bytes()) == []
