"""The audit log: append-only, each record chained to the one before by an HMAC (the audit key).

A record holds who did what, when, and with what outcome, plus a few details that are ids, codes and
counts, never PHI and never secrets (tokens are identified by their ``jti`` only). Records are
stored in the spool's database: `SqliteAuditLog` (``$RCMGW_HOME/audit/audit.db``, WAL,
``synchronous=FULL``) with the SQLite spool, `gateway.audit_postgres.PostgresAuditLog` (table
``audit_log`` in the spool database, shared by every node) with the PostgreSQL spool. Both implement
the `AuditLog` protocol, which is what callers use::

    mac[n] = HMAC-SHA256(audit_key, mac[n-1] || canonical_json(seq, at, event, actor, outcome, details))

`verify` recomputes the chain and names the first record that was edited, removed or moved: an edit
breaks that record's MAC, a removal leaves a gap in ``seq``, a swap breaks both MACs.

Retention (`purge_before`) removes the oldest records and keeps an *anchor*: the ``seq`` and MAC of
the last removed record, sealed with the audit key, from which `verify` then starts. Removing
records any other way, or editing the anchor, still fails verification.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

DetailValue = str | int | bool | None
GENESIS = "0" * 64
MAX_DETAIL_CHARS = 200
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_event_at ON audit_log (event, at);
CREATE INDEX IF NOT EXISTS audit_actor_at ON audit_log (actor, at);
CREATE TABLE IF NOT EXISTS audit_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac TEXT NOT NULL,
    seal TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored audit record."""

    seq: int
    at: datetime
    event: str
    actor: str
    outcome: str
    details: dict[str, DetailValue]
    mac: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of a chain check: ``first_bad_seq`` is None when the chain is intact."""

    records: int
    first_bad_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """True when every record verified."""
        return self.first_bad_seq is None


def _canonical(fields: tuple[int, str, str, str, str, str]) -> bytes:
    """(seq, at, event, actor, outcome, details_json) as the bytes the MAC covers."""
    return json.dumps(list(fields), separators=(",", ":")).encode("utf-8")


def _mac(key: bytes, previous: str, body: bytes) -> str:
    return hmac.new(key, previous.encode("ascii") + body, hashlib.sha256).hexdigest()


def _clean_details(details: Mapping[str, DetailValue]) -> str:
    clean: dict[str, DetailValue] = {}
    for name, value in sorted(details.items()):
        if not isinstance(value, str | int | bool | type(None)):
            raise TypeError(f"audit detail {name!r} must be str, int, bool or None")
        clean[name] = value[:MAX_DETAIL_CHARS] if isinstance(value, str) else value
    return json.dumps(clean, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record to append (`AuditLog.append_many`); details follow the `append` rules."""

    event: str
    actor: str
    outcome: str = "ok"
    details: Mapping[str, DetailValue] = field(default_factory=dict)


class AuditLog(Protocol):
    """What every audit log store offers (`SqliteAuditLog`, `gateway.audit_postgres.PostgresAuditLog`).
    Appends are durable when they return; ``record``/``record_many`` run them off the event loop."""

    def open(self) -> None:
        """Connect and create the tables if needed."""
        ...

    def close(self) -> None:
        """Release the connection. Idempotent."""
        ...

    def append(self, event: str, *, actor: str, outcome: str = "ok", **details: DetailValue) -> AuditRecord:
        """Append one record durably and return it."""
        ...

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append several records, chained in order, in one durable transaction."""
        ...

    async def record(
        self, event: str, *, actor: str, outcome: str = "ok", **details: DetailValue
    ) -> AuditRecord:
        """`append` off the event loop."""
        ...

    async def record_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """`append_many` off the event loop."""
        ...

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
        """Records in ``seq`` order, filtered (see `SqliteAuditLog.records`)."""
        ...

    def verify(self) -> VerifyResult:
        """Recompute the chain; name the first record edited, removed or reordered."""
        ...

    def purge_before(self, cutoff: datetime) -> tuple[int, int | None]:
        """Remove records older than ``cutoff``, keeping a sealed anchor; (removed, last removed seq)."""
        ...


Row = tuple[int, str, str, str, str, str, str]
"""A stored record: (seq, at, event, actor, outcome, details_json, mac)."""


def prepare(entries: Sequence[AuditEntry]) -> list[tuple[AuditEntry, str]]:
    """Each entry with its cleaned details JSON (TypeError on a non-scalar detail)."""
    return [(entry, _clean_details(entry.details)) for entry in entries]


def chain_rows(
    key: bytes, previous: str, seq: int, at: str, prepared: Sequence[tuple[AuditEntry, str]]
) -> list[Row]:
    """Rows for ``prepared`` (entry, details JSON), chained after record ``seq`` whose MAC is
    ``previous``."""
    rows: list[Row] = []
    for entry, details_json in prepared:
        seq += 1
        fields = (seq, at, entry.event, entry.actor, entry.outcome, details_json)
        previous = _mac(key, previous, _canonical(fields))
        rows.append((*fields, previous))
    return rows


def as_records(rows: Sequence[Row]) -> list[AuditRecord]:
    """Stored rows as `AuditRecord` objects."""
    return [
        AuditRecord(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], json.loads(r[5]), r[6])
        for r in rows
    ]


def anchor_seal(key: bytes, seq: int, mac: str) -> str:
    """The seal of a retention anchor: record ``seq`` whose MAC is ``mac``."""
    return hmac.new(key, f"anchor:{seq}:{mac}".encode("ascii"), hashlib.sha256).hexdigest()


def verify_chain(key: bytes, rows: Sequence[Row], anchor: tuple[int, str, str] | None) -> VerifyResult:
    """Check ``rows`` (in ``seq`` order) against the chain, from the sealed ``anchor`` (seq, mac,
    seal) when retention removed older records; name the first bad record."""
    previous, expected_seq = GENESIS, 1
    if anchor is not None:
        anchor_seq, anchor_mac, seal = anchor
        if not hmac.compare_digest(seal, anchor_seal(key, anchor_seq, anchor_mac)):
            return VerifyResult(len(rows), anchor_seq + 1, "the retention anchor does not match its seal")
        previous, expected_seq = anchor_mac, anchor_seq + 1
    for seq, at, event, actor, outcome, details, mac in rows:
        if seq != expected_seq:
            return VerifyResult(len(rows), expected_seq, f"record {expected_seq} is missing or out of order")
        if not hmac.compare_digest(
            mac, _mac(key, previous, _canonical((seq, at, event, actor, outcome, details)))
        ):
            return VerifyResult(len(rows), seq, f"record {seq} does not match its MAC")
        previous, expected_seq = mac, seq + 1
    return VerifyResult(len(rows), None, None)


def record_filter(
    placeholder: str,
    *,
    event: str | None,
    actor: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    after_seq: int | None,
) -> tuple[str, list[object]]:
    """The ``WHERE`` clause (or "") and its parameters for `AuditLog.records` filters, with the
    driver's parameter ``placeholder`` (``?`` for sqlite3, ``%s`` for psycopg)."""
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (("event", event), ("actor", actor), ("outcome", outcome)):
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    for condition, moment in (("at >=", since), ("at <", until)):
        if moment is not None:
            clauses.append(f"{condition} {placeholder}")
            params.append(moment.astimezone(UTC).isoformat(timespec="microseconds"))
    if after_seq is not None:
        clauses.append(f"seq > {placeholder}")
        params.append(after_seq)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


