"""The audit log is tamper-evident: an edit, a removal or a swap is found and named, on both stores
(SQLite file and the PostgreSQL spool database)."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pgserver import PgServer
from testkit import canary_event, find_canaries

from gateway.audit import AuditLog, SqliteAuditLog
from gateway.audit_postgres import PostgresAuditLog
from gateway.runtime import Runtime

KEY = b"k" * 32
_DATABASES = itertools.count(1)


@dataclass
class Store:
    """An audit log plus raw SQL access to its tables (``?`` placeholders) for tampering."""

    log: AuditLog
    execute: Callable[..., list[tuple[Any, ...]]]


def _sqlite_execute(path: Path) -> Callable[..., list[tuple[Any, ...]]]:
    def execute(statement: str, *params: object) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute(statement, params).fetchall()
            conn.commit()
        finally:
            conn.close()
        return rows

    return execute


def _pg_execute(dsn: str) -> Callable[..., list[tuple[Any, ...]]]:
    def execute(statement: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cur = conn.execute(statement.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    return execute


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest, **kwargs: Any) -> Store:
    """A fresh, opened audit log of ``kind`` (sqlite | postgresql)."""
    if kind == "sqlite":
        sqlite_log = SqliteAuditLog(tmp_path / "audit.db", KEY, **kwargs)
        sqlite_log.open()
        return Store(sqlite_log, _sqlite_execute(tmp_path / "audit.db"))
    server: PgServer = request.getfixturevalue("postgres")
    dsn = server.create_database(f"audit_{next(_DATABASES)}")
    pg_log = PostgresAuditLog(dsn, KEY, **kwargs)
    pg_log.open()
    return Store(pg_log, _pg_execute(dsn))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    built = make_store(request.param, tmp_path, request)
    for index in range(1, 6):
        built.log.append("input.spooled", actor="epic", ticket_id=f"tkt_{index}", count=index)
    yield built
    built.log.close()


def test_intact_chain_verifies(store: Store) -> None:
    result = store.log.verify()
    assert result.ok and result.records == 5


def test_edited_record_is_named(store: Store) -> None:
    store.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3")
    assert store.log.verify().first_bad_seq == 3


def test_flipped_byte_in_details_is_named(store: Store) -> None:
    store.execute("UPDATE audit_log SET details = replace(details, 'tkt_2', 'tkt_7') WHERE seq = 2")
    assert store.log.verify().first_bad_seq == 2


def test_deleted_record_is_named(store: Store) -> None:
    store.execute("DELETE FROM audit_log WHERE seq = 4")
    result = store.log.verify()
    assert result.first_bad_seq == 4 and "missing" in (result.problem or "")


def test_deleted_last_record_then_forged_append_is_named(store: Store) -> None:
    store.execute("DELETE FROM audit_log WHERE seq = 5")
    store.execute(
        "INSERT INTO audit_log VALUES (5, '2026-01-01T00:00:00+00:00', 'x', 'y', 'ok', '{}', ?)", "f" * 64
    )
    assert store.log.verify().first_bad_seq == 5


def test_swapped_records_are_named(store: Store) -> None:
    rows = {
        r[0]: r for r in store.execute("SELECT seq, at, event, actor, outcome, details, mac FROM audit_log")
    }
    for seq, source in ((2, 3), (3, 2)):
        _, at, event, actor, outcome, details, mac = rows[source]
        store.execute(
            "UPDATE audit_log SET at=?, event=?, actor=?, outcome=?, details=?, mac=? WHERE seq=?",
            at,
            event,
            actor,
            outcome,
            details,
            mac,
            seq,
        )
    assert store.log.verify().first_bad_seq == 2


def test_details_refuse_non_scalar_values(store: Store) -> None:
    with pytest.raises(TypeError):
        store.log.append("x", actor="y", payload={"a": 1})  # type: ignore[arg-type]


def test_records_filter_and_page(store: Store) -> None:
    store.log.append("scope.denied", actor="svc", outcome="denied", required="audit:read")
    assert [r.seq for r in store.log.records(event="input.spooled", after_seq=2, limit=2)] == [3, 4]
    [denied] = store.log.records(outcome="denied")
    assert denied.seq == 6 and denied.details == {"required": "audit:read"} and denied.actor == "svc"
    assert store.log.records(since=denied.at) == [denied]
    assert len(store.log.records(until=denied.at)) == 5


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_purge_keeps_the_chain_verifiable_and_appends_chain_on(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    moments = iter(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=n) for n in range(100))
    built = make_store(kind, tmp_path, request, clock=lambda: next(moments))
    for n in range(4):
        built.log.append("e", actor="t", n=n)
    assert built.log.purge_before(datetime(2030, 1, 1, 0, 2, tzinfo=UTC)) == (2, 2)
    assert built.log.verify().ok and built.log.purge_before(datetime(2031, 1, 1, tzinfo=UTC)) == (2, 4)
    # Every record removed: the next append chains on from the anchor, not from the genesis.
    assert built.log.append("retention.applied", actor="system").seq == 5
    assert built.log.verify().ok and built.log.verify().records == 1
    built.execute("UPDATE audit_anchor SET seq = 3")
    assert built.log.verify().first_bad_seq == 4
    built.log.close()


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
    # the delivery worker may already have delivered the ticket: its records are not this test's
    events = [(r.event, r.outcome) for r in runtime.audit.records() if not r.event.startswith("delivery.")]
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
