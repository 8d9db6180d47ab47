"""`PostgresSpool`: the `SpoolBackend` (and `SpoolAdmin`) on PostgreSQL with psycopg 3, for several
gateway nodes sharing one spool.

Concurrency: ``lease`` selects due rows ``FOR UPDATE SKIP LOCKED`` and marks them leased in the same
transaction, so two nodes leasing at once never get the same entry, and neither waits for the
other. ``put`` is ``INSERT ... ON CONFLICT DO NOTHING`` on the dedup key: two nodes putting the same
ticket create it once. Durability: a commit returns after the server's WAL flush (the default
``synchronous_commit=on``), so ``put`` returning still means "durable".

Encryption at rest, AAD binding and key-id checks on open are the same as `SqliteSpool`'s (the same
`PayloadCipher`, the same AAD), so the database never holds a ticket body in the clear.

One connection per spool object, used by one task at a time (an `asyncio.Lock`); a broken
connection is replaced on the next call. Errors are translated by `translate_pg_error`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final, TypeVar

import psycopg
from pydantic import ValidationError

from fallback.cipher import PayloadCipher
from fallback.clock import Clock, require_aware, utc_now
from fallback.errors import LeaseLost, SpoolCorrupt, SpoolError, SpoolUnavailable
from fallback.postgres_schema import migrate, translate_pg_error
from fallback.search_meta import SearchMeta, fingerprint_upper, search_meta
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
from fallback.spool_admin import SINK_DISABLED_PREFIX, PurgeResult, SpoolQuery, validate_purge_states
from normalizers.sealed import SealedTicket

logger = logging.getLogger(__name__)

R = TypeVar("R")
Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_AAD_PREFIX: Final = b"rcmgw.spool.v1\x00"
_INFO: Final = (
    "SELECT e.entry_id, e.sink, p.ticket_id, p.fingerprint, e.state, e.attempts, e.created_at,"
    " e.updated_at, e.next_attempt_at, e.last_error, e.remote_id, e.lease_owner, e.lease_expires_at"
    " FROM entries e JOIN payloads p USING (dedup_key)"
)
_DUE: Final = (
    "((e.state = 'pending' AND e.next_attempt_at <= %(now)s)"
    " OR (e.state = 'leased' AND e.lease_expires_at <= %(now)s))"
)


def _aad(dedup_key: str) -> bytes:
    return _AAD_PREFIX + dedup_key.encode("utf-8")


class PostgresSpool:
    """The multi-node `SpoolBackend` (see the module docstring). ``dsn`` is a libpq connection
    string or URL (its password should come from a file or the environment, never the config)."""

    def __init__(
        self,
        dsn: str,
        cipher: PayloadCipher,
        *,
        clock: Clock = utc_now,
        connect_timeout: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._cipher = cipher
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._conn: Conn | None = None
        self._open = False
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> PostgresSpool:
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
        """Connect, migrate, and check that every unsettled entry's key id is configured."""
        async with self._lock:
            if self._open:
                return
            conn = await self._connect()
            try:
                await migrate(conn)
                await self._backfill(conn)
                cur = await conn.execute(
                    "SELECT DISTINCT p.key_id FROM payloads p JOIN entries e USING (dedup_key)"
                    " WHERE e.state IN ('pending', 'leased')"
                )
                key_ids = {str(row[0]) for row in await cur.fetchall()}
            except psycopg.Error as exc:
                await conn.close()
                raise translate_pg_error(exc) from exc
            except BaseException:
                await conn.close()
                raise
            missing = sorted(key_ids - self._cipher.key_ids)
            if missing:
                await conn.close()
                raise SpoolCorrupt(f"unsettled spool entries use unconfigured key ids {missing}")
            self._conn = conn
            self._open = True

    async def _backfill(self, conn: Conn) -> None:
        """Decrypt every payload once and store its search metadata, if the database still needs
        it (the ``search_backfill`` mark of schema step 2). Undecryptable payloads are left
        without payer and codes (the delivery path reports them)."""
        cur = await conn.execute("SELECT 1 FROM spool_meta WHERE key = 'search_backfill'")
        if await cur.fetchone() is None:
            return
        after = ""
        while True:
            cur = await conn.execute(
                "SELECT dedup_key, key_id, blob, created_at FROM payloads WHERE dedup_key > %s"
                " ORDER BY dedup_key LIMIT 1000",
                (after,),
            )
            rows = await cur.fetchall()
            if not rows:
                break
            async with conn.transaction():
                for dedup_key, key_id, blob, created_at in rows:
                    try:
                        body = self._cipher.decrypt(str(key_id), bytes(blob), _aad(str(dedup_key)))
                        meta = search_meta(SealedTicket.restore(body))
                    except (SpoolError, ValidationError, ValueError):
                        continue
                    await conn.execute(
                        "UPDATE payloads SET payer = %s WHERE dedup_key = %s", (meta.payer, dedup_key)
                    )
                    await _write_codes(conn, str(dedup_key), meta, created_at)
            after = str(rows[-1][0])
        async with conn.transaction():
            await conn.execute("DELETE FROM spool_meta WHERE key = 'search_backfill'")

    async def aclose(self) -> None:
        """Close the connection. Idempotent."""
        async with self._lock:
            self._open = False
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    async def put(self, ticket: SealedTicket, *, dedup_key: str, sinks: Sequence[str]) -> PutResult:
        """See `SpoolBackend.put`; committed (WAL-flushed) when it returns."""
        [result] = await self.put_many([PutRequest(ticket, dedup_key, sinks)])
        return result

    async def put_many(self, items: Sequence[PutRequest]) -> list[PutResult]:
        """See `SpoolBackend.put_many`: every item in ONE transaction, one commit."""
        checked = [(item, validate_put(item.dedup_key, item.sinks)) for item in items]
        if not checked:
            return []

        async def run(conn: Conn) -> list[PutResult]:
            now = self._now()
            results: list[PutResult] = []
            seen: dict[str, PutResult] = {}
            async with conn.transaction():
                for item, names in checked:
                    earlier = seen.get(item.dedup_key)
                    if earlier is not None:
                        results.append(PutResult(created=False, entry_ids=earlier.entry_ids))
                        continue
                    result = await self._put_one(conn, item, names, now)
                    seen[item.dedup_key] = result
                    results.append(result)
            return results

        return await self._call(run)

    async def _put_one(
        self, conn: Conn, item: PutRequest, names: tuple[str, ...], now: datetime
    ) -> PutResult:
        ticket, dedup_key = item.ticket, item.dedup_key
        key_id, blob = self._cipher.encrypt(ticket.body, _aad(dedup_key))
        meta = search_meta(ticket)
        cur = await conn.execute(
            "INSERT INTO payloads (dedup_key, ticket_id, fingerprint, category, key_id, blob,"
            " created_at, payer) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key",
            (dedup_key, ticket.id, ticket.fingerprint, meta.category, key_id, blob, now, meta.payer),
        )
        if await cur.fetchone() is None:
            cur = await conn.execute(
                "SELECT entry_id FROM entries WHERE dedup_key = %s ORDER BY seq", (dedup_key,)
            )
            rows = await cur.fetchall()
            return PutResult(created=False, entry_ids=tuple(str(r[0]) for r in rows))
        await _write_codes(conn, dedup_key, meta, now)
        ids = tuple("ent_" + secrets.token_hex(16) for _ in names)
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO entries (entry_id, dedup_key, sink, state, attempts, created_at,"
                " updated_at, next_attempt_at) VALUES (%s, %s, %s, 'pending', 0, %s, %s, %s)",
                [(eid, dedup_key, sink, now, now, now) for eid, sink in zip(ids, names, strict=True)],
            )
        return PutResult(created=True, entry_ids=ids)

    async def lease(self, sink: str, *, owner: str, limit: int, lease_for: timedelta) -> list[LeasedEntry]:
        """See `SpoolBackend.lease` (``FOR UPDATE SKIP LOCKED``)."""
        validate_lease(owner, limit, lease_for)
        return await self._lease(
            sink, owner, limit, lease_for, where="", order="ORDER BY e.created_at, e.seq", after=0
        )

    async def lease_after(
        self, sink: str, *, owner: str, after: int, limit: int, lease_for: timedelta
    ) -> list[LeasedEntry]:
        """See `SpoolAdmin.lease_after`."""
        validate_lease(owner, limit, lease_for)
        return await self._lease(
            sink, owner, limit, lease_for, where="AND e.seq > %(after)s", order="ORDER BY e.seq", after=after
        )

    async def _lease(
        self,
        sink: str,
        owner: str,
        limit: int,
        lease_for: timedelta,
        *,
        where: str,
        order: str,
        after: int,
    ) -> list[LeasedEntry]:
        async def run(conn: Conn) -> list[LeasedEntry]:
            now = self._now()
            expires = now + lease_for
            leased: list[LeasedEntry] = []
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT e.seq, e.entry_id, e.attempts, e.created_at, p.dedup_key, p.key_id, p.blob"  # noqa: S608
                    f" FROM entries e JOIN payloads p USING (dedup_key) WHERE e.sink = %(sink)s AND {_DUE}"
                    f" {where} {order} LIMIT %(limit)s FOR UPDATE OF e SKIP LOCKED",
                    {"sink": sink, "now": now, "limit": limit, "after": after},
                )
                good: list[str] = []
                for seq, entry_id, attempts, created_at, dedup_key, key_id, blob in await cur.fetchall():
                    try:
                        body = self._cipher.decrypt(key_id, bytes(blob), _aad(dedup_key))
                        ticket = SealedTicket.restore(body)
                    except (SpoolCorrupt, ValidationError) as exc:
                        await self._bury_corrupt(conn, entry_id, sink, now, exc)
                        continue
                    good.append(entry_id)
                    leased.append(
                        LeasedEntry(
                            entry_id=entry_id,
                            sink=sink,
                            ticket=ticket,
                            attempts=attempts,
                            created_at=created_at,
                            lease_expires_at=expires,
                            seq=seq,
                        )
                    )
                if good:
                    await conn.execute(
                        "UPDATE entries SET state = 'leased', attempts = attempts + 1, updated_at = %s,"
                        " lease_owner = %s, lease_expires_at = %s WHERE entry_id = ANY(%s)",
                        (now, owner, expires, good),
                    )
            return leased

        return await self._call(run)

    async def settle(self, entry_id: str, *, owner: str, outcome: Outcome) -> None:
        """See `SpoolBackend.settle`."""
        if await self.settle_many([(entry_id, outcome)], owner=owner):
            raise LeaseLost(f"entry {entry_id} is not leased by {owner!r}")

    async def settle_many(self, settlements: Sequence[Settlement], *, owner: str) -> list[str]:
        """See `SpoolBackend.settle_many`: one transaction, one commit."""
        if not settlements:
            return []
        rows = [(entry_id, *_settle_columns(outcome)) for entry_id, outcome in settlements]

        async def run(conn: Conn) -> list[str]:
            now = self._now()
            lost: list[str] = []
            async with conn.transaction():
                for entry_id, state, next_at, error, remote_id in rows:
                    cur = await conn.execute(
                        "UPDATE entries SET state = %s, updated_at = %s, next_attempt_at = %s,"
                        " last_error = COALESCE(%s, last_error), remote_id = COALESCE(%s, remote_id),"
                        " lease_owner = NULL, lease_expires_at = NULL WHERE entry_id = %s"
                        " AND state = 'leased' AND lease_owner = %s AND lease_expires_at > %s",
                        (state, now, next_at, error, remote_id, entry_id, owner, now),
                    )
                    if cur.rowcount != 1:
                        lost.append(entry_id)
            return lost

        return await self._call(run)

    async def get(self, entry_id: str) -> EntryInfo | None:
        """See `SpoolBackend.get`."""

        async def run(conn: Conn) -> EntryInfo | None:
            cur = await conn.execute(f"{_INFO} WHERE e.entry_id = %s", (entry_id,))
            row = await cur.fetchone()
            return None if row is None else entry_info_from_row(row, _as_is)

        return await self._call(run)

    async def list_entries(
        self, *, state: EntryState | None = None, sink: str | None = None, limit: int = 100
    ) -> list[EntryInfo]:
        """See `SpoolBackend.list_entries`."""
        return await self.find(SpoolQuery(state=state, sink=sink, limit=limit))

    async def find(self, query: SpoolQuery) -> list[EntryInfo]:
        """See `SpoolAdmin.find`."""
        params = {
            "state": None if query.state is None else query.state.value,
            "sink": query.sink,
            "category": query.category,
            "since": query.since,
            "until": query.until,
            "limit": max(query.limit, 0),
            "fp": query.fingerprint,
            "fp_end": None if query.fingerprint is None else fingerprint_upper(query.fingerprint),
            "payer": query.payer,
            "code": query.code,
        }

        # Only the filters given: "(x IS NULL OR col = x)" stops a prepared statement's generic
        # plan from using the (state, created_at) and category indexes.
        where = " AND ".join(
            clause
            for name, clause in (
                ("state", "e.state = %(state)s"),
                ("sink", "e.sink = %(sink)s"),
                ("category", "p.category = %(category)s"),
                ("since", "e.created_at >= %(since)s"),
                ("until", "e.created_at < %(until)s"),
                ("fp", 'p.fingerprint COLLATE "C" >= %(fp)s AND p.fingerprint COLLATE "C" < %(fp_end)s'),
                ("payer", "p.payer = %(payer)s"),
                (
                    "code",
                    "EXISTS (SELECT 1 FROM payload_codes c WHERE c.dedup_key = p.dedup_key"
                    " AND c.term = %(code)s)",
                ),
            )
            if params[name] is not None
        )
        sql = f"{_INFO}{' WHERE ' + where if where else ''} ORDER BY e.created_at, e.seq LIMIT %(limit)s"

        async def run(conn: Conn) -> list[EntryInfo]:
            cur = await conn.execute(sql, params)
            return [entry_info_from_row(row, _as_is) for row in await cur.fetchall()]

        return await self._call(run)

    async def depth(self) -> dict[str, dict[str, int]]:
        """See `SpoolBackend.depth`."""

        async def run(conn: Conn) -> dict[str, dict[str, int]]:
            cur = await conn.execute("SELECT sink, state, COUNT(*) FROM entries GROUP BY sink, state")
            counts: dict[str, dict[str, int]] = {}
            for sink, state, count in await cur.fetchall():
                counts.setdefault(sink, {s.value: 0 for s in EntryState})[state] = int(count)
            return counts

        return await self._call(run)

    async def check_writable(self) -> None:
        """See `SpoolBackend.check_writable`."""

        async def run(conn: Conn) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO spool_meta (key, value) VALUES ('last_writable_check', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (self._now().isoformat(),),
                )

        await self._call(run)

    async def read_ticket(self, entry_id: str) -> SealedTicket | None:
        """See `SpoolAdmin.read_ticket`."""

        async def run(conn: Conn) -> tuple[str, str, bytes] | None:
            cur = await conn.execute(
                "SELECT p.dedup_key, p.key_id, p.blob FROM entries e JOIN payloads p USING (dedup_key)"
                " WHERE e.entry_id = %s",
                (entry_id,),
            )
            row = await cur.fetchone()
            return None if row is None else (row[0], row[1], bytes(row[2]))

        found = await self._call(run)
        if found is None:
            return None
        body = self._cipher.decrypt(found[1], found[2], _aad(found[0]))
        try:
            return SealedTicket.restore(body)
        except ValidationError:
            raise SpoolCorrupt(f"entry {entry_id} does not hold a valid payload") from None

    async def requeue(self, entry_ids: Sequence[str]) -> list[str]:
        """See `SpoolAdmin.requeue`."""
        ids = list(dict.fromkeys(entry_ids))

        async def run(conn: Conn) -> list[str]:
            now = self._now()
            async with conn.transaction():
                cur = await conn.execute(
                    "UPDATE entries SET state = 'pending', attempts = 0, next_attempt_at = %s,"
                    " updated_at = %s, lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE entry_id = ANY(%s) AND state IN ('dead', 'delivered') RETURNING entry_id",
                    (now, now, ids),
                )
                done = {str(r[0]) for r in await cur.fetchall()}
            return [eid for eid in ids if eid in done]

        return await self._call(run)

    async def set_legal_hold(self, entry_ids: Sequence[str], hold: bool) -> int:
        """See `SpoolAdmin.set_legal_hold`."""

        async def run(conn: Conn) -> int:
            async with conn.transaction():
                cur = await conn.execute(
                    "UPDATE entries SET legal_hold = %s WHERE entry_id = ANY(%s) AND legal_hold != %s",
                    (hold, list(entry_ids), hold),
                )
                return cur.rowcount

        return await self._call(run)

    async def purge(
        self, before: datetime, states: Sequence[EntryState] = (EntryState.DELIVERED,)
    ) -> PurgeResult:
        """See `SpoolAdmin.purge`. Space is reclaimed by autovacuum (``bytes_freed`` is 0)."""
        values = list(validate_purge_states(states))

        async def run(conn: Conn) -> PurgeResult:
            async with conn.transaction():
                cur = await conn.execute(
                    "DELETE FROM entries WHERE state = ANY(%s) AND updated_at < %s AND NOT legal_hold",
                    (values, before),
                )
                entries = cur.rowcount
                cur = await conn.execute(
                    "DELETE FROM payloads p WHERE NOT EXISTS"
                    " (SELECT 1 FROM entries e WHERE e.dedup_key = p.dedup_key)"
                )
                payloads = cur.rowcount
            return PurgeResult(entries=entries, payloads=payloads, bytes_freed=0)

        return await self._call(run)

    async def acknowledge(self, sink: str, entry_ids: Sequence[str]) -> list[str]:
        """See `SpoolAdmin.acknowledge`."""

        async def run(conn: Conn) -> list[str]:
            now = self._now()
            async with conn.transaction():
                cur = await conn.execute(
                    "UPDATE entries SET state = 'delivered', updated_at = %s, next_attempt_at = NULL,"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE sink = %s"
                    " AND entry_id = ANY(%s) AND state IN ('pending', 'leased') RETURNING entry_id",
                    (now, sink, list(dict.fromkeys(entry_ids))),
                )
                return [str(r[0]) for r in await cur.fetchall()]

        return await self._call(run)

    async def oldest_unsettled(self) -> dict[str, datetime]:
        """See `SpoolAdmin.oldest_unsettled`."""

        async def run(conn: Conn) -> dict[str, datetime]:
            cur = await conn.execute(
                "SELECT sink, MIN(created_at) FROM entries WHERE state IN ('pending', 'leased') GROUP BY sink"
            )
            return {str(sink): oldest for sink, oldest in await cur.fetchall()}

        return await self._call(run)

    async def set_sink_disabled(self, sink: str, reason: str | None) -> None:
        """See `SpoolAdmin.set_sink_disabled`."""

        async def run(conn: Conn) -> None:
            if reason is None:
                await conn.execute("DELETE FROM spool_meta WHERE key = %s", (SINK_DISABLED_PREFIX + sink,))
            else:
                await conn.execute(
                    "INSERT INTO spool_meta (key, value) VALUES (%s, %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (SINK_DISABLED_PREFIX + sink, short_reason(reason)),
                )

        await self._call(run)

    async def disabled_sinks(self) -> dict[str, str]:
        """See `SpoolAdmin.disabled_sinks`."""

        async def run(conn: Conn) -> dict[str, str]:
            cur = await conn.execute(
                "SELECT key, value FROM spool_meta WHERE key LIKE %s", (SINK_DISABLED_PREFIX + "%",)
            )
            return {str(k)[len(SINK_DISABLED_PREFIX) :]: str(v) for k, v in await cur.fetchall()}

        return await self._call(run)

    # -- internals -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")

    async def _connect(self) -> Conn:
        try:
            conn: Conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=max(int(self._connect_timeout), 1)
            )
            await conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as exc:
            raise translate_pg_error(exc) from None  # the DSN may be quoted in the message
        return conn

    async def _call(self, fn: Callable[[Conn], Awaitable[R]]) -> R:
        async with self._lock:
            if not self._open:
                raise SpoolUnavailable("spool is not open")
            if self._conn is None or self._conn.closed:
                self._conn = await self._connect()
            conn = self._conn
            try:
                return await fn(conn)
            except SpoolError:
                raise
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    self._conn = None
                raise translate_pg_error(exc) from exc

    async def _bury_corrupt(
        self, conn: Conn, entry_id: str, sink: str, now: datetime, exc: Exception
    ) -> None:
        await conn.execute(
            "UPDATE entries SET state = 'dead', updated_at = %s, next_attempt_at = NULL,"
            " last_error = %s, lease_owner = NULL, lease_expires_at = NULL WHERE entry_id = %s",
            (now, SpoolCorrupt.code, entry_id),
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


def _settle_columns(outcome: Outcome) -> tuple[str, datetime | None, str | None, str | None]:
    """(state, next_attempt_at, last_error, remote_id) for an outcome."""
    if isinstance(outcome, Delivered):
        return "delivered", None, None, outcome.remote_id
    if isinstance(outcome, RetryAt):
        return "pending", require_aware(outcome.when, "RetryAt.when"), short_reason(outcome.reason), None
    if isinstance(outcome, DeadLetter):
        return "dead", None, short_reason(outcome.reason), None
    raise TypeError(f"unknown settlement outcome {type(outcome).__name__}")  # pragma: no cover


async def _write_codes(conn: Conn, dedup_key: str, meta: SearchMeta, created_at: datetime) -> None:
    if meta.code_terms:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO payload_codes (dedup_key, term, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                [(dedup_key, term, created_at) for term in meta.code_terms],
            )


__all__ = ["PostgresSpool"]


def _as_is(value: datetime) -> datetime:
    """PostgreSQL returns aware datetimes already (timestamptz)."""
    return value
