"""`PostgresLifecycleStore`: the per-fingerprint lifecycle state (`gateway.lifecycle_store`) in the
PostgreSQL spool database (table ``lifecycle_state``), so several gateway nodes on one database
share dedup and lifecycle; and `ClusterLock`, which serialises lifecycle decisions across nodes.

Schema: created on first use, idempotently, under a transaction-level advisory lock (nodes starting
together do not race on CREATE TABLE). Facilities and claim tokens are ``TEXT[]`` (a GIN index
serves `find_open_by_claims`); times are microseconds since the epoch, as in the SQLite store.
Writes are upserts (``INSERT ... ON CONFLICT (fingerprint) DO UPDATE``) in one transaction per
`save_many` with ``synchronous_commit = on``: durable when the call returns.

Two nodes, one fingerprint: the pipeline plans, spools and saves under its gate's lock
(`gateway.lifecycle_flow.LifecycleGate.lock`). With this store that lock is a `ClusterLock`: the
process's asyncio lock plus a session-level advisory lock (``pg_advisory_lock(LIFECYCLE_LOCK_ID)``)
on a dedicated connection, so the second node reads the state the first one committed and folds
its occurrence into the same ticket instead of opening another. The lock is held for one plan,
its spool puts and its state commit (a few milliseconds); if the lock's connection breaks the
server drops the lock and the holder's next call fails with `SpoolUnavailable` (not acknowledged).

One connection per object, used by one thread at a time; the async methods run in a worker thread.
A broken connection is replaced on the next call. Errors are `fallback.errors.SpoolUnavailable`
(the caller does not acknowledge), never quoting the DSN or a statement.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypeVar

import psycopg

from fallback.errors import SpoolUnavailable
from gateway.lifecycle_store import StateSnapshot, state_from_row
from normalizers.lifecycle import FingerprintState

R = TypeVar("R")
Conn = psycopg.Connection[tuple[Any, ...]]
LIFECYCLE_LOCK_ID: Final = 0x7263_6D67_776C_6663  # "rcmgwlfc": serialises lifecycle decisions
_SCHEMA_LOCK_ID: Final = 0x7263_6D67_776C_7363  # "rcmgwlsc": serialises the DDL
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS lifecycle_state ("
    " fingerprint TEXT PRIMARY KEY, problem_key TEXT NOT NULL, ticket_id TEXT NOT NULL,"
    " state TEXT NOT NULL, opened_by TEXT NOT NULL, occurrences BIGINT NOT NULL,"
    " first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, last_delivery_at BIGINT NOT NULL,"
    " updates BIGINT NOT NULL, facilities TEXT[] NOT NULL, claims TEXT[] NOT NULL, template TEXT,"
    " delivered_occurrences BIGINT)",
    "CREATE INDEX IF NOT EXISTS lifecycle_state_problem ON lifecycle_state (problem_key, last_seen)",
    "CREATE INDEX IF NOT EXISTS lifecycle_state_claims ON lifecycle_state USING GIN (claims)"
    " WHERE state = 'open'",
    "CREATE INDEX IF NOT EXISTS lifecycle_state_pending ON lifecycle_state (last_delivery_at)"
    " WHERE state = 'open' AND occurrences > delivered_occurrences",
)
_COLUMNS: Final = (
    "fingerprint, problem_key, ticket_id, state, opened_by, occurrences, first_seen, last_seen, "
    "last_delivery_at, updates, facilities, claims, template, delivered_occurrences"
)
_UPSERT: Final = (
    f"INSERT INTO lifecycle_state ({_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})"  # noqa: S608 - fixed columns
    " ON CONFLICT (fingerprint) DO UPDATE SET problem_key = EXCLUDED.problem_key,"
    " ticket_id = EXCLUDED.ticket_id, state = EXCLUDED.state, opened_by = EXCLUDED.opened_by,"
    " occurrences = EXCLUDED.occurrences, first_seen = EXCLUDED.first_seen,"
    " last_seen = EXCLUDED.last_seen, last_delivery_at = EXCLUDED.last_delivery_at,"
    " updates = EXCLUDED.updates, facilities = EXCLUDED.facilities, claims = EXCLUDED.claims,"
    " template = EXCLUDED.template, delivered_occurrences = EXCLUDED.delivered_occurrences"
)


def _micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def _values(state: FingerprintState) -> tuple[object, ...]:
    return (
        state.fingerprint,
        state.problem_key,
        state.ticket_id,
        state.state.value,
        state.opened_by,
        state.occurrences,
        _micros(state.first_seen),
        _micros(state.last_seen),
        _micros(state.last_delivery_at),
        state.updates,
        sorted(state.facilities),
        sorted(state.claims),
        state.template,
        state.delivered_occurrences,
    )


def _array_set(value: object) -> frozenset[str]:
    return frozenset(str(item) for item in value)  # type: ignore[attr-defined]


def _row_state(row: Sequence[Any]) -> FingerprintState:
    return state_from_row(row, _array_set)


class _Connection:
    """One lazily (re)opened autocommit connection, used by one thread at a time."""

    def __init__(self, dsn: str, connect_timeout: float) -> None:
        self._dsn = dsn
        self._timeout = max(1, int(connect_timeout))
        self.lock = threading.Lock()
        self._conn: Conn | None = None

    def get(self, on_connect: Callable[[Conn], None] | None = None) -> Conn:
        """The open connection (caller holds ``lock``); reconnects after a failure."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self.close()
        conn: Conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        try:
            if on_connect is not None:
                on_connect(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _unavailable(error: psycopg.Error) -> SpoolUnavailable:
    return SpoolUnavailable(f"lifecycle store failed ({type(error).__name__})")


def _create_schema(conn: Conn) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        for statement in _SCHEMA:
            conn.execute(statement)


class PostgresLifecycleStore:
    """`LifecycleStore` in PostgreSQL (see the module docstring). ``dsn`` is the spool's."""

    def __init__(self, dsn: str, *, connect_timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._db = _Connection(dsn, connect_timeout)

    def cluster_lock(self) -> ClusterLock:
        """A lock serialising lifecycle decisions across every node on this database."""
        return ClusterLock(self._dsn, connect_timeout=self._connect_timeout)

    async def _run(self, work: Callable[[Conn], R]) -> R:
        def call() -> R:
            with self._db.lock:
                try:
                    return work(self._db.get(_create_schema))
                except psycopg.Error as error:
                    raise _unavailable(error) from None

        return await asyncio.to_thread(call)

    async def get(self, fingerprint: str) -> FingerprintState | None:
        """The state of ``fingerprint``, or None."""

        def work(conn: Conn) -> FingerprintState | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM lifecycle_state WHERE fingerprint = %s",  # noqa: S608
                (fingerprint,),
            ).fetchone()
            return None if row is None else _row_state(row)

        return await self._run(work)

    async def save(self, state: FingerprintState) -> None:
        """Upsert ``state``; returns after a durable commit."""
        await self.save_many([state])

    async def save_many(self, states: Sequence[FingerprintState]) -> None:
        """Upsert every state (latest per fingerprint wins) in ONE durable transaction."""
        if not states:
            return
        latest = {state.fingerprint: state for state in states}

        def work(conn: Conn) -> None:
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = on")
                with conn.cursor() as cur:
                    cur.executemany(_UPSERT, [_values(s) for _, s in sorted(latest.items())])

        await self._run(work)

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        """Facilities of the states of ``problem_key`` last seen at or after ``since``."""

        def work(conn: Conn) -> frozenset[str]:
            rows = conn.execute(
                "SELECT DISTINCT unnest(facilities) FROM lifecycle_state"
                " WHERE problem_key = %s AND last_seen >= %s",
                (problem_key, _micros(since)),
            ).fetchall()
            return frozenset(str(row[0]) for row in rows)

        return await self._run(work)

    async def find_open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState]:
        """Open states holding any of ``tokens``."""
        if not tokens:
            return []

        def work(conn: Conn) -> list[FingerprintState]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM lifecycle_state"  # noqa: S608 - fixed column names
                " WHERE state = 'open' AND claims && %s::text[] ORDER BY fingerprint",
                (sorted(tokens),),
            ).fetchall()
            return [_row_state(row) for row in rows]

        return await self._run(work)

    async def lookup_many(
        self,
        fingerprints: Sequence[str],
        problem_keys: Sequence[str],
        since: datetime,
        claim_tokens: Iterable[str] = (),
    ) -> StateSnapshot:
        """`SnapshotReader.lookup_many` in three queries on one connection: a group's planning
        reads without a round trip per record (call it holding the `ClusterLock`)."""
        tokens = sorted(set(claim_tokens))
        floor = _micros(since)

        def work(conn: Conn) -> StateSnapshot:
            claims: dict[str, set[str]] = {token: set() for token in tokens}
            if tokens:
                for token, fp in conn.execute(
                    "SELECT token, fingerprint FROM lifecycle_state, unnest(claims) AS token"
                    " WHERE state = 'open' AND claims && %s::text[] AND token = ANY(%s::text[])",
                    (tokens, tokens),
                ):
                    claims[str(token)].add(str(fp))
            wanted = sorted({*fingerprints, *(fp for found in claims.values() for fp in found)})
            states: dict[str, FingerprintState | None] = dict.fromkeys(wanted)
            if wanted:
                for row in conn.execute(
                    f"SELECT {_COLUMNS} FROM lifecycle_state WHERE fingerprint = ANY(%s::text[])",  # noqa: S608
                    (wanted,),
                ):
                    state = _row_state(row)
                    states[state.fingerprint] = state
            keys = sorted(set(problem_keys))
            seen: dict[str, list[tuple[int, frozenset[str]]]] = {key: [] for key in keys}
            if keys:
                for key, last, facilities in conn.execute(
                    "SELECT problem_key, last_seen, facilities FROM lifecycle_state"
                    " WHERE problem_key = ANY(%s::text[]) AND last_seen >= %s",
                    (keys, floor),
                ):
                    seen[str(key)].append((int(last), _array_set(facilities)))
            return StateSnapshot(states, seen, floor, {t: frozenset(f) for t, f in claims.items()})

        return await self._run(work)

    async def pending(self, due_by: datetime, limit: int = 500) -> list[FingerprintState]:
        """Open states with occurrences absorbed since their last delivery, delivered last at or
        before ``due_by`` (candidates for a group-wait flush; the caller applies the policy)."""

        def work(conn: Conn) -> list[FingerprintState]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM lifecycle_state"  # noqa: S608 - fixed column names
                " WHERE state = 'open' AND occurrences > delivered_occurrences AND last_delivery_at <= %s"
                " ORDER BY last_delivery_at LIMIT %s",
                (_micros(due_by), limit),
            ).fetchall()
            return [_row_state(row) for row in rows]

        return await self._run(work)

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""

        def work() -> None:
            with self._db.lock:
                self._db.close()

        await asyncio.to_thread(work)


