"""`PostgresTicketLinkStore`: the ticket links, callback nonces and poller cursors of two-way sync in
the PostgreSQL spool database (tables ``ticket_links``, ``sync_nonces``, ``sync_cursors``), shared
by every gateway node: a callback reaching any node finds the link a delivery on another node
recorded, and a nonce claimed on one node is a replay on all of them (the primary key decides).

Same contract and rows as `gateway.ticket_links.TicketLinkStore` (times as epoch microseconds,
facts as JSON text). One connection per store, used by one thread at a time, autocommit with
``synchronous_commit = on``; a broken connection is replaced on the next call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, TypeVar

import psycopg
from psycopg.rows import TupleRow

from fallback.errors import SpoolUnavailable
from gateway.ticket_links import TicketLink, moved, row_link

R = TypeVar("R")
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS ticket_links (sink TEXT NOT NULL, ticket_id TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, remote_id TEXT, state TEXT NOT NULL, created_at BIGINT NOT NULL,"
    " acknowledged_at BIGINT, resolved_at BIGINT, facts TEXT NOT NULL, PRIMARY KEY (sink, ticket_id))",
    "CREATE INDEX IF NOT EXISTS ticket_links_remote ON ticket_links (sink, remote_id)",
    "CREATE TABLE IF NOT EXISTS sync_nonces (sink TEXT NOT NULL, event_id TEXT NOT NULL,"
    " seen_at BIGINT NOT NULL, PRIMARY KEY (sink, event_id))",
    "CREATE TABLE IF NOT EXISTS sync_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_COLUMNS: Final = (
    "sink, ticket_id, fingerprint, remote_id, state, created_at, acknowledged_at, resolved_at, facts"
)
_DDL_LOCK: Final = 0x7263_6D67_7773_796E  # "rcmgwsyn": serialises CREATE TABLE of nodes starting together


def _micros(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1_000_000)


class PostgresTicketLinkStore:
    """See the module docstring. ``dsn`` is the spool's connection string."""

    def __init__(self, dsn: str, *, connect_timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[TupleRow] | None = None

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            self._conn.close()
        conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout)))
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                for statement in _SCHEMA:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    async def _run(self, work: Callable[[psycopg.Connection[TupleRow]], R]) -> R:
        def call() -> R:
            with self._lock:
                try:
                    conn = self._connection()
                    with conn.transaction():
                        conn.execute("SET LOCAL synchronous_commit = on")
                        return work(conn)
                except psycopg.Error as error:
                    raise SpoolUnavailable(f"ticket link store failed ({type(error).__name__})") from None

        return await asyncio.to_thread(call)

    async def record_delivery(
        self, sink: str, ticket_id: str, *, fingerprint: str, remote_id: str | None, at: datetime,
        facts: dict[str, object],
    ) -> bool:  # fmt: skip
        """See `gateway.ticket_links.TicketLinkStore.record_delivery`."""

        def work(conn: psycopg.Connection[TupleRow]) -> bool:
            cursor = conn.execute(
                f"INSERT INTO ticket_links ({_COLUMNS}) VALUES (%s, %s, %s, %s, 'open', %s, NULL, NULL, %s) "  # noqa: S608
                "ON CONFLICT (sink, ticket_id) DO NOTHING",
                (sink, ticket_id, fingerprint, remote_id, _micros(at), json.dumps(facts, sort_keys=True)),
            )
            created = cursor.rowcount > 0
            if not created and remote_id is not None:
                conn.execute(
                    "UPDATE ticket_links SET remote_id = %s "
                    "WHERE sink = %s AND ticket_id = %s AND remote_id IS NULL",
                    (remote_id, sink, ticket_id),
                )
            return created

        return await self._run(work)

    async def by_remote(self, sink: str, remote_id: str) -> TicketLink | None:
        """The newest ticket delivered to ``sink`` as ``remote_id``, or None."""

        def work(conn: psycopg.Connection[TupleRow]) -> TicketLink | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ticket_links WHERE sink = %s AND remote_id = %s "  # noqa: S608
                "ORDER BY created_at DESC LIMIT 1",
                (sink, remote_id),
            ).fetchone()
            return None if row is None else row_link(row)

        return await self._run(work)

    async def by_ticket(self, sink: str, ticket_id: str) -> TicketLink | None:
        """The link of ``ticket_id`` at ``sink``, or None."""

        def work(conn: psycopg.Connection[TupleRow]) -> TicketLink | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ticket_links WHERE sink = %s AND ticket_id = %s",  # noqa: S608
                (sink, ticket_id),
            ).fetchone()
            return None if row is None else row_link(row)

        return await self._run(work)

    async def set_state(self, link: TicketLink, state: str, at: datetime) -> TicketLink:
        """Move ``link`` to ``state`` at ``at`` (`gateway.ticket_links.moved`)."""
        updated = moved(link, state, at)

        def work(conn: psycopg.Connection[TupleRow]) -> None:
            conn.execute(
                "UPDATE ticket_links SET state = %s, acknowledged_at = %s, resolved_at = %s "
                "WHERE sink = %s AND ticket_id = %s",
                (
                    state,
                    _micros(updated.acknowledged_at),
                    _micros(updated.resolved_at),
                    link.sink,
                    link.ticket_id,
                ),
            )

        await self._run(work)
        return updated

    async def claim_nonce(self, sink: str, event_id: str, now: datetime, keep: timedelta) -> bool:
        """Durably remember ``event_id``; False when any node saw it before (a replay)."""

        def work(conn: psycopg.Connection[TupleRow]) -> bool:
            conn.execute("DELETE FROM sync_nonces WHERE seen_at < %s", (_micros(now - keep),))
            cursor = conn.execute(
                "INSERT INTO sync_nonces (sink, event_id, seen_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (sink, event_id, _micros(now)),
            )
            return cursor.rowcount > 0

        return await self._run(work)

    async def release_nonce(self, sink: str, event_id: str) -> None:
        """Forget a claimed nonce (its callback could not be applied)."""

        def work(conn: psycopg.Connection[TupleRow]) -> None:
            conn.execute("DELETE FROM sync_nonces WHERE sink = %s AND event_id = %s", (sink, event_id))

        await self._run(work)

    async def cursor(self, name: str) -> str | None:
        """A poller's saved cursor, or None."""

        def work(conn: psycopg.Connection[TupleRow]) -> str | None:
            row = conn.execute("SELECT value FROM sync_cursors WHERE name = %s", (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def set_cursor(self, name: str, value: str) -> None:
        """Save a poller's cursor."""

        def work(conn: psycopg.Connection[TupleRow]) -> None:
            conn.execute(
                "INSERT INTO sync_cursors (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (name, value),
            )

        await self._run(work)

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""

        def work() -> None:
            with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()

        await asyncio.to_thread(work)


__all__ = ["PostgresTicketLinkStore"]
