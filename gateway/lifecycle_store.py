"""Where per-fingerprint lifecycle state lives: `LifecycleStore`, with `SqliteLifecycleStore`
(table ``fingerprint_state`` in the spool database file) and `MemoryLifecycleStore` (test double).

Why here, in ``gateway/``: the state is keyed by fingerprints and claim pseudonym tokens and is
read and written around the decisions of `normalizers.lifecycle`, which ``fallback/`` may not
import (it sees only `normalizers.sealed`); the ingest pipeline that needs it is in ``gateway/``.
It shares the spool's database file (its own connection, same WAL and ``synchronous=FULL``) so a
deployment has one file to back up; a PostgreSQL spool (issue 7) gets a sibling implementation of
this small protocol.

`gateway.lifecycle_postgres.PostgresLifecycleStore` is the PostgreSQL implementation (used when
``spool.backend`` is ``postgresql``). Contract (``tests/gateway/test_lifecycle_pipeline.py`` and
``tests/gateway/test_lifecycle_store_contract.py`` run on memory, SQLite and PostgreSQL):

- ``get(fingerprint)`` the saved state or None; ``save(state)`` upserts it and returns only after
  a durable commit (the pipeline acknowledges its source after that); `SpoolUnavailable` when it
  cannot commit. ``save_many(states)`` does the same for several states in ONE commit.
- ``facilities(problem_key, since)`` the facilities of every state of that problem last seen at or
  after ``since``.
- ``find_open_by_claims(tokens)`` the OPEN states whose claims include any of ``tokens``.
- ``pending(due_by, limit)`` OPEN states with occurrences absorbed since their last delivery
  (``FingerprintState.pending``) whose last delivery is at or before ``due_by``, oldest first: the
  candidates of the group-wait flusher (`gateway.lifecycle_flusher`), which applies the policy.
- The store opens itself on first use; ``aclose()`` is idempotent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar, runtime_checkable

from gateway.sqlite_store import SqliteStore
from normalizers.lifecycle import FingerprintState, TicketState

R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprint_state (
    fingerprint TEXT PRIMARY KEY,
    problem_key TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    state TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    occurrences INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_delivery_at INTEGER NOT NULL,
    updates INTEGER NOT NULL,
    facilities TEXT NOT NULL,
    claims TEXT NOT NULL,
    template TEXT,
    delivered_occurrences INTEGER
);
CREATE INDEX IF NOT EXISTS fingerprint_state_problem ON fingerprint_state (problem_key, last_seen);
CREATE TABLE IF NOT EXISTS fingerprint_claims (
    token TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (token, fingerprint)
) WITHOUT ROWID;
"""
# Claim tokens per ``IN (...)`` query of `SqliteLifecycleStore.lookup_many` (under SQLite's limit
# of 999 host parameters in older builds).
_IN_CHUNK = 500

_COLUMNS = (
    "fingerprint, problem_key, ticket_id, state, opened_by, occurrences, first_seen, last_seen, "
    "last_delivery_at, updates, facilities, claims, template, delivered_occurrences"
)


class LifecycleStore(Protocol):
    """Durable per-fingerprint lifecycle state (see the module docstring for the contract)."""

    async def get(self, fingerprint: str) -> FingerprintState | None:
        """The state of ``fingerprint``, or None."""
        ...

    async def save(self, state: FingerprintState) -> None:
        """Upsert ``state``; returns after a durable commit."""
        ...

    async def save_many(self, states: Sequence[FingerprintState]) -> None:
        """`save` for several states in ONE durable commit (group ingest)."""
        ...

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        """Facilities where ``problem_key`` was seen at or after ``since``."""
        ...

    async def find_open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState]:
        """Open states that stand for any of the claim ``tokens``."""
        ...

    async def pending(self, due_by: datetime, limit: int = 500) -> list[FingerprintState]:
        """Open states owing an update, last delivered at or before ``due_by``, oldest first."""
        ...

    async def aclose(self) -> None:
        """Release resources (idempotent)."""
        ...


class MemoryLifecycleStore:
    """In-memory `LifecycleStore` double (not durable)."""

    def __init__(self) -> None:
        self.states: dict[str, FingerprintState] = {}
        self.saves = 0

    async def get(self, fingerprint: str) -> FingerprintState | None:
        """The state of ``fingerprint``, or None."""
        return self.states.get(fingerprint)

    async def save(self, state: FingerprintState) -> None:
        """Keep ``state``."""
        self.states[state.fingerprint] = state
        self.saves += 1

    async def save_many(self, states: Sequence[FingerprintState]) -> None:
        """Keep every state, in order (one "commit")."""
        for state in states:
            self.states[state.fingerprint] = state
        self.saves += 1

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        """Facilities of recent states of ``problem_key``."""
        found: set[str] = set()
        for state in self.states.values():
            if state.problem_key == problem_key and state.last_seen >= since:
                found |= state.facilities
        return frozenset(found)

    async def find_open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState]:
        """Open states holding any of ``tokens``."""
        return [s for s in self.states.values() if s.state is TicketState.OPEN and s.claims & tokens]

    async def pending(self, due_by: datetime, limit: int = 500) -> list[FingerprintState]:
        """Open states owing an update, last delivered at or before ``due_by``."""
        found = [s for s in self.states.values() if s.pending and s.last_delivery_at <= due_by]
        return sorted(found, key=lambda s: (s.last_delivery_at, s.fingerprint))[:limit]

    async def aclose(self) -> None:
        """Nothing to release."""


