"""`SqliteSpool`: the durable, encrypted `SpoolBackend` on stdlib sqlite3.

Durability: WAL journal with ``synchronous=FULL``, so a commit is fsynced before ``put`` returns
(the gateway acknowledges its source only then). Every write runs in ``BEGIN IMMEDIATE``; the busy
timeout makes a writer wait for a lock instead of failing at once.

Encryption at rest: ticket bodies are stored only as `PayloadCipher` output (AES-256-GCM), bound to
their row by AAD = the dedup key. The file, its ``-wal`` and ``-shm`` never hold the JSON in the
clear. Metadata (ids, fingerprints, sink names, states, times, error codes) is stored in the clear;
none of it is PHI.

Threading: sqlite3 blocks, so each call runs in a worker thread (`asyncio.to_thread`) on a single
connection guarded by a `threading.Lock`. A cancelled caller does not cancel a commit already under
way; ``put`` being idempotent on the dedup key makes the caller's retry harmless.

Errors: sqlite3 errors are translated by `translate_sqlite_error` (busy, locked, read-only, I/O, full,
cannot open -> `SpoolUnavailable`; a damaged file -> `SpoolCorrupt`). ``open`` raises `SpoolCorrupt`
when unsettled entries were encrypted with a key id the cipher does not hold (a configuration error
caught at start-up rather than one entry at a time).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from fallback.cipher import PayloadCipher
from fallback.clock import Clock, require_aware, utc_now
from fallback.errors import LeaseLost, SpoolCorrupt, SpoolUnavailable, translate_sqlite_error
from fallback.fsync import fsync_directory
from fallback.search_meta import search_meta
from fallback.spool import (
    DeadLetter,
    Delivered,
    EntryInfo,
    EntryState,
    LeasedEntry,
    Outcome,
    PutRequest,
    PutResult,
    RetryAt,
    Settlement,
    entry_info_from_row,
    short_reason,
    validate_lease,
    validate_put,
)
from fallback.sqlite_admin import SqliteAdmin
from fallback.sqlite_schema import (
    from_micros,
    migrate,
    to_micros,
    write_transaction,
)
from fallback.sqlite_search import backfill, write_codes
from normalizers.sealed import SealedTicket

logger = logging.getLogger(__name__)
READY_HEADROOM_BYTES: Final = 64 * 1024
"""What ``check_writable`` rewrites on each call: room for a few tickets, not just one row."""

R = TypeVar("R")

_AAD_PREFIX: Final = b"rcmgw.spool.v1\x00"
_INFO_COLUMNS: Final = (
    "e.entry_id, e.sink, p.ticket_id, p.fingerprint, e.state, e.attempts, e.created_at, "
    "e.updated_at, e.next_attempt_at, e.last_error, e.remote_id, e.lease_owner, e.lease_expires_at"
)
_SELECT_INFO: Final = f"SELECT {_INFO_COLUMNS} FROM entries e JOIN payloads p USING (dedup_key)"  # noqa: S608
_UNSETTLED: Final = ("pending", "leased")


def _aad(dedup_key: str) -> bytes:
    return _AAD_PREFIX + dedup_key.encode("utf-8")


class SqliteSpool(SqliteAdmin):
    """The durable `SpoolBackend` (see the module docstring).

    ``path`` is the database file (parent directories are created on open); ``cipher`` encrypts the
    payloads; ``clock`` supplies time; ``busy_timeout`` is how long a write waits for a lock held by
    another connection before failing with `SpoolUnavailable`.
    """

    def __init__(
        self,
        path: Path,
        cipher: PayloadCipher,
        *,
        clock: Clock = utc_now,
        busy_timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        self._path = Path(path)
        self._cipher = cipher
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def __aenter__(self) -> SqliteSpool:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open (creating if needed) the database, set WAL + ``synchronous=FULL``, migrate the
        schema, and check that every unsettled entry's key id is known to the cipher."""
        await asyncio.to_thread(self._open_sync)

    async def aclose(self) -> None:
        """Close the connection (SQLite checkpoints the WAL). Idempotent."""
        await asyncio.to_thread(self._close_sync)

    async def put(self, ticket: SealedTicket, *, dedup_key: str, sinks: Sequence[str]) -> PutResult:
        """See `SpoolBackend.put`; durable (fsynced) when it returns."""
        [result] = await self.put_many([PutRequest(ticket, dedup_key, sinks)])
        return result

    async def put_many(self, items: Sequence[PutRequest]) -> list[PutResult]:
        """See `SpoolBackend.put_many`: one ``BEGIN IMMEDIATE`` transaction, one fsynced commit."""
        checked = [(item, validate_put(item.dedup_key, item.sinks)) for item in items]
        if not checked:
            return []

        def run(conn: sqlite3.Connection) -> list[PutResult]:
            now = to_micros(self._now())
            with write_transaction(conn):
                results: list[PutResult] = []
                seen: dict[str, PutResult] = {}
                for item, names in checked:
                    earlier = seen.get(item.dedup_key)
                    if earlier is not None:
                        results.append(PutResult(created=False, entry_ids=earlier.entry_ids))
                        continue
                    result = self._put_one(conn, item, names, now)
                    seen[item.dedup_key] = result
                    results.append(result)
                return results

        return await self._call(run)

    async def put_batch(self, items: Sequence[tuple[SealedTicket, str, Sequence[str]]]) -> list[PutResult]:
        """`put_many` for ``(ticket, dedup_key, sinks)`` tuples, the form `fallback.group_commit`
        collects from concurrent callers."""
        return await self.put_many([PutRequest(ticket, key, sinks) for ticket, key, sinks in items])

    def _put_one(
        self, conn: sqlite3.Connection, item: PutRequest, names: tuple[str, ...], now: int
    ) -> PutResult:
        dedup_key, ticket = item.dedup_key, item.ticket
        if conn.execute("SELECT 1 FROM payloads WHERE dedup_key = ?", (dedup_key,)).fetchone():
            rows = conn.execute(
                "SELECT entry_id FROM entries WHERE dedup_key = ? ORDER BY seq", (dedup_key,)
            ).fetchall()
            return PutResult(created=False, entry_ids=tuple(row[0] for row in rows))
        key_id, blob = self._cipher.encrypt(ticket.body, _aad(dedup_key))
        meta = search_meta(ticket)
        conn.execute(
            "INSERT INTO payloads (dedup_key, ticket_id, fingerprint, key_id, blob, created_at, category,"
            " payer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (dedup_key, ticket.id, ticket.fingerprint, key_id, blob, now, meta.category, meta.payer),
        )
        write_codes(conn, dedup_key, meta, now)
        ids = tuple("ent_" + secrets.token_hex(16) for _ in names)
        conn.executemany(
            "INSERT INTO entries (entry_id, dedup_key, sink, state, attempts, created_at,"
            " updated_at, next_attempt_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)",
            [(eid, dedup_key, sink, now, now, now) for eid, sink in zip(ids, names, strict=True)],
        )
        return PutResult(created=True, entry_ids=ids)

    async def lease(self, sink: str, *, owner: str, limit: int, lease_for: timedelta) -> list[LeasedEntry]:
        """See `SpoolBackend.lease`. Undecryptable entries are settled DEAD ("spool.corrupt")."""
        validate_lease(owner, limit, lease_for)

        def run(conn: sqlite3.Connection) -> list[LeasedEntry]:
            now = self._now()
            with write_transaction(conn):
                rows = _due_rows(conn, sink, to_micros(now), limit)
                return self._claim(
                    conn, rows, sink=sink, owner=owner, now_us=to_micros(now), expires=now + lease_for
                )

        return await self._call(run)

    async def settle(self, entry_id: str, *, owner: str, outcome: Outcome) -> None:
        """See `SpoolBackend.settle`."""
        if await self.settle_many([(entry_id, outcome)], owner=owner):
            raise LeaseLost(f"entry {entry_id} is not leased by {owner!r}")

    async def settle_many(self, settlements: Sequence[Settlement], *, owner: str) -> list[str]:
        """See `SpoolBackend.settle_many`: one write transaction, one durable commit."""
        if not settlements:
            return []
        rows = [(entry_id, *_settle_columns(outcome)) for entry_id, outcome in settlements]

        def run(conn: sqlite3.Connection) -> list[str]:
            now_us = to_micros(self._now())
            lost: list[str] = []
            with write_transaction(conn):
                for entry_id, state, next_at, error, remote_id in rows:
                    cur = conn.execute(
                        "UPDATE entries SET state = ?, updated_at = ?, next_attempt_at = ?,"
                        " last_error = COALESCE(?, last_error), remote_id = COALESCE(?, remote_id),"
                        " lease_owner = NULL, lease_expires_at = NULL WHERE entry_id = ?"
                        " AND state = 'leased' AND lease_owner = ? AND lease_expires_at > ?",
                        (state, now_us, next_at, error, remote_id, entry_id, owner, now_us),
                    )
                    if cur.rowcount != 1:
                        lost.append(entry_id)
            return lost

        return await self._call(run)

    async def get(self, entry_id: str) -> EntryInfo | None:
        """See `SpoolBackend.get`."""

        def run(conn: sqlite3.Connection) -> EntryInfo | None:
            row = conn.execute(f"{_SELECT_INFO} WHERE e.entry_id = ?", (entry_id,)).fetchone()
            return None if row is None else entry_info_from_row(row, from_micros)

        return await self._call(run)

    async def list_entries(
        self, *, state: EntryState | None = None, sink: str | None = None, limit: int = 100
    ) -> list[EntryInfo]:
        """See `SpoolBackend.list_entries`."""

        def run(conn: sqlite3.Connection) -> list[EntryInfo]:
            rows = conn.execute(
                f"{_SELECT_INFO} WHERE (:state IS NULL OR e.state = :state)"
                " AND (:sink IS NULL OR e.sink = :sink) ORDER BY e.created_at, e.seq LIMIT :limit",
                {"state": None if state is None else state.value, "sink": sink, "limit": max(limit, 0)},
            ).fetchall()
            return [entry_info_from_row(row, from_micros) for row in rows]

        return await self._call(run)

    async def depth(self) -> dict[str, dict[str, int]]:
        """See `SpoolBackend.depth`."""

        def run(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
            counts: dict[str, dict[str, int]] = {}
            rows = conn.execute("SELECT sink, state, COUNT(*) FROM entries GROUP BY sink, state")
            for sink, state, count in rows:
                counts.setdefault(sink, {s.value: 0 for s in EntryState})[state] = count
            return counts

        return await self._call(run)

    async def check_writable(self) -> None:
        """See `SpoolBackend.check_writable`: commits (and fsyncs) one small metadata row and
        rewrites a `READY_HEADROOM_BYTES` row, so a nearly full disk (a few free pages, not enough
        for a ticket) fails the check with `SpoolFull` instead of passing it."""

        def run(conn: sqlite3.Connection) -> None:
            with write_transaction(conn):
                conn.execute(
                    "INSERT INTO spool_meta (key, value) VALUES ('last_writable_check', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (self._now().isoformat(),),
                )
                conn.execute(
                    "INSERT INTO spool_meta (key, value) VALUES ('ready_headroom', zeroblob(?))"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (READY_HEADROOM_BYTES,),
                )

        await self._call(run)

    # -- internals -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")

    async def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        return await asyncio.to_thread(self._locked, fn)

    def _locked(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        with self._lock:
            if self._conn is None:
                raise SpoolUnavailable("spool is not open")
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise translate_sqlite_error(exc) from exc

    def _open_sync(self) -> None:
        with self._lock:
            if self._conn is not None:
                return
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SpoolUnavailable(f"cannot create spool directory ({type(exc).__name__})") from exc
            try:
                # ``timeout`` is SQLite's busy timeout; isolation_level=None: we issue BEGIN ourselves.
                conn = sqlite3.connect(
                    self._path,
                    timeout=self._busy_timeout.total_seconds(),
                    isolation_level=None,
                    check_same_thread=False,
                )
            except sqlite3.Error as exc:
                raise translate_sqlite_error(exc) from exc
            try:
                self._configure(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpoolUnavailable(f"spool cannot use WAL journal (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:  # 2 = INCREMENTAL
                # Purged space goes back to the file system; VACUUM applies it to an existing file
                # (instant on a new one).
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("VACUUM")
            migrate(conn)
            backfill(conn, self._cipher)
            key_ids = {
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT p.key_id FROM payloads p JOIN entries e USING (dedup_key)"
                    " WHERE e.state IN (?, ?)",
                    _UNSETTLED,
                )
            }
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc) from exc
        missing = sorted(key_ids - self._cipher.key_ids)
        if missing:
            raise SpoolCorrupt(f"unsettled spool entries use unconfigured key ids {missing}")
        fsync_directory(self._path.parent)

    def _close_sync(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def _bury_corrupt(
        self, conn: sqlite3.Connection, entry_id: str, sink: str, now_us: int, exc: Exception
    ) -> None:
        conn.execute(
            "UPDATE entries SET state = 'dead', updated_at = ?, next_attempt_at = NULL,"
            " last_error = ?, lease_owner = NULL, lease_expires_at = NULL WHERE entry_id = ?",
            (now_us, SpoolCorrupt.code, entry_id),
        )
        logger.error(
            "spool entry cannot be decrypted; dead-lettered",
            extra={
                "entry_id": entry_id,
                "sink": sink,
                "code": SpoolCorrupt.code,
                "error_class": type(exc).__name__,
            },
        )


def _due_rows(conn: sqlite3.Connection, sink: str, now_us: int, limit: int) -> list[tuple[Any, ...]]:
    """The first ``limit`` due entries of ``sink`` in (created_at, seq) order, with their payloads:
    (seq, entry_id, attempts, created_at, dedup_key, key_id, blob).

    Each state is read in index order (``entries_lease_order``; the unary ``+`` keeps the planner
    from picking the time-range indexes, which would sort every due entry on each lease) and the two
    short lists are merged; then only the chosen payloads are read.
    """
    picked: list[tuple[Any, ...]] = []
    for state, column in (("pending", "next_attempt_at"), ("leased", "lease_expires_at")):
        picked += conn.execute(
            "SELECT created_at, seq, entry_id, attempts, dedup_key FROM entries"  # noqa: S608 - fixed names
            f" WHERE sink = ? AND state = ? AND +{column} <= ? ORDER BY created_at, seq LIMIT ?",
            (sink, state, now_us, limit),
        ).fetchall()
    picked = sorted(picked)[:limit]
    if not picked:
        return []
    keys = [row[4] for row in picked]
    blobs = {
        key: (key_id, blob)
        for key, key_id, blob in conn.execute(
            f"SELECT dedup_key, key_id, blob FROM payloads WHERE dedup_key IN ({', '.join('?' * len(keys))})",  # noqa: S608
            keys,
        )
    }
    return [(seq, eid, attempts, created, key, *blobs[key]) for created, seq, eid, attempts, key in picked]


def _settle_columns(outcome: Outcome) -> tuple[str, int | None, str | None, str | None]:
    """(state, next_attempt_at in micros, last_error, remote_id) for an outcome."""
    if isinstance(outcome, Delivered):
        return "delivered", None, None, outcome.remote_id
    if isinstance(outcome, RetryAt):
        when = to_micros(require_aware(outcome.when, "RetryAt.when"))
        return "pending", when, short_reason(outcome.reason), None
    if isinstance(outcome, DeadLetter):
        return "dead", None, short_reason(outcome.reason), None
    raise TypeError(f"unknown settlement outcome {type(outcome).__name__}")  # pragma: no cover


__all__ = ["SqliteSpool"]
