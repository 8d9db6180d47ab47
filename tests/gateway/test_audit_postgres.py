"""The audit log in the PostgreSQL spool database: several writers (nodes) keep ONE valid chain,
the runtime and `rcmgw audit verify` use it when the spool is PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import psycopg
import pytest
from pgserver import PgServer
from typer.testing import CliRunner

from fallback.errors import SpoolUnavailable
from gateway.audit import AuditEntry
from gateway.audit_postgres import PostgresAuditLog
from gateway.cli import app
from gateway.keys import load_or_create_keys
from gateway.runtime import Runtime
from gateway.settings import get_settings

KEY = b"k" * 32
_DATABASES = itertools.count(1)
runner = CliRunner()


@pytest.fixture
def dsn(postgres: PgServer) -> str:
    return str(postgres.create_database(f"audit_pg_{next(_DATABASES)}"))


def test_two_concurrent_writers_keep_one_valid_chain(dsn: str) -> None:
    nodes = [PostgresAuditLog(dsn, KEY), PostgresAuditLog(dsn, KEY)]
    for node in nodes:
        node.open()

    async def write(node: PostgresAuditLog, name: str) -> list[int]:
        written: list[int] = []
        for n in range(25):
            batch = [AuditEntry("input.spooled", name, details={"n": n, "i": i}) for i in range(1 + n % 3)]
            written += [record.seq for record in await node.record_many(batch)]
        return written

    async def both() -> tuple[list[int], list[int]]:
        return await asyncio.gather(write(nodes[0], "node-a"), write(nodes[1], "node-b"))

    seqs = asyncio.run(both())
    total = 2 * sum(1 + n % 3 for n in range(25))
    assert sorted(seqs[0] + seqs[1]) == list(range(1, total + 1))
    for node in nodes:
        result = node.verify()
        assert result.ok and result.records == total
    # each batch is contiguous: a batch is appended under one lock, never interleaved
    records = nodes[0].records(limit=1000)
    assert {r.actor for r in records} == {"node-a", "node-b"}
    for node in nodes:
        node.close()


def test_append_is_durable_and_visible_to_other_nodes(dsn: str) -> None:
    writer, reader = PostgresAuditLog(dsn, KEY), PostgresAuditLog(dsn, KEY)
    record = writer.append("config.loaded", actor="system", home="/var/lib/rcmgw")
    assert reader.records() == [record]
    writer.close()
    reader.close()


def test_broken_connection_is_replaced(dsn: str) -> None:
    log = PostgresAuditLog(dsn, KEY)
    log.append("a", actor="t")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(SpoolUnavailable):  # translated at the boundary: the ingest answers 503 / AE
        log.append("b", actor="t")
    assert log.append("c", actor="t").seq == 2 and log.verify().ok
    log.close()


def _pg_env(home: Path, dsn: str) -> dict[str, str]:
    return {
        "RCMGW_HOME": str(home),
        "RCMGW_SPOOL__BACKEND": "postgresql",
        "RCMGW_SPOOL__DSN": "env:RCMGW_TEST_AUDIT_DSN",
        "RCMGW_TEST_AUDIT_DSN": dsn,
    }


def test_runtime_uses_the_spool_database(home: Path, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _pg_env(home, dsn).items():
        monkeypatch.setenv(name, value)
    runtime = Runtime.build(get_settings(home=home))
    assert isinstance(runtime.audit, PostgresAuditLog)
    assert not (home / "audit" / "audit.db").exists()


def test_cli_verify_against_the_postgres_log(home: Path, dsn: str) -> None:
    log = PostgresAuditLog(dsn, load_or_create_keys(home / "keys").audit_key)
    for n in range(1, 5):
        log.append("input.spooled", actor="svc-a", ticket_id=f"tkt_{n}")
    env = _pg_env(home, dsn)
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 0 and "4 records verified" in result.stdout
    exported = runner.invoke(app, ["audit", "export"], env=env)
    assert exported.exit_code == 0 and len(exported.stdout.splitlines()) == 4
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE audit_log SET details = replace(details, 'tkt_3', 'tkt_8') WHERE seq = 3")
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 65 and "record 3" in result.stderr
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 65 and "record 2" in result.stderr
    log.close()


def test_cli_reports_an_unreachable_database(home: Path, postgres: PgServer) -> None:
    env = _pg_env(home, postgres.dsn("no_such_database"))
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 69 and "cannot open the audit log" in result.stderr
