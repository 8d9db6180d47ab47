"""`SqliteAdmin`: the `SpoolAdmin` operations of `SqliteSpool` (mixed into it).

Space: the file is created with ``auto_vacuum=INCREMENTAL`` (an older file is converted once with
``VACUUM`` on open), so ``purge`` gives freed pages back to the file system with
``PRAGMA incremental_vacuum`` after deleting, and reports the bytes the file shrank by.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from fallback.cipher import PayloadCipher
from fallback.errors import SpoolCorrupt
from fallback.search_meta import fingerprint_upper
from fallback.spool import (
    EntryInfo,
    EntryState,
    LeasedEntry,
    entry_info_from_row,
    short_reason,
    validate_lease,
)
from fallback.spool_admin import SINK_DISABLED_PREFIX, PurgeResult, SpoolQuery, validate_purge_states
from fallback.sqlite_schema import from_micros, to_micros, write_transaction
from normalizers.sealed import SealedTicket

R = TypeVar("R")

_INFO: Final = (
    "SELECT e.entry_id, e.sink, p.ticket_id, p.fingerprint, e.state, e.attempts, e.created_at,"
    " e.updated_at, e.next_attempt_at, e.last_error, e.remote_id, e.lease_owner, e.lease_expires_at"
    " FROM entries e JOIN payloads p USING (dedup_key)"
)
_AAD_PREFIX: Final = b"rcmgw.spool.v1\x00"
_CHUNK: Final = 500


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    items = list(dict.fromkeys(ids))
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SqliteAdmin:
    """Mixin: needs ``_call``, ``_now``, ``_cipher`` and ``_bury_corrupt`` from `SqliteSpool`."""

    _cipher: PayloadCipher

    async def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        raise NotImplementedError

    def _now(self) -> datetime:
        raise NotImplementedError

    def _bury_corrupt(
        self, conn: sqlite3.Connection, entry_id: str, sink: str, now_us: int, exc: Exception
    ) -> None:
        raise NotImplementedError

    async def find(self, query: SpoolQuery) -> list[EntryInfo]:
        """See `SpoolAdmin.find`."""
        params: dict[str, Any] = {
            "state": None if query.state is None else query.state.value,
            "sink": query.sink,
            "category": query.category,
            "since": None if query.since is None else to_micros(query.since),
            "until": None if query.until is None else to_micros(query.until),
            "limit": max(query.limit, 0),
            "fp": query.fingerprint,
            "fp_end": None if query.fingerprint is None else fingerprint_upper(query.fingerprint),
            "payer": query.payer,
            "code": query.code,
        }
        if query.fingerprint or query.payer is not None or query.code is not None:
            return await self._call(lambda conn: _find_searched(conn, query, params))

        # Only the filters given appear in the WHERE clause: "(:x IS NULL OR col = :x)" would keep
        # SQLite from using the (state, created_at) and category indexes (a full scan per page).
        clauses = [
            clause
            for name, clause in (
                ("state", "e.state = :state"),
                # a sink holds most entries: its (sink, seq) index only helps when nothing else does
                ("sink", "+e.sink = :sink" if query.state or query.category else "e.sink = :sink"),
                ("category", "p.category = :category"),
                ("since", "e.created_at >= :since"),
                ("until", "e.created_at < :until"),
            )
            if params[name] is not None
        ]

        def run(conn: sqlite3.Connection) -> list[EntryInfo]:
            if query.category is not None:
                if query.state is None:
                    return _find_by_payloads(conn, params, "p.category = :category")
                # Two indexes could serve: walk the smaller set (without statistics the planner
                # cannot tell which is smaller).
                (in_state,) = conn.execute(
                    "SELECT COUNT(*) FROM entries WHERE state = ?", (params["state"],)
                ).fetchone()
                (in_category,) = conn.execute(
                    "SELECT COUNT(*) FROM payloads WHERE category = ?", (params["category"],)
                ).fetchone()
                if in_category < in_state:
                    return _find_by_payloads(conn, params, "p.category = :category")
                # "+" keeps the planner off the category index
                chosen = [f"+{c}" if c.startswith("p.category") else c for c in clauses]
            else:
                chosen = clauses
            where = f" WHERE {' AND '.join(chosen)}" if chosen else ""
            rows = conn.execute(
                f"{_INFO}{where} ORDER BY e.created_at, e.seq LIMIT :limit",
                params,
            ).fetchall()
            return [entry_info_from_row(row, from_micros) for row in rows]

        return await self._call(run)

    async def read_ticket(self, entry_id: str) -> SealedTicket | None:
        """See `SpoolAdmin.read_ticket`; `SpoolCorrupt` when the stored bytes fail to decrypt."""

        def run(conn: sqlite3.Connection) -> tuple[str, str, bytes] | None:
            row = conn.execute(
                "SELECT p.dedup_key, p.key_id, p.blob FROM entries e JOIN payloads p USING (dedup_key)"
                " WHERE e.entry_id = ?",
                (entry_id,),
            ).fetchone()
            return None if row is None else (row[0], row[1], row[2])

        found = await self._call(run)
        if found is None:
            return None
        dedup_key, key_id, blob = found
        body = self._cipher.decrypt(key_id, blob, _AAD_PREFIX + dedup_key.encode("utf-8"))
        try:
            return SealedTicket.restore(body)
        except ValidationError:
            raise SpoolCorrupt(f"entry {entry_id} does not hold a valid payload") from None

    async def requeue(self, entry_ids: Sequence[str]) -> list[str]:
        """See `SpoolAdmin.requeue`."""

        def run(conn: sqlite3.Connection) -> list[str]:
            now = to_micros(self._now())
            done: list[str] = []
            with write_transaction(conn):
                for chunk in _chunks(entry_ids):
                    rows = conn.execute(
                        f"UPDATE entries SET state = 'pending', attempts = 0, next_attempt_at = ?,"  # noqa: S608
                        f" updated_at = ?, lease_owner = NULL, lease_expires_at = NULL"
                        f" WHERE entry_id IN ({_marks(len(chunk))}) AND state IN ('dead', 'delivered')"
                        " RETURNING entry_id",
                        (now, now, *chunk),
                    ).fetchall()
                    done.extend(row[0] for row in rows)
            order = {eid: i for i, eid in enumerate(entry_ids)}
            return sorted(done, key=lambda eid: order.get(eid, 0))

        return await self._call(run)

    async def set_legal_hold(self, entry_ids: Sequence[str], hold: bool) -> int:
        """See `SpoolAdmin.set_legal_hold`."""

        def run(conn: sqlite3.Connection) -> int:
            changed = 0
            with write_transaction(conn):
                for chunk in _chunks(entry_ids):
                    cur = conn.execute(
                        f"UPDATE entries SET legal_hold = ? WHERE entry_id IN ({_marks(len(chunk))})"  # noqa: S608
                        " AND legal_hold != ?",
                        (int(hold), *chunk, int(hold)),
                    )
                    changed += cur.rowcount
            return changed

        return await self._call(run)

    async def purge(
        self, before: datetime, states: Sequence[EntryState] = (EntryState.DELIVERED,)
    ) -> PurgeResult:
        """See `SpoolAdmin.purge`: deletes, then ``incremental_vacuum`` returns the free pages."""
        values = validate_purge_states(states)
        cutoff = to_micros(before)

        def run(conn: sqlite3.Connection) -> PurgeResult:
            size_before = _file_bytes(conn)
            with write_transaction(conn):
                entries = conn.execute(
                    f"DELETE FROM entries WHERE state IN ({_marks(len(values))})"  # noqa: S608
                    " AND updated_at < ? AND legal_hold = 0",
                    (*values, cutoff),
                ).rowcount
                payloads = conn.execute(
                    "DELETE FROM payloads WHERE NOT EXISTS"
                    " (SELECT 1 FROM entries e WHERE e.dedup_key = payloads.dedup_key)"
                ).rowcount
            conn.executescript("PRAGMA incremental_vacuum;")  # runs to completion (execute: 1 page)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            freed = max(size_before - _file_bytes(conn), 0)
            return PurgeResult(entries=entries, payloads=payloads, bytes_freed=freed)

        return await self._call(run)

    async def lease_after(
        self, sink: str, *, owner: str, after: int, limit: int, lease_for: timedelta
    ) -> list[LeasedEntry]:
        """See `SpoolAdmin.lease_after`."""
        validate_lease(owner, limit, lease_for)

        def run(conn: sqlite3.Connection) -> list[LeasedEntry]:
            now = self._now()
            now_us, expires = to_micros(now), now + lease_for
            with write_transaction(conn):
                rows = conn.execute(
                    "SELECT e.seq, e.entry_id, e.attempts, e.created_at, p.dedup_key, p.key_id, p.blob"
                    " FROM entries e JOIN payloads p USING (dedup_key)"
                    " WHERE e.sink = :sink AND e.seq > :after"
                    " AND ((e.state = 'pending' AND e.next_attempt_at <= :now)"
                    " OR (e.state = 'leased' AND e.lease_expires_at <= :now))"
                    " ORDER BY e.seq LIMIT :limit",
                    {"sink": sink, "after": after, "now": now_us, "limit": limit},
                ).fetchall()
                return self._claim(conn, rows, sink=sink, owner=owner, now_us=now_us, expires=expires)

        return await self._call(run)

    def _claim(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[Sequence[Any]],
        *,
        sink: str,
        owner: str,
        now_us: int,
        expires: datetime,
    ) -> list[LeasedEntry]:
        """Lease due ``rows`` (seq, entry_id, attempts, created_at, dedup_key, key_id, blob) to
        ``owner`` in the caller's transaction; undecryptable ones are settled DEAD instead."""
        leased: list[LeasedEntry] = []
        for seq, entry_id, attempts, created_at, dedup_key, key_id, blob in rows:
            try:
                body = self._cipher.decrypt(key_id, blob, _AAD_PREFIX + dedup_key.encode("utf-8"))
                ticket = SealedTicket.restore(body)
            except (SpoolCorrupt, ValidationError) as exc:
                self._bury_corrupt(conn, entry_id, sink, now_us, exc)
                continue
            leased.append(
                LeasedEntry(
                    entry_id=entry_id,
                    sink=sink,
                    ticket=ticket,
                    attempts=attempts,
                    created_at=from_micros(created_at),
                    lease_expires_at=expires,
                    seq=seq,
                )
            )
        seqs = [entry.seq for entry in leased]
        for chunk in (seqs[i : i + _CHUNK] for i in range(0, len(seqs), _CHUNK)):  # by rowid, one go
            conn.execute(
                "UPDATE entries SET state = 'leased', attempts = attempts + 1, updated_at = ?,"  # noqa: S608
                f" lease_owner = ?, lease_expires_at = ? WHERE seq IN ({_marks(len(chunk))})",
                (now_us, owner, to_micros(expires), *chunk),
            )
        return leased

    async def acknowledge(self, sink: str, entry_ids: Sequence[str]) -> list[str]:
        """See `SpoolAdmin.acknowledge`."""

        def run(conn: sqlite3.Connection) -> list[str]:
            now = to_micros(self._now())
            done: list[str] = []
            with write_transaction(conn):
                for chunk in _chunks(entry_ids):
                    rows = conn.execute(
                        "UPDATE entries SET state = 'delivered', updated_at = ?, next_attempt_at = NULL,"  # noqa: S608
                        " lease_owner = NULL, lease_expires_at = NULL"
                        f" WHERE sink = ? AND entry_id IN ({_marks(len(chunk))})"
                        " AND state IN ('pending', 'leased') RETURNING entry_id",
                        (now, sink, *chunk),
                    ).fetchall()
                    done.extend(row[0] for row in rows)
            return done

        return await self._call(run)

    async def oldest_unsettled(self) -> dict[str, datetime]:
        """See `SpoolAdmin.oldest_unsettled`."""

        def run(conn: sqlite3.Connection) -> dict[str, datetime]:
            rows = conn.execute(
                "SELECT sink, MIN(created_at) FROM entries WHERE state IN ('pending', 'leased') GROUP BY sink"
            ).fetchall()
            return {sink: from_micros(oldest) for sink, oldest in rows}

        return await self._call(run)

    async def set_sink_disabled(self, sink: str, reason: str | None) -> None:
        """See `SpoolAdmin.set_sink_disabled`."""

        def run(conn: sqlite3.Connection) -> None:
            with write_transaction(conn):
                if reason is None:
                    conn.execute("DELETE FROM spool_meta WHERE key = ?", (SINK_DISABLED_PREFIX + sink,))
                else:
                    conn.execute(
                        "INSERT INTO spool_meta (key, value) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (SINK_DISABLED_PREFIX + sink, short_reason(reason)),
                    )

        await self._call(run)

    async def disabled_sinks(self) -> dict[str, str]:
        """See `SpoolAdmin.disabled_sinks`."""

        def run(conn: sqlite3.Connection) -> dict[str, str]:
            rows = conn.execute(
                "SELECT key, value FROM spool_meta WHERE key LIKE ?", (SINK_DISABLED_PREFIX + "%",)
            ).fetchall()
            return {key[len(SINK_DISABLED_PREFIX) :]: value for key, value in rows}

        return await self._call(run)


