"""The audit log in the PostgreSQL spool database (tables ``audit_log`` and ``audit_anchor``),
shared by every gateway node; the same HMAC chain and `AuditLog` protocol as `SqliteAuditLog`.

Several nodes append to ONE chain. Each append transaction first takes a transaction-level advisory
lock (``pg_advisory_xact_lock(AUDIT_LOCK_ID)``), then reads the chain head, so ``seq`` and the
previous MAC are those of the last committed record on any node; the lock is released by COMMIT
(``synchronous_commit = on``: durable when `append_many` returns). Retention (`purge_before`) takes
the same lock. ``at`` and ``details`` are stored as the exact text the MAC covers (TEXT, not
timestamptz/jsonb, which would normalise them).

One connection per log object, used by one thread at a time (a `threading.Lock`); the async
``record``/``record_many`` run in a worker thread like the SQLite log's. A broken connection is
replaced on the next call. A failing append (server restarting, connection lost, disk full) raises
the spool's error (`fallback.postgres_schema.translate_pg_error`): the log lives in the spool
database, so the ingest answers "not accepted, retry" (503 / MLLP AE) like a failing spool write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

import psycopg
from psycopg.rows import TupleRow

from fallback.postgres_schema import translate_pg_error
from gateway.audit import (
    GENESIS,
    AuditEntry,
    AuditLog,
    AuditRecord,
    ChainedAuditLog,
    Row,
    VerifyResult,
    anchor_seal,
    as_records,
    chain_rows,
    prepare,
    record_filter,
    verify_chain,
)
from gateway.delivery_settings import resolve_secret
from gateway.settings import Settings

AUDIT_LOCK_ID: Final = 0x7263_6D67_7761_7564  # "rcmgwaud": the advisory lock serialising appends
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS audit_log ("
    " seq BIGINT PRIMARY KEY, at TEXT NOT NULL, event TEXT NOT NULL, actor TEXT NOT NULL,"
    " outcome TEXT NOT NULL, details TEXT NOT NULL, mac TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_event_at ON audit_log (event, at)",
    "CREATE INDEX IF NOT EXISTS audit_actor_at ON audit_log (actor, at)",
    "CREATE TABLE IF NOT EXISTS audit_anchor ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, mac TEXT NOT NULL, seal TEXT NOT NULL)",
)
_COLUMNS: Final = "seq, at, event, actor, outcome, details, mac"


class PostgresAuditLog(ChainedAuditLog):
    """The audit log in PostgreSQL (see the module docstring). ``dsn`` is a libpq connection string
    or URL, normally the spool's (`build_audit_log`)."""

    def __init__(
        self,
        dsn: str,
        key: bytes,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        connect_timeout: float = 10.0,
    ) -> None:
        if len(key) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        self._dsn = dsn
        self._key = key
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[TupleRow] | None = None

    def open(self) -> None:
        """Connect and create the tables if needed (the DDL is serialised by the append lock, so
        nodes starting together do not race on CREATE TABLE)."""
        with self._lock:
            self._connection()

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def _connection(self) -> psycopg.Connection[TupleRow]:
        """The open connection (caller holds ``_lock``); reconnects after a failure."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout)))
        try:
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = on")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_ID,))
                for statement in _SCHEMA:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append several records, chained in order after the chain head of ANY node, in one
        transaction holding the append lock; returns them after the (durable) commit."""
        if not entries:
            return []
        prepared = prepare(entries)
        at = self._clock().astimezone(UTC).isoformat(timespec="microseconds")
        with self._lock:
            try:
                rows = self._append_rows(at, prepared)
            except psycopg.Error as error:  # server restarting, connection lost, disk full, ...
                raise translate_pg_error(error) from None
        return as_records(rows)

    def _append_rows(self, at: str, prepared: list[tuple[AuditEntry, str]]) -> list[Row]:
        """The append transaction (caller holds ``_lock``); psycopg errors propagate."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = on")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_ID,))
            head = conn.execute("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            if head is None:  # empty, or every record removed by retention: chain on from the anchor
                head = conn.execute("SELECT seq, mac FROM audit_anchor WHERE id = 1").fetchone()
            seq, previous = (int(head[0]), str(head[1])) if head else (0, GENESIS)
            rows = chain_rows(self._key, previous, seq, at, prepared)
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO audit_log ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",  # noqa: S608 - fixed column names
                    rows,
                )
        return rows

    def records(
        self,
        *,
        event: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
        until: datetime | None = None,
        outcome: str | None = None,
        after_seq: int | None = None,
    ) -> list[AuditRecord]:
        """Records in order, filtered like `SqliteAuditLog.records`."""
        where, params = record_filter(
            "%s", event=event, actor=actor, outcome=outcome, since=since, until=until, after_seq=after_seq
        )
        sql = f"SELECT {_COLUMNS} FROM audit_log {where} ORDER BY seq LIMIT %s"  # noqa: S608 - fixed column names
        return as_records(self._fetch(sql, (*params, limit)))

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                rows = conn.execute(sql, params).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in rows]

    def verify(self) -> VerifyResult:
        """Recompute the chain (a consistent snapshot of records and anchor); name the first record
        edited, removed or reordered."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                fetched = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq").fetchall()  # noqa: S608
                anchor_row = conn.execute("SELECT seq, mac, seal FROM audit_anchor WHERE id = 1").fetchone()
        rows: list[Row] = [
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in fetched
        ]
        anchor = None if anchor_row is None else (int(anchor_row[0]), str(anchor_row[1]), str(anchor_row[2]))
        return verify_chain(self._key, rows, anchor)

    def purge_before(self, cutoff: datetime) -> tuple[int, int | None]:
        """Remove records older than ``cutoff`` (retention), keeping the chain verifiable from a
        sealed anchor. Returns (how many were removed, the last removed seq)."""
        cut = cutoff.astimezone(UTC).isoformat(timespec="microseconds")
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = on")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_ID,))
                row = conn.execute(
                    "SELECT seq, mac FROM audit_log WHERE at < %s ORDER BY seq DESC LIMIT 1", (cut,)
                ).fetchone()
                if row is None:
                    return 0, None
                last_seq, last_mac = int(row[0]), str(row[1])
                removed = conn.execute("DELETE FROM audit_log WHERE seq <= %s", (last_seq,)).rowcount
                conn.execute(
                    "INSERT INTO audit_anchor (id, seq, mac, seal) VALUES (1, %s, %s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, mac = EXCLUDED.mac,"
                    " seal = EXCLUDED.seal",
                    (last_seq, last_mac, anchor_seal(self._key, last_seq, last_mac)),
                )
        return removed, last_seq


def build_audit_log(settings: Settings, key: bytes) -> AuditLog:
    """The audit log beside the configured spool (unopened): PostgreSQL (the spool's DSN) when
    ``spool.backend`` is ``postgresql``, else SQLite in ``$RCMGW_HOME/audit/audit.db``."""
    if settings.spool.backend == "postgresql":
        if settings.spool.dsn is None:
            raise ValueError("spool.backend is postgresql but spool.dsn (env:NAME or file:PATH) is unset")
        return PostgresAuditLog(resolve_secret(settings.spool.dsn), key)
    from gateway.audit import SqliteAuditLog

    return SqliteAuditLog(settings.home / "audit" / "audit.db", key)


__all__ = ["AUDIT_LOCK_ID", "PostgresAuditLog", "build_audit_log"]
