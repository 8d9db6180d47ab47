"""What only the PostgreSQL spool promises: encryption at rest, key rotation, concurrent leasing from
several nodes with no entry handed out twice, and a clear error for an unreachable server."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from fallback import EntryState, PayloadCipher, SpoolCorrupt, SpoolUnavailable
from fallback.postgres_spool import PostgresSpool
from fallback.spool import Delivered

K1, K2 = bytes(range(32)), bytes(range(1, 33))
LEASE_S = 60


@pytest.fixture
def dsn(postgres, request):
    return postgres.create_database(f"pgspool_{request.node.name.lower()[:40]}")


def test_payloads_are_encrypted_at_rest(dsn, make_ticket, clock):
    async def main():
        async with PostgresSpool(dsn, PayloadCipher({"k1": K1}, "k1"), clock=clock) as spool:
            await spool.put(make_ticket(description="CANARY-PLAINTEXT"), dedup_key="dk", sinks=["jira"])
        with psycopg.connect(dsn) as conn:
            blob, key_id = conn.execute("SELECT blob, key_id FROM payloads").fetchone()
        assert b"CANARY-PLAINTEXT" not in bytes(blob) and key_id == "k1"

    asyncio.run(main())


def test_key_rotation_keeps_old_entries_readable(dsn, make_ticket, clock):
    from datetime import timedelta

    async def main():
        old = make_ticket()
        async with PostgresSpool(dsn, PayloadCipher({"k1": K1}, "k1"), clock=clock) as spool:
            await spool.put(old, dedup_key="old", sinks=["jira"])
        rotated = PayloadCipher({"k1": K1, "k2": K2}, "k2")
        async with PostgresSpool(dsn, rotated, clock=clock) as spool:
            new = make_ticket()
            await spool.put(new, dedup_key="new", sinks=["jira"])
            leased = await spool.lease("jira", owner="w", limit=5, lease_for=timedelta(seconds=LEASE_S))
            assert [e.ticket.body for e in leased] == [old.body, new.body]
            await spool.settle(leased[0].entry_id, owner="w", outcome=Delivered(remote_id=None))
        with psycopg.connect(dsn) as conn:
            assert {r[0] for r in conn.execute("SELECT key_id FROM payloads")} == {"k1", "k2"}
        with pytest.raises(SpoolCorrupt):  # k2 dropped while an unsettled entry still needs it
            await PostgresSpool(dsn, PayloadCipher({"k1": K1}, "k1"), clock=clock).open()

    asyncio.run(main())


def test_two_nodes_never_lease_the_same_entry(dsn, make_ticket):
    from datetime import timedelta

    async def main():
        cipher = PayloadCipher({"k1": K1}, "k1")
        async with PostgresSpool(dsn, cipher) as a, PostgresSpool(dsn, cipher) as b:
            for n in range(200):
                await a.put(make_ticket(), dedup_key=f"dk-{n}", sinks=["jira"])
            seen: list[str] = []

            async def drain(spool, owner):
                while batch := await spool.lease(
                    "jira", owner=owner, limit=7, lease_for=timedelta(minutes=5)
                ):
                    for entry in batch:
                        seen.append(entry.entry_id)
                        await spool.settle(entry.entry_id, owner=owner, outcome=Delivered(remote_id=None))

            await asyncio.gather(drain(a, "node-a"), drain(b, "node-b"))
            assert len(seen) == len(set(seen)) == 200
            assert (await a.depth())["jira"][EntryState.DELIVERED.value] == 200

    asyncio.run(main())


def test_concurrent_puts_of_one_dedup_key_create_it_once(dsn, make_ticket):
    async def main():
        cipher = PayloadCipher({"k1": K1}, "k1")
        ticket = make_ticket()
        async with PostgresSpool(dsn, cipher) as a, PostgresSpool(dsn, cipher) as b:
            results = await asyncio.gather(
                *(spool.put(ticket, dedup_key="same", sinks=["jira"]) for spool in (a, b, a, b))
            )
            assert sum(r.created for r in results) == 1
            assert len({r.entry_ids for r in results}) == 1

    asyncio.run(main())


def test_unreachable_server_is_unavailable_without_quoting_the_dsn(postgres):
    async def main():
        spool = PostgresSpool(
            "host=127.0.0.1 port=1 user=secretuser password=hunter2 connect_timeout=1",
            PayloadCipher({"k1": K1}, "k1"),
        )
        with pytest.raises(SpoolUnavailable) as info:
            await spool.open()
        assert "hunter2" not in str(info.value) and info.value.__cause__ is None

    asyncio.run(main())
