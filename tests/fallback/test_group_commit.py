"""Group commit: concurrent puts share transactions, each returns after its commit, idempotency
holds within and across batches, and a failed commit fails every waiter (nothing acknowledged)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from fallback import PayloadCipher, SpoolUnavailable, SqliteSpool
from fallback.group_commit import CommitBatcher


def test_concurrent_puts_are_committed_in_groups(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"

    async def main():
        async with SqliteSpool(db, PayloadCipher({"k1": bytes(32)}, "k1"), clock=clock) as spool:
            batcher = CommitBatcher(spool)
            tickets = [make_ticket() for _ in range(50)]
            results = await asyncio.gather(
                *(batcher.put(t, dedup_key=t.id, sinks=["file", "jira"]) for t in tickets + tickets[:5])
            )
            assert sum(r.created for r in results) == 50
            assert [r.entry_ids for r in results[50:]] == [r.entry_ids for r in results[:5]]
        with sqlite3.connect(db) as conn:  # durable: visible to a new connection after close
            assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 100

    asyncio.run(main())


def test_a_failed_group_commit_fails_every_caller(tmp_path, make_ticket, clock):
    async def main():
        spool = SqliteSpool(tmp_path / "spool.db", PayloadCipher({"k1": bytes(32)}, "k1"), clock=clock)
        batcher = CommitBatcher(spool)  # never opened: every commit fails
        tickets = [make_ticket() for _ in range(5)]
        results = await asyncio.gather(
            *(batcher.put(t, dedup_key=t.id, sinks=["file"]) for t in tickets), return_exceptions=True
        )
        assert all(isinstance(r, SpoolUnavailable) for r in results)

    asyncio.run(main())


def test_put_batch_validates_like_put(tmp_path, make_ticket, clock):
    async def main():
        async with SqliteSpool(
            tmp_path / "s.db", PayloadCipher({"k1": bytes(32)}, "k1"), clock=clock
        ) as spool:
            with pytest.raises(ValueError):
                await spool.put_batch([(make_ticket(), "", ["file"])])

    asyncio.run(main())