_PAYLOAD_INFO: Final = (
    "SELECT e.entry_id, e.sink, p.ticket_id, p.fingerprint, e.state, e.attempts, e.created_at,"
    " e.updated_at, e.next_attempt_at, e.last_error, e.remote_id, e.lease_owner, e.lease_expires_at"
)


def _find_by_payloads(conn: sqlite3.Connection, params: dict[str, Any], driver: str) -> list[EntryInfo]:
    """`find` walking the ``payloads`` index named by ``driver`` (``(col, created_at)``) in time
    order, then each payload's entries: no sort of every matching entry. A payload and its entries
    share ``created_at`` (one put), so payload order is entry order; ties sort by entry."""
    tables = "FROM payloads p CROSS JOIN entries e ON e.dedup_key = p.dedup_key"
    return _run_driven(conn, params, tables, [driver], "p.created_at")


def _find_searched(conn: sqlite3.Connection, query: SpoolQuery, params: dict[str, Any]) -> list[EntryInfo]:
    """`find` with a fingerprint, payer or code filter, driven (CROSS JOIN fixes the order) by the
    most selective of them: a fingerprint prefix range, the code terms' ``(term, created_at)``
    index, the ``(payer, created_at)`` index."""
    if query.fingerprint:
        driver = ["p.fingerprint >= :fp", "p.fingerprint < :fp_end"]
        if query.code is not None:
            driver.append(
                "EXISTS (SELECT 1 FROM payload_codes c WHERE c.dedup_key = p.dedup_key AND c.term = :code)"
            )
        tables = "FROM payloads p CROSS JOIN entries e ON e.dedup_key = p.dedup_key"
        return _run_driven(conn, params, tables, driver, "p.created_at")
    if query.code is not None:
        tables = (
            "FROM payload_codes c CROSS JOIN payloads p ON p.dedup_key = c.dedup_key"
            " CROSS JOIN entries e ON e.dedup_key = c.dedup_key"
        )
        return _run_driven(conn, params, tables, ["c.term = :code"], "c.created_at")
    tables = "FROM payloads p CROSS JOIN entries e ON e.dedup_key = p.dedup_key"
    return _run_driven(conn, params, tables, ["p.payer = :payer"], "p.created_at")