def _upsert(conn: sqlite3.Connection, state: FingerprintState) -> None:
    values = (
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
        json.dumps(sorted(state.facilities)),
        json.dumps(sorted(state.claims)),
        state.template,
        state.delivered_occurrences,
    )
    conn.execute(
        f"INSERT OR REPLACE INTO fingerprint_state ({_COLUMNS}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    if state.state is TicketState.OPEN:
        conn.executemany(
            "INSERT OR IGNORE INTO fingerprint_claims (token, fingerprint) VALUES (?, ?)",
            [(token, state.fingerprint) for token in state.claims],
        )
    else:
        conn.execute("DELETE FROM fingerprint_claims WHERE fingerprint = ?", (state.fingerprint,))


def _add_flush_columns(conn: sqlite3.Connection) -> None:
    """Schema migration: databases made before the group-wait flusher lack ``template`` and
    ``delivered_occurrences`` (NULL there: such states are never flushed, only updated by input)."""
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(fingerprint_state)")}
    for column, kind in (("template", "TEXT"), ("delivered_occurrences", "INTEGER")):
        if column not in columns:
            conn.execute(f"ALTER TABLE fingerprint_state ADD COLUMN {column} {kind}")


def _micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def _when(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def _json_set(value: object) -> frozenset[str]:
    return frozenset(json.loads(str(value)))


def state_from_row(
    row: Sequence[object], as_set: Callable[[object], frozenset[str]] = _json_set
) -> FingerprintState:
    """The state of a row in `_COLUMNS` order (times in microseconds); ``as_set`` reads the
    facilities and claims columns (JSON text in SQLite, arrays in PostgreSQL)."""
    (
        fp,
        problem,
        ticket,
        state,
        opened,
        occ,
        first,
        last,
        delivered,
        updates,
        facilities,
        claims,
        tpl,
        done,
    ) = row
    return FingerprintState(
        fingerprint=str(fp),
        problem_key=str(problem),
        ticket_id=str(ticket),
        state=TicketState(str(state)),
        opened_by=str(opened),
        occurrences=int(str(occ)),
        first_seen=_when(int(str(first))),
        last_seen=_when(int(str(last))),
        last_delivery_at=_when(int(str(delivered))),
        updates=int(str(updates)),
        facilities=as_set(facilities),
        claims=as_set(claims),
        template=None if tpl is None else str(tpl),
        delivered_occurrences=None if done is None else int(str(done)),
    )


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """Saved lifecycle states read in one go (`SnapshotReader.lookup_many`): ``states`` per
    fingerprint (None: no state), ``seen`` per problem key as (last_seen in microseconds,
    facilities) rows with ``last_seen >= floor`` (microseconds), ``claims`` per claim token the
    fingerprints whose claim index holds it (their states are in ``states``)."""

    states: dict[str, FingerprintState | None]
    seen: dict[str, list[tuple[int, frozenset[str]]]]
    floor: int
    claims: dict[str, frozenset[str]] = field(default_factory=dict)

    def facilities(self, problem_key: str, since: datetime) -> frozenset[str] | None:
        """`LifecycleStore.facilities` from the snapshot, or None when it cannot answer."""
        rows = self.seen.get(problem_key)
        cutoff = _micros(since)
        if rows is None or cutoff < self.floor:
            return None
        return frozenset(item for last, names in rows if last >= cutoff for item in names)

    def open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState] | None:
        """`LifecycleStore.find_open_by_claims` from the snapshot (sorted by fingerprint), or None
        when a token was not prefetched."""
        if not tokens <= self.claims.keys():
            return None
        fingerprints = sorted({fp for token in tokens for fp in self.claims[token]})
        found = [self.states.get(fp) for fp in fingerprints]
        return [
            state
            for state in found
            if state is not None and state.state is TicketState.OPEN and state.claims & tokens
        ]


@runtime_checkable
class SnapshotReader(Protocol):
    """A `LifecycleStore` that can read what a group of records will ask for in one call
    (`SqliteLifecycleStore`, `gateway.lifecycle_postgres.PostgresLifecycleStore`)."""

    async def lookup_many(
        self,
        fingerprints: Sequence[str],
        problem_keys: Sequence[str],
        since: datetime,
        claim_tokens: Iterable[str] = (),
    ) -> StateSnapshot:
        """The saved states of ``fingerprints``, the facilities rows of ``problem_keys`` with
        ``last_seen >= since`` and, for every claim token, the fingerprints of the states holding
        it (at least every open one; their states included), read in one go."""
        ...


class SqliteLifecycleStore(SqliteStore):
    """`LifecycleStore` on SQLite (WAL, ``synchronous=FULL``), one connection, calls in a thread."""

    label = "lifecycle store"

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)
        _add_flush_columns(conn)

    async def get(self, fingerprint: str) -> FingerprintState | None:
        """The state of ``fingerprint``, or None."""

        def work(conn: sqlite3.Connection) -> FingerprintState | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM fingerprint_state WHERE fingerprint = ?",  # noqa: S608
                (fingerprint,),
            ).fetchone()
            return None if row is None else state_from_row(row)

        return await self._run(work)

    async def save(self, state: FingerprintState) -> None:
        """Upsert ``state`` and its claim index in one durable transaction."""
        await self.save_many([state])

    async def save_many(self, states: Sequence[FingerprintState]) -> None:
        """Upsert every state (in order) and their claim index in ONE durable transaction."""
        if not states:
            return

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for state in states:
                    _upsert(conn, state)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(work)

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        """Facilities of recent states of ``problem_key``."""

        def work(conn: sqlite3.Connection) -> frozenset[str]:
            rows = conn.execute(
                "SELECT facilities FROM fingerprint_state WHERE problem_key = ? AND last_seen >= ?",
                (problem_key, _micros(since)),
            ).fetchall()
            return frozenset(item for (text,) in rows for item in json.loads(text))

        return await self._run(work)

    async def lookup_many(
        self,
        fingerprints: Sequence[str],
        problem_keys: Sequence[str],
        since: datetime,
        claim_tokens: Iterable[str] = (),
    ) -> StateSnapshot:
        """`get` of every fingerprint, the recent (``last_seen >= since``) facilities rows of
        every problem key and the claim index entries of every claim token (with their states) in
        ONE thread hop (group planning: `gateway.lifecycle_pending`)."""
        tokens = list(dict.fromkeys(claim_tokens))

        def work(conn: sqlite3.Connection) -> StateSnapshot:
            claims: dict[str, set[str]] = {token: set() for token in tokens}
            for start in range(0, len(tokens), _IN_CHUNK):
                chunk = tokens[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for token, fp in conn.execute(
                    f"SELECT token, fingerprint FROM fingerprint_claims WHERE token IN ({marks})",  # noqa: S608
                    chunk,
                ):
                    claims[str(token)].add(str(fp))
            states: dict[str, FingerprintState | None] = {}
            for fp in dict.fromkeys([*fingerprints, *sorted(set().union(*claims.values()))]):
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM fingerprint_state WHERE fingerprint = ?",  # noqa: S608
                    (fp,),
                ).fetchone()
                states[fp] = None if row is None else state_from_row(row)
            seen: dict[str, list[tuple[int, frozenset[str]]]] = {}
            floor = _micros(since)
            for key in dict.fromkeys(problem_keys):
                rows = conn.execute(
                    "SELECT last_seen, facilities FROM fingerprint_state"
                    " WHERE problem_key = ? AND last_seen >= ?",
                    (key, floor),
                ).fetchall()
                seen[key] = [(int(last), frozenset(json.loads(text))) for last, text in rows]
            return StateSnapshot(states, seen, floor, {t: frozenset(f) for t, f in claims.items()})

        return await self._run(work)

    async def find_open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState]:
        """Open states holding any of ``tokens`` (the index may lag; the state is checked)."""

        def work(conn: sqlite3.Connection) -> list[FingerprintState]:
            fingerprints: set[str] = set()
            for token in tokens:
                fingerprints.update(
                    str(fp)
                    for (fp,) in conn.execute(
                        "SELECT fingerprint FROM fingerprint_claims WHERE token = ?", (token,)
                    )
                )
            found = []
            for fp in sorted(fingerprints):
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM fingerprint_state WHERE fingerprint = ?",  # noqa: S608
                    (fp,),
                ).fetchone()
                if row is not None:
                    state = state_from_row(row)
                    if state.state is TicketState.OPEN and state.claims & tokens:
                        found.append(state)
            return found

        return await self._run(work)

    async def pending(self, due_by: datetime, limit: int = 500) -> list[FingerprintState]:
        """Open states owing an update, last delivered at or before ``due_by``, oldest first."""

        def work(conn: sqlite3.Connection) -> list[FingerprintState]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM fingerprint_state"  # noqa: S608
                " WHERE state = 'open' AND occurrences > delivered_occurrences AND last_delivery_at <= ?"
                " ORDER BY last_delivery_at, fingerprint LIMIT ?",
                (_micros(due_by), limit),
            ).fetchall()
            return [state_from_row(row) for row in rows]

        return await self._run(work)