class ClusterLock:
    """An async lock held across processes: the local asyncio lock, then a session advisory lock
    on a dedicated connection (see the module docstring). ``async with lock: ...``."""

    def __init__(self, dsn: str, *, connect_timeout: float = 10.0, lock_id: int = LIFECYCLE_LOCK_ID) -> None:
        self._local = asyncio.Lock()
        self._db = _Connection(dsn, connect_timeout)
        self._lock_id = lock_id

    def locked(self) -> bool:
        """Whether this process holds (or is taking) the lock."""
        return self._local.locked()

    def _call(self, sql: str) -> None:
        with self._db.lock:
            try:
                self._db.get().execute(sql, (self._lock_id,))
            except psycopg.Error as error:
                self._db.close()
                raise _unavailable(error) from None

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            await asyncio.to_thread(self._call, "SELECT pg_advisory_lock(%s)")
        except BaseException:
            # Cancelled while the thread may still take the lock: dropping the session drops it.
            threading.Thread(target=self._reset, name="lifecycle-lock-reset", daemon=True).start()
            self._local.release()
            raise

    def _reset(self) -> None:
        with self._db.lock:
            self._db.close()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await asyncio.to_thread(self._call, "SELECT pg_advisory_unlock(%s)")
        except SpoolUnavailable:
            pass  # the connection is gone, and with it the server-side lock
        finally:
            self._local.release()

    async def aclose(self) -> None:
        """Close the lock's connection (idempotent)."""

        def work() -> None:
            with self._db.lock:
                self._db.close()

        await asyncio.to_thread(work)


__all__ = ["LIFECYCLE_LOCK_ID", "ClusterLock", "PostgresLifecycleStore"]
