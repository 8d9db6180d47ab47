"""`PendingStates.prefetch` (`lookup_many` of the SQLite and PostgreSQL stores): a group's
lifecycle reads come from ONE store call and answer exactly as the per-record reads would (states,
recent facilities, open states by claim token, staged states winning, cutoffs and tokens the
snapshot cannot answer falling back to the store)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pgserver import postgres  # noqa: F401 - the session's PostgreSQL

from gateway.lifecycle_pending import PendingStates
from gateway.lifecycle_postgres import PostgresLifecycleStore
from gateway.lifecycle_store import SqliteLifecycleStore
from normalizers.lifecycle import FingerprintState, TicketState

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _state(fp: str, problem: str, seen: datetime, facility: str) -> FingerprintState:
    return FingerprintState(
        fingerprint=fp,
        problem_key=problem,
        ticket_id=f"tkt_{fp}",
        state=TicketState.OPEN,
        opened_by=f"id:{fp}",
        occurrences=1,
        first_seen=seen,
        last_seen=seen,
        last_delivery_at=seen,
        facilities=frozenset({facility}),
    )


class Counting:
    """Counts the per-record reads that the snapshot should make unnecessary (mixed into a store)."""

    reads = 0
    claim_reads = 0

    async def get(self, fingerprint: str) -> FingerprintState | None:
        self.reads += 1
        return await super().get(fingerprint)  # type: ignore[misc]

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        self.reads += 1
        return await super().facilities(problem_key, since)  # type: ignore[misc]

    async def find_open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState]:
        self.claim_reads += 1
        return await super().find_open_by_claims(tokens)  # type: ignore[misc]


class CountingSqlite(Counting, SqliteLifecycleStore):
    pass


class CountingPostgres(Counting, PostgresLifecycleStore):
    pass


_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CountingSqlite | CountingPostgres]:
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        yield CountingPostgres(server.create_database(f"lifecycle_prefetch_{next(_DATABASES)}"))
    else:
        yield CountingSqlite(tmp_path / "spool.db")


def test_prefetched_reads_equal_store_reads_without_per_record_calls(
    store: CountingSqlite | CountingPostgres,
) -> None:
    async def scenario() -> None:
        await store.save_many(
            [
                _state("fp-a", "pk-1", T0 - timedelta(hours=1), "EAST"),
                _state("fp-b", "pk-1", T0 - timedelta(days=10), "WEST"),
                _state("fp-c", "pk-2", T0, "NORTH"),
            ]
        )
        since = T0 - timedelta(days=1)
        keys = (["fp-a", "fp-b", "fp-x"], ["pk-1", "pk-2", "pk-none"])
        expected_states = [await store.get(fp) for fp in keys[0]]
        expected_facilities = [await store.facilities(pk, since) for pk in keys[1]]
        store.reads = 0

        pending = PendingStates(store)
        await pending.prefetch(*keys, since - timedelta(minutes=1))
        assert [await pending.get(fp) for fp in keys[0]] == expected_states
        assert [await pending.facilities(pk, since) for pk in keys[1]] == expected_facilities
        assert expected_facilities[0] == frozenset({"EAST"})  # fp-b is outside the window
        assert store.reads == 0

        staged = _state("fp-x", "pk-1", T0, "SOUTH")
        pending.stage([staged])
        assert await pending.get("fp-x") == staged
        assert await pending.facilities("pk-1", since) == frozenset({"EAST", "SOUTH"})
        assert store.reads == 0

        # A key or an older cutoff the snapshot does not cover is read from the store.
        assert await pending.get("fp-c") is not None
        assert await pending.facilities("pk-1", since - timedelta(days=30)) == frozenset(
            {"EAST", "WEST", "SOUTH"}
        )
        assert store.reads == 2
        await store.aclose()

    asyncio.run(scenario())


def _with_claims(state: FingerprintState, *tokens: str, open_: bool = True) -> FingerprintState:
    return dataclasses.replace(
        state, claims=frozenset(tokens), state=TicketState.OPEN if open_ else TicketState.RESOLVED
    )


def test_prefetched_claim_lookups_equal_store_lookups(store: CountingSqlite | CountingPostgres) -> None:
    """Auto-resolve evidence (835 payments, 277CA acceptances) finds the open tickets of its
    claims in the group's snapshot: same answer as the store, staged states winning, no per-record
    store call; a token that was not prefetched is looked up in the store."""

    async def scenario() -> None:
        await store.save_many(
            [
                _with_claims(_state("fp-a", "pk-1", T0, "EAST"), "[CLAIM:A]", "[CLAIM:B]"),
                _with_claims(_state("fp-b", "pk-2", T0, "EAST"), "[CLAIM:B]"),
                _with_claims(_state("fp-c", "pk-3", T0, "EAST"), "[CLAIM:C]", open_=False),
            ]
        )
        asked = [
            frozenset({"[CLAIM:A]"}),
            frozenset({"[CLAIM:B]"}),
            frozenset({"[CLAIM:C]"}),
            frozenset({"[CLAIM:NONE]"}),
            frozenset({"[CLAIM:A]", "[CLAIM:C]"}),
        ]
        expected = [await store.find_open_by_claims(tokens) for tokens in asked]
        assert [[s.fingerprint for s in found] for found in expected] == [
            ["fp-a"],
            ["fp-a", "fp-b"],
            [],  # fp-c is resolved
            [],
            ["fp-a"],
        ]
        store.claim_reads = 0

        pending = PendingStates(store)
        await pending.prefetch([], [], T0, frozenset().union(*asked))
        assert [await pending.find_open_by_claims(tokens) for tokens in asked] == expected
        assert store.claim_reads == 0

        # A state staged earlier in the group replaces the saved one (here: resolved).
        pending.stage([_with_claims(_state("fp-a", "pk-1", T0, "EAST"), "[CLAIM:A]", open_=False)])
        assert [s.fingerprint for s in await pending.find_open_by_claims(frozenset({"[CLAIM:B]"}))] == [
            "fp-b"
        ]
        assert store.claim_reads == 0

        # Not prefetched: read from the store.
        assert await pending.find_open_by_claims(frozenset({"[CLAIM:Z]"})) == []
        assert store.claim_reads == 1
        await store.aclose()

    asyncio.run(scenario())
