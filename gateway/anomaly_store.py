"""`AnomalyStore`: durable counts for anomaly detection and the reports, in SQLite beside the
lifecycle store (the spool database file, its own connection, WAL, ``synchronous=FULL``).

Tables (every key a fixed-shape id: scope keys of payer ids, category keys and codes; no PHI):

- ``anomaly_hourly (scope, hour, occurrences)``: ticket-worthy records per scope and hour;
- ``ticket_daily (payer, category, day, opened, occurrences)``: tickets opened and occurrences;
- ``claim_daily (payer, day, claims)`` and ``claim_sets (set_key)``: 835 claims (CLP) per payer
  and day, each transaction set counted once (``set_key`` is a digest of its control numbers);
- ``anomaly_events``: detected spikes, one row per scope and hour, with their meta-ticket;
- ``change_markers``: workflow or rule changes per category and day;
- ``anomaly_meta``: ``counting_since`` (the first hour counted: earlier hours are unknown, not 0).

With ``spool.backend = postgresql`` the same tables live in the PostgreSQL spool database
(`gateway.anomaly_postgres.PostgresAnomalyStore`), shared by every node.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from gateway.sqlite_store import SqliteStore

R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS anomaly_hourly (
    scope TEXT NOT NULL, hour INTEGER NOT NULL, occurrences INTEGER NOT NULL,
    PRIMARY KEY (scope, hour)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS anomaly_hourly_hour ON anomaly_hourly (hour, occurrences);
CREATE TABLE IF NOT EXISTS ticket_daily (
    payer TEXT NOT NULL, category TEXT NOT NULL, day TEXT NOT NULL,
    opened INTEGER NOT NULL, occurrences INTEGER NOT NULL,
    PRIMARY KEY (payer, category, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claim_daily (
    payer TEXT NOT NULL, day TEXT NOT NULL, claims INTEGER NOT NULL,
    PRIMARY KEY (payer, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claim_sets (set_key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anomaly_events (
    scope TEXT NOT NULL, hour INTEGER NOT NULL, observed INTEGER NOT NULL, baseline REAL NOT NULL,
    score REAL NOT NULL, fingerprint TEXT NOT NULL, ticket_id TEXT NOT NULL, detected_at INTEGER NOT NULL,
    PRIMARY KEY (scope, hour)
);
CREATE INDEX IF NOT EXISTS anomaly_events_hour ON anomaly_events (hour);
CREATE TABLE IF NOT EXISTS change_markers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, category TEXT NOT NULL, day TEXT NOT NULL,
    note TEXT NOT NULL, actor TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS anomaly_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class ClaimBatch:
    """Claims of one transaction set (``set_key`` a digest of its control numbers)."""

    set_key: str
    payer: str
    day: date
    claims: int


@dataclass
class Tally:
    """Counts not yet written: ``hourly[(scope, hour)]``, ``tickets[(payer, category, day)] =
    [opened, occurrences]`` and claim batches."""

    hourly: dict[tuple[str, datetime], int]
    tickets: dict[tuple[str, str, date], list[int]]
    claims: list[ClaimBatch]

    @classmethod
    def empty(cls) -> Tally:
        """Nothing counted."""
        return cls({}, {}, [])

    def __bool__(self) -> bool:
        return bool(self.hourly or self.tickets or self.claims)


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """One detected spike of one scope in one hour, and the meta-ticket that reports it."""

    scope: str
    hour: datetime
    observed: int
    baseline: float
    score: float
    fingerprint: str
    ticket_id: str
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class ChangeMarker:
    """A dated workflow or rule change of one category."""

    id: int
    category: str
    day: date
    note: str
    actor: str
    created_at: datetime


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _when(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class AnomalyStore(SqliteStore):
    """The tables of the module docstring; every call runs in a worker thread."""

    label = "anomaly store"

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    async def add(self, tally: Tally, now: datetime) -> None:
        """Add ``tally`` to the stored counts in one durable transaction (claims of a transaction
        set already counted are skipped)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                first = min((hour for _, hour in tally.hourly), default=now)
                conn.execute(
                    "INSERT INTO anomaly_meta (key, value) VALUES ('counting_since', ?) ON CONFLICT (key) "
                    "DO UPDATE SET value = MIN(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                    (_epoch(first.replace(minute=0, second=0, microsecond=0)),),
                )
                conn.executemany(
                    "INSERT INTO anomaly_hourly (scope, hour, occurrences) VALUES (?, ?, ?) "
                    "ON CONFLICT (scope, hour) DO UPDATE SET "
                    "occurrences = occurrences + excluded.occurrences",
                    [(scope, _epoch(hour), count) for (scope, hour), count in tally.hourly.items()],
                )
                conn.executemany(
                    "INSERT INTO ticket_daily (payer, category, day, opened, occurrences) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (payer, category, day) DO UPDATE SET opened = opened + excluded.opened, "
                    "occurrences = occurrences + excluded.occurrences",
                    [(p, c, d.isoformat(), o, n) for (p, c, d), (o, n) in tally.tickets.items()],
                )
                for batch in tally.claims:
                    new = conn.execute(
                        "INSERT OR IGNORE INTO claim_sets (set_key) VALUES (?)", (batch.set_key,)
                    ).rowcount
                    if new:
                        conn.execute(
                            "INSERT INTO claim_daily (payer, day, claims) VALUES (?, ?, ?) "
                            "ON CONFLICT (payer, day) DO UPDATE SET claims = claims + excluded.claims",
                            (batch.payer, batch.day.isoformat(), batch.claims),
                        )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(work)

    async def scopes(self) -> frozenset[str]:
        """Every scope counted so far."""
        return await self._run(
            lambda conn: frozenset(
                str(s) for (s,) in conn.execute("SELECT DISTINCT scope FROM anomaly_hourly")
            )
        )

    async def counting_since(self) -> datetime | None:
        """The first hour counted, or None before anything was."""

        def work(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute("SELECT value FROM anomaly_meta WHERE key = 'counting_since'").fetchone()
            return None if row is None else _when(int(row[0]))

        return await self._run(work)

    async def meta(self, key: str) -> str | None:
        """A value of ``anomaly_meta`` (``counting_since``, ``last_judged``), or None."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM anomaly_meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value of ``anomaly_meta``."""
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO anomaly_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    async def busy_scopes(self, hour: datetime, min_count: int) -> dict[str, int]:
        """Scopes with at least ``min_count`` occurrences in ``hour``."""

        def work(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT scope, occurrences FROM anomaly_hourly WHERE hour = ? AND occurrences >= ?",
                (_epoch(hour), min_count),
            )
            return {str(scope): int(count) for scope, count in rows}

        return await self._run(work)

    async def series(self, scope: str, since: datetime, until: datetime) -> dict[datetime, int]:
        """Hourly counts of ``scope`` from ``since`` to ``until`` inclusive (hours without rows
        are absent: 0)."""

        def work(conn: sqlite3.Connection) -> dict[datetime, int]:
            rows = conn.execute(
                "SELECT hour, occurrences FROM anomaly_hourly WHERE scope = ? AND hour BETWEEN ? AND ?",
                (scope, _epoch(since), _epoch(until)),
            )
            return {_when(int(hour)): int(count) for hour, count in rows}

        return await self._run(work)

    async def record_events(self, events: Sequence[AnomalyEvent]) -> None:
        """Save detected spikes (a scope and hour already saved keeps its first row)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO anomaly_events (scope, hour, observed, baseline, score, fingerprint, "
                "ticket_id, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.scope,
                        _epoch(e.hour),
                        e.observed,
                        e.baseline,
                        e.score,
                        e.fingerprint,
                        e.ticket_id,
                        _epoch(e.detected_at),
                    )
                    for e in events
                ],
            )

        await self._run(work)

    async def events(
        self, since: datetime, *, scope: str | None = None, limit: int = 500
    ) -> list[AnomalyEvent]:
        """Spikes detected for hours at or after ``since``, newest first."""

        def work(conn: sqlite3.Connection) -> list[AnomalyEvent]:
            sql = (
                "SELECT scope, hour, observed, baseline, score, fingerprint, ticket_id, detected_at "
                "FROM anomaly_events WHERE hour >= ?"
            )
            args: list[object] = [_epoch(since)]
            if scope is not None:
                sql += " AND scope = ?"
                args.append(scope)
            rows = conn.execute(sql + " ORDER BY hour DESC, scope LIMIT ?", (*args, limit))
            return [
                AnomalyEvent(
                    str(s), _when(int(h)), int(o), float(b), float(sc), str(f), str(t), _when(int(d))
                )
                for s, h, o, b, sc, f, t, d in rows
            ]

        return await self._run(work)

    async def ticket_days(self, start: date, end: date) -> list[tuple[str, str, date, int, int]]:
        """``(payer, category, day, opened, occurrences)`` for days in ``[start, end)``."""

        def work(conn: sqlite3.Connection) -> list[tuple[str, str, date, int, int]]:
            rows = conn.execute(
                "SELECT payer, category, day, opened, occurrences FROM ticket_daily "
                "WHERE day >= ? AND day < ?",
                (start.isoformat(), end.isoformat()),
            )
            return [(str(p), str(c), date.fromisoformat(str(d)), int(o), int(n)) for p, c, d, o, n in rows]

        return await self._run(work)

    async def claim_days(self, start: date, end: date) -> list[tuple[str, date, int]]:
        """``(payer, day, claims)`` for days in ``[start, end)``."""

        def work(conn: sqlite3.Connection) -> list[tuple[str, date, int]]:
            rows = conn.execute(
                "SELECT payer, day, claims FROM claim_daily WHERE day >= ? AND day < ?",
                (start.isoformat(), end.isoformat()),
            )
            return [(str(p), date.fromisoformat(str(d)), int(c)) for p, d, c in rows]

        return await self._run(work)

    async def add_marker(
        self, category: str, day: date, note: str, actor: str, now: datetime
    ) -> ChangeMarker:
        """Save a change marker and return it."""

        def work(conn: sqlite3.Connection) -> ChangeMarker:
            cursor = conn.execute(
                "INSERT INTO change_markers (category, day, note, actor, created_at) VALUES (?, ?, ?, ?, ?)",
                (category, day.isoformat(), note, actor, _epoch(now)),
            )
            return ChangeMarker(int(cursor.lastrowid or 0), category, day, note, actor, _when(_epoch(now)))

        return await self._run(work)

    async def markers(self, category: str | None = None) -> list[ChangeMarker]:
        """Change markers, oldest day first (of ``category`` when given)."""

        def work(conn: sqlite3.Connection) -> list[ChangeMarker]:
            sql = "SELECT id, category, day, note, actor, created_at FROM change_markers"
            args: tuple[str, ...] = ()
            if category is not None:
                sql, args = sql + " WHERE category = ?", (category,)
            rows = conn.execute(sql + " ORDER BY day, id", args)
            return [
                ChangeMarker(int(i), str(c), date.fromisoformat(str(d)), str(n), str(a), _when(int(t)))
                for i, c, d, n, a, t in rows
            ]

        return await self._run(work)

    @contextlib.asynccontextmanager
    async def judging(self) -> AsyncIterator[None]:
        """Held while one hour is judged: nothing to share with one node (the PostgreSQL store
        holds a cluster-wide advisory lock, so one node judges an hour at a time)."""
        yield