class ChainedAuditLog:
    """What every store shares: one record and the async forms are all `append_many`."""

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append several records, chained in order, in one durable transaction."""
        raise NotImplementedError

    def append(self, event: str, *, actor: str, outcome: str = "ok", **details: DetailValue) -> AuditRecord:
        """Append one record durably and return it."""
        [record] = self.append_many([AuditEntry(event, actor, outcome, details)])
        return record

    async def record_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """`append_many` off the event loop."""
        return await asyncio.to_thread(self.append_many, entries)

    async def record(
        self, event: str, *, actor: str, outcome: str = "ok", **details: DetailValue
    ) -> AuditRecord:
        """`append` off the event loop."""
        return await asyncio.to_thread(lambda: self.append(event, actor=actor, outcome=outcome, **details))


class SqliteAuditLog(ChainedAuditLog):
    """The audit log on SQLite. Safe to share between tasks; one writer at a time."""

    def __init__(
        self, path: Path, key: bytes, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        if len(key) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        self._path = path
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create the database and table if needed."""
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append several records, chained in order, in ONE durable transaction (group commit);
        returns them after the commit."""
        if not entries:
            return []
        prepared = prepare(entries)
        at = self._clock().astimezone(UTC).isoformat(timespec="microseconds")
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
                if row is None:  # empty, or every record removed by retention: chain on from the anchor
                    row = conn.execute("SELECT seq, mac FROM audit_anchor WHERE id = 1").fetchone()
                seq, previous = (row[0], row[1]) if row else (0, GENESIS)
                rows = chain_rows(self._key, previous, seq, at, prepared)
                conn.executemany(
                    "INSERT INTO audit_log (seq, at, event, actor, outcome, details, mac)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return as_records(rows)

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
        """Records in order, filtered by event, actor, outcome, time (``since`` inclusive, ``until``
        exclusive) and sequence number (``after_seq``, for paging)."""
        where, params = record_filter(
            "?", event=event, actor=actor, outcome=outcome, since=since, until=until, after_seq=after_seq
        )
        sql = (
            f"SELECT seq, at, event, actor, outcome, details, mac FROM audit_log {where} ORDER BY seq LIMIT ?"  # noqa: S608 - columns are fixed names
        )
        with self._lock:
            rows = self._connection().execute(sql, (*params, limit)).fetchall()
        return as_records(rows)

    def verify(self) -> VerifyResult:
        """Recompute the chain; name the first record edited, removed or reordered."""
        with self._lock:
            rows = (
                self._connection()
                .execute("SELECT seq, at, event, actor, outcome, details, mac FROM audit_log ORDER BY rowid")
                .fetchall()
            )
        return verify_chain(self._key, rows, self._anchor())

    def _seal(self, seq: int, mac: str) -> str:
        return anchor_seal(self._key, seq, mac)

    def _anchor(self) -> tuple[int, str, str] | None:
        with self._lock:
            row = (
                self._connection().execute("SELECT seq, mac, seal FROM audit_anchor WHERE id = 1").fetchone()
            )
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def purge_before(self, cutoff: datetime) -> tuple[int, int | None]:
        """Remove records older than ``cutoff`` (retention), keeping the chain verifiable from a
        sealed anchor. Returns (how many were removed, the last removed seq)."""
        cut = cutoff.astimezone(UTC).isoformat(timespec="microseconds")
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT seq, mac FROM audit_log WHERE at < ? ORDER BY seq DESC LIMIT 1", (cut,)
                ).fetchone()
                if row is None:
                    conn.execute("ROLLBACK")
                    return 0, None
                last_seq, last_mac = int(row[0]), str(row[1])
                removed = conn.execute("DELETE FROM audit_log WHERE seq <= ?", (last_seq,)).rowcount
                conn.execute(
                    "INSERT OR REPLACE INTO audit_anchor (id, seq, mac, seal) VALUES (1, ?, ?, ?)",
                    (last_seq, last_mac, self._seal(last_seq, last_mac)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return removed, last_seq
