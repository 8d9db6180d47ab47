"""Retention on SQLite: purging delivered entries gives the space back to the file system."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

from fallback import PayloadCipher, SqliteSpool
from fallback.spool import Delivered


def test_purge_shrinks_the_file(tmp_path, make_ticket, clock):
    db = tmp_path / "spool.db"

    async def main():
        async with SqliteSpool(db, PayloadCipher({"k1": bytes(32)}, "k1"), clock=clock) as spool:
            for n in range(300):
                await spool.put(make_ticket(description="y" * 4000), dedup_key=f"dk-{n}", sinks=["file"])
            for entry in await spool.lease("file", owner="w", limit=300, lease_for=timedelta(minutes=5)):
                await spool.settle(entry.entry_id, owner="w", outcome=Delivered(remote_id=None))
            before = db.stat().st_size
            clock.advance(days=2)
            result = await spool.purge(clock.now - timedelta(days=1))
            assert result.entries == 300 and result.payloads == 300
            assert result.bytes_freed > 300 * 3000
            assert db.stat().st_size < before / 4
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2

    asyncio.run(main())
