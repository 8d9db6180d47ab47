"""`PostgresAnomalyStore`: the anomaly counts, events and change markers of `gateway.anomaly_store`
in the PostgreSQL spool database, used when ``spool.backend = postgresql`` so every gateway node on
one database counts into the same rows and judges the same totals.

Same tables and interface as the SQLite `AnomalyStore` (every key a fixed-shape id; no PHI). The
schema is created on first use, idempotently, under a transaction-level advisory lock. Counts are
added with atomic upserts (``occurrences = occurrences + EXCLUDED.occurrences``) in one transaction
per flush with ``synchronous_commit = on``, rows in key order (two nodes flushing the same scopes
cannot deadlock), so several nodes' flushes add up. A transaction set's claims are counted once
across nodes (``claim_sets`` insert ``ON CONFLICT DO NOTHING RETURNING``).

Judgement: `judging()` holds a session advisory lock (``ANOMALY_JUDGE_LOCK_ID``, a
`gateway.lifecycle_postgres.ClusterLock`) while an hour is judged, so one node judges at a time and
the next one finds the hour's events already recorded and opens nothing. Should two meta-tickets of
one spike still be drafted (for instance a node that crashed after spooling but before recording
the event), their dedup key is a digest of scope and hour and the spool's idempotent put makes the
second a no-op. If a node dies while judging, the server drops its lock and another node judges the
hour on its own schedule (events of the hour not recorded yet are decided again).

Errors are `fallback.errors.SpoolUnavailable`, never quoting the DSN or a statement.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import psycopg

from fallback.errors import SpoolUnavailable
from gateway.anomaly_store import AnomalyEvent, AnomalyStore, ChangeMarker, Tally, _epoch, _when
from gateway.lifecycle_postgres import ClusterLock, _Connection

R = TypeVar("R")
Conn = psycopg.Connection[tuple[Any, ...]]
ANOMALY_JUDGE_LOCK_ID: Final = 0x7263_6D67_7761_6A64  # "rcmgwajd": one node judges an hour at a time
_SCHEMA_LOCK_ID: Final = 0x7263_6D67_7761_7363  # "rcmgwasc": serialises the DDL
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS anomaly_hourly (scope TEXT NOT NULL, hour BIGINT NOT NULL,"
    " occurrences BIGINT NOT NULL, PRIMARY KEY (scope, hour))",
    "CREATE INDEX IF NOT EXISTS anomaly_hourly_hour ON anomaly_hourly (hour, occurrences)",
    "CREATE TABLE IF NOT EXISTS ticket_daily (payer TEXT NOT NULL, category TEXT NOT NULL,"
    " day TEXT NOT NULL, opened BIGINT NOT NULL, occurrences BIGINT NOT NULL,"
    " PRIMARY KEY (payer, category, day))",
    "CREATE TABLE IF NOT EXISTS claim_daily (payer TEXT NOT NULL, day TEXT NOT NULL,"
    " claims BIGINT NOT NULL, PRIMARY KEY (payer, day))",
    "CREATE TABLE IF NOT EXISTS claim_sets (set_key TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS anomaly_events (scope TEXT NOT NULL, hour BIGINT NOT NULL,"
    " observed BIGINT NOT NULL, baseline DOUBLE PRECISION NOT NULL, score DOUBLE PRECISION NOT NULL,"
    " fingerprint TEXT NOT NULL, ticket_id TEXT NOT NULL, detected_at BIGINT NOT NULL,"
    " PRIMARY KEY (scope, hour))",
    "CREATE INDEX IF NOT EXISTS anomaly_events_hour ON anomaly_events (hour)",
    "CREATE TABLE IF NOT EXISTS change_markers (id BIGSERIAL PRIMARY KEY, category TEXT NOT NULL,"
    " day TEXT NOT NULL, note TEXT NOT NULL, actor TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS anomaly_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _create_schema(conn: Conn) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        for statement in _SCHEMA:
            conn.execute(statement)


class PostgresAnomalyStore(AnomalyStore):
    """`AnomalyStore` in PostgreSQL (see the module docstring). ``dsn`` is the spool's."""

    def __init__(self, dsn: str, *, connect_timeout: float = 10.0) -> None:
        self._db = _Connection(dsn, connect_timeout)
        self._judge_lock = ClusterLock(dsn, connect_timeout=connect_timeout, lock_id=ANOMALY_JUDGE_LOCK_ID)

    async def _pg(self, work: Callable[[Conn], R]) -> R:
        def call() -> R:
            with self._db.lock:
                try:
                    return work(self._db.get(_create_schema))
                except psycopg.Error as error:
                    raise SpoolUnavailable(f"anomaly store failed ({type(error).__name__})") from None

        return await asyncio.to_thread(call)

    @contextlib.asynccontextmanager
    async def judging(self) -> AsyncIterator[None]:
        """Held while one hour is judged: a cluster-wide advisory lock (one node at a time)."""
        async with self._judge_lock:
            yield

    async def add(self, tally: Tally, now: datetime) -> None:
        """Add ``tally`` to the stored counts in one durable transaction (upserts that add up
        across nodes; claims of a transaction set already counted by any node are skipped)."""
        first = min((hour for _, hour in tally.hourly), default=now)
        hourly = sorted((scope, _epoch(hour), count) for (scope, hour), count in tally.hourly.items())
        tickets = sorted((p, c, d.isoformat(), o, n) for (p, c, d), (o, n) in tally.tickets.items())

        def work(conn: Conn) -> None:
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = on")
                conn.execute(
                    "INSERT INTO anomaly_meta (key, value) VALUES ('counting_since', %s) ON CONFLICT (key)"
                    " DO UPDATE SET value = LEAST(anomaly_meta.value::bigint, EXCLUDED.value::bigint)::text",
                    (str(_epoch(first.replace(minute=0, second=0, microsecond=0))),),
                )
                with conn.cursor() as cur:
                    if hourly:
                        cur.executemany(
                            "INSERT INTO anomaly_hourly (scope, hour, occurrences) VALUES (%s, %s, %s)"
                            " ON CONFLICT (scope, hour) DO UPDATE SET"
                            " occurrences = anomaly_hourly.occurrences + EXCLUDED.occurrences",
                            hourly,
                        )
                    if tickets:
                        cur.executemany(
                            "INSERT INTO ticket_daily (payer, category, day, opened, occurrences)"
                            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (payer, category, day) DO UPDATE SET"
                            " opened = ticket_daily.opened + EXCLUDED.opened,"
                            " occurrences = ticket_daily.occurrences + EXCLUDED.occurrences",
                            tickets,
                        )
                for batch in sorted(tally.claims, key=lambda b: b.set_key):
                    new = conn.execute(
                        "INSERT INTO claim_sets (set_key) VALUES (%s)"
                        " ON CONFLICT DO NOTHING RETURNING set_key",
                        (batch.set_key,),
                    ).fetchone()
                    if new is not None:
                        conn.execute(
                            "INSERT INTO claim_daily (payer, day, claims) VALUES (%s, %s, %s)"
                            " ON CONFLICT (payer, day) DO UPDATE SET"
                            " claims = claim_daily.claims + EXCLUDED.claims",
                            (batch.payer, batch.day.isoformat(), batch.claims),
                        )

        await self._pg(work)

    async def scopes(self) -> frozenset[str]:
        """Every scope counted so far."""
        return await self._pg(
            lambda conn: frozenset(
                str(row[0]) for row in conn.execute("SELECT DISTINCT scope FROM anomaly_hourly").fetchall()
            )
        )

    async def counting_since(self) -> datetime | None:
        """The first hour counted (by any node), or None before anything was."""
        value = await self.meta("counting_since")
        return None if value is None else _when(int(value))

    async def meta(self, key: str) -> str | None:
        """A value of ``anomaly_meta`` (``counting_since``, ``last_judged``), or None."""

        def work(conn: Conn) -> str | None:
            row = conn.execute("SELECT value FROM anomaly_meta WHERE key = %s", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self._pg(work)

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value of ``anomaly_meta``."""

        def work(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO anomaly_meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

        await self._pg(work)

    async def busy_scopes(self, hour: datetime, min_count: int) -> dict[str, int]:
        """Scopes with at least ``min_count`` occurrences in ``hour`` (every node's counts)."""

        def work(conn: Conn) -> dict[str, int]:
            rows = conn.execute(
                "SELECT scope, occurrences FROM anomaly_hourly WHERE hour = %s AND occurrences >= %s",
                (_epoch(hour), min_count),
            ).fetchall()
            return {str(scope): int(count) for scope, count in rows}

        return await self._pg(work)

    async def series(self, scope: str, since: datetime, until: datetime) -> dict[datetime, int]:
        """Hourly counts of ``scope`` from ``since`` to ``until`` inclusive (absent hours: 0)."""

        def work(conn: Conn) -> dict[datetime, int]:
            rows = conn.execute(
                "SELECT hour, occurrences FROM anomaly_hourly WHERE scope = %s AND hour BETWEEN %s AND %s",
                (scope, _epoch(since), _epoch(until)),
            ).fetchall()
            return {_when(int(hour)): int(count) for hour, count in rows}

        return await self._pg(work)

    async def record_events(self, events: Sequence[AnomalyEvent]) -> None:
        """Save detected spikes (a scope and hour already saved keeps its first row)."""
        if not events:
            return
        rows = [
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
        ]

        def work(conn: Conn) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO anomaly_events (scope, hour, observed, baseline, score, fingerprint,"
                    " ticket_id, detected_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (scope, hour) DO NOTHING",
                    rows,
                )

        await self._pg(work)

    async def events(
        self, since: datetime, *, scope: str | None = None, limit: int = 500
    ) -> list[AnomalyEvent]:
        """Spikes detected for hours at or after ``since``, newest first."""

        def work(conn: Conn) -> list[AnomalyEvent]:
            sql = (
                "SELECT scope, hour, observed, baseline, score, fingerprint, ticket_id, detected_at"
                " FROM anomaly_events WHERE hour >= %s"
            )
            args: list[object] = [_epoch(since)]
            if scope is not None:
                sql += " AND scope = %s"
                args.append(scope)
            rows = conn.execute(sql + " ORDER BY hour DESC, scope LIMIT %s", (*args, limit)).fetchall()
            return [
                AnomalyEvent(
                    str(s), _when(int(h)), int(o), float(b), float(sc), str(f), str(t), _when(int(d))
                )
                for s, h, o, b, sc, f, t, d in rows
            ]

        return await self._pg(work)

    async def ticket_days(self, start: date, end: date) -> list[tuple[str, str, date, int, int]]:
        """``(payer, category, day, opened, occurrences)`` for days in ``[start, end)``."""

        def work(conn: Conn) -> list[tuple[str, str, date, int, int]]:
            rows = conn.execute(
                "SELECT payer, category, day, opened, occurrences FROM ticket_daily"
                " WHERE day >= %s AND day < %s",
                (start.isoformat(), end.isoformat()),
            ).fetchall()
            return [(str(p), str(c), date.fromisoformat(str(d)), int(o), int(n)) for p, c, d, o, n in rows]

        return await self._pg(work)

    async def claim_days(self, start: date, end: date) -> list[tuple[str, date, int]]:
        """``(payer, day, claims)`` for days in ``[start, end)``."""

        def work(conn: Conn) -> list[tuple[str, date, int]]:
            rows = conn.execute(
                "SELECT payer, day, claims FROM claim_daily WHERE day >= %s AND day < %s",
                (start.isoformat(), end.isoformat()),
            ).fetchall()
            return [(str(p), date.fromisoformat(str(d)), int(c)) for p, d, c in rows]

        return await self._pg(work)

    async def add_marker(
        self, category: str, day: date, note: str, actor: str, now: datetime
    ) -> ChangeMarker:
        """Save a change marker and return it."""

        def work(conn: Conn) -> ChangeMarker:
            row = conn.execute(
                "INSERT INTO change_markers (category, day, note, actor, created_at)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (category, day.isoformat(), note, actor, _epoch(now)),
            ).fetchone()
            marker_id = int(row[0]) if row is not None else 0
            return ChangeMarker(marker_id, category, day, note, actor, _when(_epoch(now)))

        return await self._pg(work)

    async def markers(self, category: str | None = None) -> list[ChangeMarker]:
        """Change markers, oldest day first (of ``category`` when given)."""

        def work(conn: Conn) -> list[ChangeMarker]:
            sql = "SELECT id, category, day, note, actor, created_at FROM change_markers"
            args: tuple[str, ...] = ()
            if category is not None:
                sql, args = sql + " WHERE category = %s", (category,)
            rows = conn.execute(sql + " ORDER BY day, id", args).fetchall()
            return [
                ChangeMarker(int(i), str(c), date.fromisoformat(str(d)), str(n), str(a), _when(int(t)))
                for i, c, d, n, a, t in rows
            ]

        return await self._pg(work)

    def close(self) -> None:
        """Close the store's connection (idempotent; `aclose` also closes the judgement lock's)."""
        with self._db.lock:
            self._db.close()

    async def aclose(self) -> None:
        """Close both connections (idempotent)."""
        await asyncio.to_thread(self.close)
        await self._judge_lock.aclose()


def anomaly_store_for(spool_file: Path, postgres_dsn: str | None) -> AnomalyStore:
    """The PostgreSQL store on ``postgres_dsn`` (the spool's, shared by every node) when given,
    else the SQLite store in the spool database file."""
    if postgres_dsn is not None:
        return PostgresAnomalyStore(postgres_dsn)
    return AnomalyStore(spool_file)


__all__ = ["ANOMALY_JUDGE_LOCK_ID", "PostgresAnomalyStore", "anomaly_store_for"]
