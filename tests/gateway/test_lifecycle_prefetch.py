"""`PendingStates.prefetch` (SQLite `lookup_many`): a group's lifecycle reads come from ONE store
call and answer exactly as the per-record reads would (states, recent facilities, staged states
winning, cutoffs the snapshot cannot answer falling back to the store)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.lifecycle_pending import PendingStates
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


class CountingStore(SqliteLifecycleStore):
    """Counts the per-record reads that the snapshot should make unnecessary."""

    reads = 0

    async def get(self, fingerprint: str) -> FingerprintState | None:
        self.reads += 1
        return await super().get(fingerprint)

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        self.reads += 1
        return await super().facilities(problem_key, since)


def test_prefetched_reads_equal_store_reads_without_per_record_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CountingStore(tmp_path / "spool.db")
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