def _run_driven(
    conn: sqlite3.Connection, params: dict[str, Any], tables: str, driver: list[str], time_column: str
) -> list[EntryInfo]:
    """``driver``: the clauses the first table's index serves (they name the filters that are
    therefore not repeated). The driver's own time column bounds the index range; every other
    filter is "+"-prefixed so the planner looks the inner rows up by key, not by another index."""
    clauses = list(driver)
    for name, clause in (
        ("since", f"{time_column} >= :since"),
        ("until", f"{time_column} < :until"),
    ):
        if params[name] is not None:
            clauses.append(clause)
    for name, clause in (
        ("state", "+e.state = :state"),
        ("sink", "+e.sink = :sink"),
        ("category", "+p.category = :category"),
        ("payer", "+p.payer = :payer"),
        ("since", "+e.created_at >= :since"),
        ("until", "+e.created_at < :until"),
    ):
        if params[name] is not None and not any(f":{name}" in d for d in driver):
            clauses.append(clause)
    rows = conn.execute(
        f"{_PAYLOAD_INFO} {tables} WHERE {' AND '.join(clauses)}"
        f" ORDER BY {time_column}, e.created_at, e.seq LIMIT :limit",
        params,
    ).fetchall()
    return [entry_info_from_row(row, from_micros) for row in rows]


def _file_bytes(conn: sqlite3.Connection) -> int:
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return pages * size


__all__ = ["SqliteAdmin"]
