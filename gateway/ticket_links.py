"""`TicketLinkStore`: what two-way sync knows per delivered ticket and sink: the remote id, the
remote state mapped to open / acknowledged / resolved / reopened, and the times (created, first
acknowledged, resolved); plus the callback nonces (replay protection) and the pollers' cursors.

Kept beside the lifecycle state (table ``ticket_links`` etc. in the spool's SQLite file, its own
connection, WAL, ``synchronous=FULL``), never in `normalizers.lifecycle.FingerprintState`: the
lifecycle state itself moves through `gateway.lifecycle_store.LifecycleStore.get` / ``save``.
Rows hold ids, codes, the category, the payer id and the tier: no PHI.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from gateway.sqlite_store import SqliteStore

R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ticket_links (
    sink TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    remote_id TEXT,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at INTEGER,
    facts TEXT NOT NULL,
    PRIMARY KEY (sink, ticket_id)
);
CREATE INDEX IF NOT EXISTS ticket_links_remote ON ticket_links (sink, remote_id);
CREATE TABLE IF NOT EXISTS sync_nonces (
    sink TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (sink, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = "sink, ticket_id, fingerprint, remote_id, state, created_at, acknowledged_at, resolved_at, facts"


@dataclass(frozen=True, slots=True)
class TicketLink:
    """One delivered ticket at one sink. ``facts``: category, taxonomy_version, payer, tier, codes,
    source (ids and codes only), for metrics labels and write-back payloads."""

    sink: str
    ticket_id: str
    fingerprint: str
    remote_id: str | None
    state: str
    created_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    facts: dict[str, object] = field(default_factory=dict)


def moved(link: TicketLink, state: str, at: datetime) -> TicketLink:
    """``link`` in ``state`` at ``at``: the first acknowledgement and the latest resolve are kept;
    a reopen clears the resolve time."""
    acked = at if state == "acknowledged" and link.acknowledged_at is None else link.acknowledged_at
    resolved = at if state == "resolved" else (None if state == "reopened" else link.resolved_at)
    return dataclasses.replace(link, state=state, acknowledged_at=acked, resolved_at=resolved)


class TicketLinks(Protocol):
    """What two-way sync needs from a link store (SQLite here, PostgreSQL in
    `gateway.ticket_links_postgres`); ``tests/gateway/test_ticket_links.py`` runs on both."""

    async def record_delivery(
        self, sink: str, ticket_id: str, *, fingerprint: str, remote_id: str | None, at: datetime,
        facts: dict[str, object],
    ) -> bool: ...  # fmt: skip

    async def by_remote(self, sink: str, remote_id: str) -> TicketLink | None: ...

    async def by_ticket(self, sink: str, ticket_id: str) -> TicketLink | None: ...

    async def set_state(self, link: TicketLink, state: str, at: datetime) -> TicketLink: ...

    async def claim_nonce(self, sink: str, event_id: str, now: datetime, keep: timedelta) -> bool: ...

    async def release_nonce(self, sink: str, event_id: str) -> None: ...

    async def cursor(self, name: str) -> str | None: ...

    async def set_cursor(self, name: str, value: str) -> None: ...

    async def aclose(self) -> None: ...


def _micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def _when(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(str(value)) / 1_000_000, UTC)


def row_link(row: Sequence[object]) -> TicketLink:
    """A link from a row of ``_COLUMNS`` (times as epoch microseconds, facts as JSON text)."""
    sink, ticket, fp, remote, state, created, acked, resolved, facts = row
    created_at = _when(created)
    assert created_at is not None
    return TicketLink(
        sink=str(sink),
        ticket_id=str(ticket),
        fingerprint=str(fp),
        remote_id=None if remote is None else str(remote),
        state=str(state),
        created_at=created_at,
        acknowledged_at=_when(acked),
        resolved_at=_when(resolved),
        facts=dict(json.loads(str(facts))),
    )


class TicketLinkStore(SqliteStore):
    """SQLite store of ticket links, nonces and cursors (see the module docstring)."""

    label = "ticket link store"

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    async def record_delivery(
        self, sink: str, ticket_id: str, *, fingerprint: str, remote_id: str | None, at: datetime,
        facts: dict[str, object],
    ) -> bool:  # fmt: skip
        """Record that ``ticket_id`` reached ``sink`` as ``remote_id`` (first delivery wins; a
        later one only fills a missing remote id). True when the link is new."""

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO ticket_links ({_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, 'open', ?, NULL, NULL, ?)",
                (sink, ticket_id, fingerprint, remote_id, _micros(at), json.dumps(facts, sort_keys=True)),
            )
            if cursor.rowcount == 0 and remote_id is not None:
                conn.execute(
                    "UPDATE ticket_links SET remote_id = ? "
                    "WHERE sink = ? AND ticket_id = ? AND remote_id IS NULL",
                    (remote_id, sink, ticket_id),
                )
            return cursor.rowcount > 0

        return await self._run(work)

    async def by_remote(self, sink: str, remote_id: str) -> TicketLink | None:
        """The newest ticket delivered to ``sink`` as ``remote_id``, or None."""

        def work(conn: sqlite3.Connection) -> TicketLink | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ticket_links WHERE sink = ? AND remote_id = ? "  # noqa: S608
                "ORDER BY created_at DESC LIMIT 1",
                (sink, remote_id),
            ).fetchone()
            return None if row is None else row_link(row)

        return await self._run(work)

    async def by_ticket(self, sink: str, ticket_id: str) -> TicketLink | None:
        """The link of ``ticket_id`` at ``sink``, or None."""

        def work(conn: sqlite3.Connection) -> TicketLink | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ticket_links WHERE sink = ? AND ticket_id = ?",  # noqa: S608
                (sink, ticket_id),
            ).fetchone()
            return None if row is None else row_link(row)

        return await self._run(work)

    async def set_state(self, link: TicketLink, state: str, at: datetime) -> TicketLink:
        """Move ``link`` to ``state`` at ``at`` (see `moved`). Returns the updated link."""
        updated = moved(link, state, at)
        acked, resolved = updated.acknowledged_at, updated.resolved_at

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE ticket_links SET state = ?, acknowledged_at = ?, resolved_at = ? "
                "WHERE sink = ? AND ticket_id = ?",
                (
                    state,
                    None if acked is None else _micros(acked),
                    None if resolved is None else _micros(resolved),
                    link.sink,
                    link.ticket_id,
                ),
            )

        await self._run(work)
        return updated

    async def claim_nonce(self, sink: str, event_id: str, now: datetime, keep: timedelta) -> bool:
        """Durably remember ``event_id`` of ``sink``; False when it was seen before (a replay).
        Nonces older than ``keep`` are dropped (the timestamp window rejects those anyway)."""

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM sync_nonces WHERE seen_at < ?", (_micros(now - keep),))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO sync_nonces (sink, event_id, seen_at) VALUES (?, ?, ?)",
                (sink, event_id, _micros(now)),
            )
            return cursor.rowcount > 0

        return await self._run(work)

    async def release_nonce(self, sink: str, event_id: str) -> None:
        """Forget a claimed nonce (its callback could not be applied; the sender will retry)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sync_nonces WHERE sink = ? AND event_id = ?", (sink, event_id))

        await self._run(work)

    async def cursor(self, name: str) -> str | None:
        """A poller's saved cursor, or None."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM sync_cursors WHERE name = ?", (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def set_cursor(self, name: str, value: str) -> None:
        """Save a poller's cursor."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO sync_cursors (name, value) VALUES (?, ?)", (name, value))

        await self._run(work)


__all__ = ["TicketLink", "TicketLinkStore", "TicketLinks", "moved", "row_link"]
