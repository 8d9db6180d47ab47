"""The `SpoolBackend` contract, run against every backend.

To add a backend (e.g. PostgreSQL), add a builder to ``BACKENDS``: it gets pytest's ``tmp_path`` and
the test clock and returns an unopened backend (skip inside it when the server is not configured).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fallback import (
    DeadLetter,
    Delivered,
    EntryState,
    LeaseLost,
    MemorySpool,
    PayloadCipher,
    PutRequest,
    RetryAt,
    SpoolBackend,
    SpoolUnavailable,
    SqliteSpool,
)
from fallback.postgres_spool import PostgresSpool
from fallback.spool_admin import SpoolAdmin, SpoolQuery

PG_DSNS: dict[Path, str] = {}
"""tmp_path -> DSN of the fresh PostgreSQL database made for that test (see ``new_spool``)."""

LEASE = timedelta(seconds=60)
KEY = bytes(range(32))

BACKENDS: dict[str, Callable[[Path, Any], SpoolBackend]] = {
    "memory": lambda tmp, clock: MemorySpool(clock=clock),
    "sqlite": lambda tmp, clock: SqliteSpool(
        tmp / "spool" / "spool.db", PayloadCipher({"k1": KEY}, "k1"), clock=clock
    ),
    "postgresql": lambda tmp, clock: PostgresSpool(
        PG_DSNS[tmp], PayloadCipher({"k1": KEY}, "k1"), clock=clock
    ),
}


@pytest.fixture(params=sorted(BACKENDS))
def new_spool(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> Callable[[], SpoolBackend]:
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        PG_DSNS[tmp_path] = server.create_database(f"contract_{abs(hash(tmp_path)):x}")
    return lambda: BACKENDS[request.param](tmp_path, clock)


def run_with(
    new_spool: Callable[[], SpoolBackend], scenario: Callable[[SpoolBackend], Awaitable[None]]
) -> None:
    """Open a fresh spool, run ``scenario`` on it, close it."""

    async def main() -> None:
        spool = new_spool()
        await spool.open()
        try:
            await scenario(spool)
        finally:
            await spool.aclose()

    asyncio.run(main())


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def test_backend_satisfies_the_protocol(new_spool):
    assert isinstance(new_spool(), SpoolBackend)


def test_put_fans_out_one_pending_entry_per_sink(new_spool, make_ticket, clock):
    async def scenario(spool):
        ticket = make_ticket()
        result = await spool.put(ticket, dedup_key="dk-1", sinks=["jira", "file"])
        assert result.created is True
        assert len(result.entry_ids) == 2
        assert all(eid.startswith("ent_") and len(eid) == 36 for eid in result.entry_ids)
        infos = [await spool.get(eid) for eid in result.entry_ids]
        assert [i.sink for i in infos] == ["jira", "file"]
        for info in infos:
            assert info.state is EntryState.PENDING
            assert info.ticket_id == ticket.id
            assert info.fingerprint == ticket.fingerprint
            assert info.attempts == 0
            assert info.created_at == clock.now == info.next_attempt_at
            assert info.created_at.tzinfo is not None
            assert info.last_error is None and info.remote_id is None
        zero = {s.value: 0 for s in EntryState}
        assert await spool.depth() == {"jira": {**zero, "pending": 1}, "file": {**zero, "pending": 1}}

    run_with(new_spool, scenario)


def test_put_is_idempotent_on_dedup_key(new_spool, make_ticket):
    async def scenario(spool):
        ticket = make_ticket()
        first = await spool.put(ticket, dedup_key="dk-1", sinks=["jira", "file"])
        again = await spool.put(ticket, dedup_key="dk-1", sinks=["jira", "file"])
        other_sinks = await spool.put(ticket, dedup_key="dk-1", sinks=["zendesk"])
        assert again.created is False and other_sinks.created is False
        assert again.entry_ids == first.entry_ids == other_sinks.entry_ids
        assert set(await spool.depth()) == {"jira", "file"}
        assert len(await spool.list_entries()) == 2
        fresh = await spool.put(ticket, dedup_key="dk-2", sinks=["jira"])
        assert fresh.created is True and not set(fresh.entry_ids) & set(first.entry_ids)

    run_with(new_spool, scenario)


@pytest.mark.parametrize(
    ("dedup_key", "sinks"),
    [("", ["jira"]), ("dk", []), ("dk", ["jira", "jira"]), ("dk", [""])],
    ids=["empty-key", "no-sinks", "repeated-sink", "empty-sink"],
)
def test_put_rejects_bad_arguments(new_spool, make_ticket, dedup_key, sinks):
    async def scenario(spool):
        with pytest.raises(ValueError):
            await spool.put(make_ticket(), dedup_key=dedup_key, sinks=sinks)
        assert await spool.list_entries() == []

    run_with(new_spool, scenario)


def test_put_many_spools_a_batch_like_single_puts(new_spool, make_ticket, clock):
    async def scenario(spool):
        known = make_ticket()
        before = await spool.put(known, dedup_key="dk-known", sinks=["jira"])
        tickets = [make_ticket() for _ in range(3)]
        results = await spool.put_many(
            [
                PutRequest(tickets[0], "dk-0", ["jira", "file"]),
                PutRequest(known, "dk-known", ["jira"]),
                PutRequest(tickets[1], "dk-1", ["jira"]),
                PutRequest(tickets[2], "dk-0", ["jira"]),  # repeated inside the batch
            ]
        )
        assert [r.created for r in results] == [True, False, True, False]
        assert results[1].entry_ids == before.entry_ids
        assert results[3].entry_ids == results[0].entry_ids and len(results[0].entry_ids) == 2
        infos = [await spool.get(eid) for r in results for eid in r.entry_ids]
        assert all(info is not None and info.state is EntryState.PENDING for info in infos)
        assert len(await spool.list_entries(limit=100)) == 4  # known + 2 for dk-0 + dk-1
        assert await spool.put_many([]) == []
        leased = await spool.lease("jira", owner="w", limit=10, lease_for=LEASE)
        assert [e.ticket.id for e in leased] == [known.id, tickets[0].id, tickets[1].id]

    run_with(new_spool, scenario)


def test_put_many_validates_every_item_before_writing_any(new_spool, make_ticket):
    async def scenario(spool):
        with pytest.raises(ValueError):
            await spool.put_many(
                [PutRequest(make_ticket(), "dk-a", ["jira"]), PutRequest(make_ticket(), "", ["jira"])]
            )
        assert await spool.list_entries() == []

    run_with(new_spool, scenario)


def test_put_many_on_a_closed_spool_is_unavailable(new_spool, make_ticket):
    async def main():
        spool = new_spool()
        with pytest.raises(SpoolUnavailable):
            await spool.put_many([PutRequest(make_ticket(), "dk", ["jira"])])

    run(main())


def test_lease_is_oldest_first_limited_and_per_sink(new_spool, make_ticket, clock):
    async def scenario(spool):
        tickets = []
        for n in range(3):
            tickets.append(make_ticket())
            await spool.put(tickets[-1], dedup_key=f"dk-{n}", sinks=["jira", "file"])
            clock.advance(1)
        first = await spool.lease("jira", owner="w1", limit=2, lease_for=LEASE)
        assert [e.ticket.id for e in first] == [tickets[0].id, tickets[1].id]
        assert all(e.sink == "jira" for e in first)
        second = await spool.lease("jira", owner="w1", limit=2, lease_for=LEASE)
        assert [e.ticket.id for e in second] == [tickets[2].id]
        assert await spool.lease("jira", owner="w1", limit=2, lease_for=LEASE) == []
        assert len(await spool.lease("file", owner="w2", limit=10, lease_for=LEASE)) == 3
        assert await spool.lease("nowhere", owner="w3", limit=10, lease_for=LEASE) == []

    run_with(new_spool, scenario)


def test_leased_entry_carries_the_ticket_and_lease(new_spool, make_ticket, clock):
    async def scenario(spool):
        ticket = make_ticket(description="some redacted text")
        put_at = clock.now
        (entry_id,) = (await spool.put(ticket, dedup_key="dk", sinks=["jira"])).entry_ids
        clock.advance(10)
        (entry,) = await spool.lease("jira", owner="w1", limit=5, lease_for=LEASE)
        assert entry.entry_id == entry_id
        assert entry.ticket.body == ticket.body and entry.ticket.id == ticket.id
        assert entry.attempts == 0
        assert entry.created_at == put_at
        assert entry.lease_expires_at == clock.now + LEASE
        info = await spool.get(entry_id)
        assert info.state is EntryState.LEASED
        assert info.attempts == 1
        assert info.lease_owner == "w1" and info.lease_expires_at == clock.now + LEASE

    run_with(new_spool, scenario)


def test_expired_lease_returns_the_entry_to_others(new_spool, make_ticket, clock):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="crashed", limit=1, lease_for=LEASE)
        assert await spool.lease("jira", owner="w2", limit=1, lease_for=LEASE) == []
        clock.advance(LEASE.total_seconds())
        (entry,) = await spool.lease("jira", owner="w2", limit=1, lease_for=LEASE)
        assert entry.entry_id == entry_id
        assert entry.attempts == 1
        with pytest.raises(LeaseLost):
            await spool.settle(entry_id, owner="crashed", outcome=Delivered(remote_id="x"))
        await spool.settle(entry_id, owner="w2", outcome=Delivered(remote_id="R-1"))
        assert (await spool.get(entry_id)).remote_id == "R-1"

    run_with(new_spool, scenario)


def test_lease_takes_due_entries_oldest_first_across_states(new_spool, make_ticket, clock):
    """Expired leases and due pending entries are taken together in (created_at, put order); entries
    whose retry is not yet due are skipped, wherever they sit in that order."""

    async def scenario(spool):
        (oldest,) = (await spool.put(make_ticket(), dedup_key="dk-0", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="crashed", limit=1, lease_for=LEASE)
        clock.advance(1)
        (later,) = (await spool.put(make_ticket(), dedup_key="dk-1", sinks=["jira"])).entry_ids
        (await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE))  # takes `later`
        await spool.settle(later, owner="w1", outcome=RetryAt(when=clock.now + 3 * LEASE, reason="t"))
        batch = await spool.put_many([PutRequest(make_ticket(), f"dk-b{i}", ["jira"]) for i in range(4)])
        same_instant = [result.entry_ids[0] for result in batch]
        clock.advance(LEASE.total_seconds())  # the crashed lease has expired; `later` is not due
        first = await spool.lease("jira", owner="w2", limit=3, lease_for=LEASE)
        assert [e.entry_id for e in first] == [oldest, *same_instant[:2]]
        rest = await spool.lease("jira", owner="w2", limit=10, lease_for=LEASE)
        assert [e.entry_id for e in rest] == same_instant[2:]

    run_with(new_spool, scenario)


def test_settle_delivered_is_final(new_spool, make_ticket, clock):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        clock.advance(2)
        await spool.settle(entry_id, owner="w1", outcome=Delivered(remote_id="JIRA-7"))
        info = await spool.get(entry_id)
        assert info.state is EntryState.DELIVERED
        assert info.remote_id == "JIRA-7"
        assert info.next_attempt_at is None
        assert info.updated_at == clock.now
        assert info.lease_owner is None
        clock.advance(days=30)
        assert await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE) == []

    run_with(new_spool, scenario)


def test_settle_retry_at_is_not_leasable_before_when(new_spool, make_ticket, clock):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        when = clock.now + timedelta(seconds=300)
        await spool.settle(entry_id, owner="w1", outcome=RetryAt(when=when, reason="delivery.transient"))
        info = await spool.get(entry_id)
        assert info.state is EntryState.PENDING
        assert info.next_attempt_at == when
        assert info.last_error == "delivery.transient"
        clock.advance(299)
        assert await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE) == []
        clock.advance(1)
        (entry,) = await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        assert entry.entry_id == entry_id and entry.attempts == 1

    run_with(new_spool, scenario)


def test_settle_dead_letter_parks_the_entry(new_spool, make_ticket, clock):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        await spool.settle(entry_id, owner="w1", outcome=DeadLetter(reason="delivery.permanent"))
        info = await spool.get(entry_id)
        assert info.state is EntryState.DEAD
        assert info.last_error == "delivery.permanent"
        assert info.next_attempt_at is None
        clock.advance(days=30)
        assert await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE) == []

    run_with(new_spool, scenario)


def test_settle_reason_is_cut_to_a_short_code(new_spool, make_ticket):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        await spool.settle(entry_id, owner="w1", outcome=DeadLetter(reason="x" * 1000))
        assert len((await spool.get(entry_id)).last_error) == 200

    run_with(new_spool, scenario)


def test_settle_without_a_valid_lease_raises_lease_lost(new_spool, make_ticket, clock):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        done = Delivered(remote_id=None)
        with pytest.raises(LeaseLost):  # never leased
            await spool.settle(entry_id, owner="w1", outcome=done)
        with pytest.raises(LeaseLost):  # no such entry
            await spool.settle("ent_" + "0" * 32, owner="w1", outcome=done)
        await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        with pytest.raises(LeaseLost):  # another owner
            await spool.settle(entry_id, owner="w2", outcome=done)
        clock.advance(LEASE.total_seconds())
        with pytest.raises(LeaseLost):  # own lease, expired
            await spool.settle(entry_id, owner="w1", outcome=done)
        assert (await spool.get(entry_id)).state is EntryState.LEASED
        (again,) = await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        await spool.settle(again.entry_id, owner="w1", outcome=done)
        with pytest.raises(LeaseLost):  # already settled
            await spool.settle(entry_id, owner="w1", outcome=done)

    run_with(new_spool, scenario)


def test_retry_at_needs_an_aware_datetime(new_spool, make_ticket, clock):
    async def scenario(spool):
        (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        naive = datetime(2025, 3, 2, 12, 0)  # naive on purpose
        with pytest.raises(ValueError):
            await spool.settle(entry_id, owner="w1", outcome=RetryAt(when=naive, reason="t"))
        assert (await spool.get(entry_id)).state is EntryState.LEASED

    run_with(new_spool, scenario)


def test_lease_rejects_bad_arguments(new_spool):
    async def scenario(spool):
        for kwargs in ({"owner": "", "limit": 1}, {"owner": "w", "limit": 0}):
            with pytest.raises(ValueError):
                await spool.lease("jira", lease_for=LEASE, **kwargs)
        with pytest.raises(ValueError):
            await spool.lease("jira", owner="w", limit=1, lease_for=timedelta(0))

    run_with(new_spool, scenario)


def test_list_entries_filters_and_orders(new_spool, make_ticket, clock):
    async def scenario(spool):
        ids = []
        for n in range(3):
            ids.append(
                (await spool.put(make_ticket(), dedup_key=f"dk-{n}", sinks=["jira", "file"])).entry_ids
            )
            clock.advance(1)
        (leased,) = await spool.lease("jira", owner="w1", limit=1, lease_for=LEASE)
        await spool.settle(leased.entry_id, owner="w1", outcome=DeadLetter(reason="delivery.permanent"))

        everything = await spool.list_entries()
        assert len(everything) == 6
        assert [e.created_at for e in everything] == sorted(e.created_at for e in everything)
        jira = await spool.list_entries(sink="jira")
        assert [e.entry_id for e in jira] == [i[0] for i in ids]
        dead = await spool.list_entries(state=EntryState.DEAD)
        assert [e.entry_id for e in dead] == [ids[0][0]]
        assert await spool.list_entries(state=EntryState.DEAD, sink="file") == []
        pending_file = await spool.list_entries(state=EntryState.PENDING, sink="file", limit=2)
        assert [e.entry_id for e in pending_file] == [ids[0][1], ids[1][1]]
        assert await spool.list_entries(limit=0) == []

    run_with(new_spool, scenario)


def test_depth_counts_every_state_per_sink(new_spool, make_ticket):
    async def scenario(spool):
        for n in range(4):
            await spool.put(make_ticket(), dedup_key=f"dk-{n}", sinks=["jira", "file"])
        a, b, _ = await spool.lease("jira", owner="w1", limit=3, lease_for=LEASE)
        await spool.settle(a.entry_id, owner="w1", outcome=Delivered(remote_id="1"))
        await spool.settle(b.entry_id, owner="w1", outcome=DeadLetter(reason="delivery.permanent"))
        assert await spool.depth() == {
            "jira": {"pending": 1, "leased": 1, "delivered": 1, "dead": 1},
            "file": {"pending": 4, "leased": 0, "delivered": 0, "dead": 0},
        }

    run_with(new_spool, scenario)


def test_get_unknown_entry_is_none(new_spool):
    async def scenario(spool):
        assert await spool.get("ent_" + "f" * 32) is None
        assert await spool.depth() == {}

    run_with(new_spool, scenario)


def test_closed_spool_is_unavailable(new_spool, make_ticket):
    async def main():
        spool = new_spool()
        with pytest.raises(SpoolUnavailable):
            await spool.check_writable()
        await spool.open()
        await spool.check_writable()
        await spool.aclose()
        await spool.aclose()  # idempotent
        with pytest.raises(SpoolUnavailable):
            await spool.put(make_ticket(), dedup_key="dk", sinks=["jira"])
        with pytest.raises(SpoolUnavailable):
            await spool.check_writable()

    run(main())


def test_async_with_opens_and_closes(new_spool, make_ticket):
    async def main():
        async with new_spool() as spool:
            await spool.check_writable()
        with pytest.raises(SpoolUnavailable):
            await spool.check_writable()

    run(main())


# -- SpoolAdmin: operator queries, replay, legal hold, retention, pull ----------------------------


def test_backend_satisfies_the_admin_protocol(new_spool):
    assert isinstance(new_spool(), SpoolAdmin)


def test_find_filters_by_state_sink_category_and_time(new_spool, make_ticket, clock):
    async def scenario(spool):
        start = clock.now
        ids = []
        for n in range(4):
            ids.append(
                (await spool.put(make_ticket(), dedup_key=f"dk-{n}", sinks=["jira", "file"])).entry_ids
            )
            clock.advance(10)
        (leased,) = await spool.lease("jira", owner="w", limit=1, lease_for=LEASE)
        await spool.settle(leased.entry_id, owner="w", outcome=DeadLetter(reason="delivery.permanent"))
        assert [e.entry_id for e in await spool.find(SpoolQuery(state=EntryState.DEAD))] == [ids[0][0]]
        assert len(await spool.find(SpoolQuery(category="eligibility.denied"))) == 8
        assert await spool.find(SpoolQuery(category="nope")) == []
        window = await spool.find(
            SpoolQuery(sink="file", since=start + timedelta(seconds=10), until=start + timedelta(seconds=30))
        )
        assert [e.entry_id for e in window] == [ids[1][1], ids[2][1]]
        assert len(await spool.find(SpoolQuery(limit=3))) == 3
        # every filter at once (the SQLite backend then picks the state or the category index)
        both = SpoolQuery(state=EntryState.PENDING, sink="jira", category="eligibility.denied")
        assert [e.entry_id for e in await spool.find(both)] == [i[0] for i in ids[1:]]
        dead_jira = SpoolQuery(state=EntryState.DEAD, sink="jira", category="eligibility.denied")
        assert [e.entry_id for e in await spool.find(dead_jira)] == [ids[0][0]]
        assert await spool.find(SpoolQuery(state=EntryState.DEAD, category="nope")) == []

    run_with(new_spool, scenario)


def test_read_ticket_returns_the_sealed_payload(new_spool, make_ticket):
    async def scenario(spool):
        ticket = make_ticket(description="redacted words")
        (entry_id,) = (await spool.put(ticket, dedup_key="dk", sinks=["jira"])).entry_ids
        assert (await spool.read_ticket(entry_id)).body == ticket.body
        assert await spool.read_ticket("ent_" + "0" * 32) is None

    run_with(new_spool, scenario)


def test_requeue_replays_dead_and_delivered_only(new_spool, make_ticket, clock):
    async def scenario(spool):
        for n in range(3):
            await spool.put(make_ticket(), dedup_key=f"dk-{n}", sinks=["jira"])
        a, b, c = await spool.lease("jira", owner="w", limit=3, lease_for=LEASE)
        await spool.settle(a.entry_id, owner="w", outcome=DeadLetter(reason="delivery.permanent"))
        await spool.settle(b.entry_id, owner="w", outcome=Delivered(remote_id="R-2"))
        clock.advance(5)
        done = await spool.requeue([a.entry_id, b.entry_id, c.entry_id, "ent_" + "0" * 32])
        assert done == [a.entry_id, b.entry_id]
        info = await spool.get(a.entry_id)
        assert info.state is EntryState.PENDING and info.attempts == 0
        assert info.next_attempt_at == clock.now
        assert (await spool.get(c.entry_id)).state is EntryState.LEASED
        again = await spool.lease("jira", owner="w", limit=5, lease_for=LEASE)
        assert {e.entry_id for e in again} == {a.entry_id, b.entry_id}
        assert all(e.ticket.id in (a.ticket.id, b.ticket.id) for e in again)

    run_with(new_spool, scenario)


def test_purge_removes_old_delivered_entries_but_not_held_or_unsettled(new_spool, make_ticket, clock):
    async def scenario(spool):
        for n in range(4):
            await spool.put(make_ticket(description="x" * 2000), dedup_key=f"dk-{n}", sinks=["jira"])
        a, b, c = await spool.lease("jira", owner="w", limit=3, lease_for=LEASE)
        for entry in (a, b):
            await spool.settle(entry.entry_id, owner="w", outcome=Delivered(remote_id=None))
        await spool.settle(c.entry_id, owner="w", outcome=DeadLetter(reason="x"))
        assert await spool.set_legal_hold([b.entry_id], True) == 1
        assert await spool.set_legal_hold([b.entry_id], True) == 0
        assert (await spool.purge(clock.now)).entries == 0  # nothing older than now
        clock.advance(days=31)
        result = await spool.purge(clock.now - timedelta(days=30))
        assert (result.entries, result.payloads) == (1, 1)
        assert await spool.get(a.entry_id) is None
        assert (await spool.get(b.entry_id)).state is EntryState.DELIVERED  # held
        assert (await spool.get(c.entry_id)).state is EntryState.DEAD  # dead kept by default
        dead = await spool.purge(clock.now, states=[EntryState.DEAD])
        assert dead.entries == 1
        with pytest.raises(ValueError):
            await spool.purge(clock.now, states=[EntryState.PENDING])
        assert await spool.set_legal_hold([b.entry_id], False) == 1
        assert (await spool.purge(clock.now)).entries == 1
        assert sum(sum(v.values()) for v in (await spool.depth()).values()) == 1  # the pending one

    run_with(new_spool, scenario)


def test_lease_after_and_acknowledge_serve_the_pull_api(new_spool, make_ticket, clock):
    async def scenario(spool):
        ids = []
        for n in range(5):
            ids.append((await spool.put(make_ticket(), dedup_key=f"dk-{n}", sinks=["pull"])).entry_ids[0])
        page1 = await spool.lease_after("pull", owner="c1", after=0, limit=2, lease_for=LEASE)
        assert [e.entry_id for e in page1] == ids[:2]
        assert page1[0].seq < page1[1].seq
        page2 = await spool.lease_after("pull", owner="c1", after=page1[-1].seq, limit=10, lease_for=LEASE)
        assert [e.entry_id for e in page2] == ids[2:]
        assert await spool.acknowledge("pull", [ids[0], ids[1], "ent_" + "0" * 32]) == [ids[0], ids[1]]
        assert await spool.acknowledge("pull", [ids[0]]) == []
        assert await spool.acknowledge("other", [ids[2]]) == []
        assert await spool.lease_after("pull", owner="c1", after=0, limit=10, lease_for=LEASE) == []
        clock.advance(LEASE.total_seconds())
        again = await spool.lease_after("pull", owner="c2", after=0, limit=10, lease_for=LEASE)
        assert [e.entry_id for e in again] == ids[2:]
        oldest = await spool.oldest_unsettled()
        assert set(oldest) == {"pull"}

    run_with(new_spool, scenario)


def test_sink_disable_flag_round_trips(new_spool):
    async def scenario(spool):
        assert await spool.disabled_sinks() == {}
        await spool.set_sink_disabled("jira", "delivery.gone")
        await spool.set_sink_disabled("jira", "delivery.gone:http_410")
        assert await spool.disabled_sinks() == {"jira": "delivery.gone:http_410"}
        await spool.set_sink_disabled("jira", None)
        await spool.set_sink_disabled("never", None)
        assert await spool.disabled_sinks() == {}

    run_with(new_spool, scenario)


def test_settle_many_settles_a_batch_and_reports_lost_leases(new_spool, make_ticket, clock):
    async def scenario(spool):
        ids = []
        for i in range(5):
            ids += (await spool.put(make_ticket(), dedup_key=f"dk{i}", sinks=["jira"])).entry_ids
        assert await spool.settle_many([], owner="w1") == []
        leased = await spool.lease("jira", owner="w1", limit=4, lease_for=LEASE)  # ids[4] not leased
        assert [e.entry_id for e in leased] == ids[:4]
        clock.advance(3)
        when = clock.now + timedelta(seconds=60)
        lost = await spool.settle_many(
            [
                (ids[0], Delivered(remote_id="R-0")),
                (ids[1], RetryAt(when=when, reason="delivery.transient")),
                (ids[4], Delivered(remote_id="never-leased")),
                (ids[2], DeadLetter(reason="delivery.permanent")),
                (ids[0], Delivered(remote_id="again")),
                ("ent_" + "0" * 32, Delivered(remote_id=None)),
            ],
            owner="w1",
        )
        assert lost == [ids[4], ids[0], "ent_" + "0" * 32]
        infos = [await spool.get(i) for i in ids]
        assert [i.state for i in infos] == [
            EntryState.DELIVERED, EntryState.PENDING, EntryState.DEAD, EntryState.LEASED, EntryState.PENDING,
        ]  # fmt: skip
        assert infos[0].remote_id == "R-0" and infos[0].updated_at == clock.now
        assert infos[1].next_attempt_at == when and infos[1].last_error == "delivery.transient"
        assert infos[2].last_error == "delivery.permanent" and infos[4].remote_id is None
        assert await spool.settle_many([(ids[3], Delivered(remote_id=None))], owner="w2") == [ids[3]]
        clock.advance(LEASE.total_seconds())  # ids[3]'s lease has expired
        assert await spool.settle_many([(ids[3], Delivered(remote_id=None))], owner="w1") == [ids[3]]

    run_with(new_spool, scenario)


def test_settle_many_checks_every_outcome_before_writing(new_spool, make_ticket):
    async def scenario(spool):
        ids = []
        for i in range(2):
            ids += (await spool.put(make_ticket(), dedup_key=f"dk{i}", sinks=["jira"])).entry_ids
        await spool.lease("jira", owner="w1", limit=2, lease_for=LEASE)
        naive = datetime(2025, 3, 2, 12, 0)  # naive on purpose
        with pytest.raises(ValueError):
            await spool.settle_many(
                [(ids[0], Delivered(remote_id=None)), (ids[1], RetryAt(when=naive, reason="t"))], owner="w1"
            )
        assert [(await spool.get(i)).state for i in ids] == [EntryState.LEASED, EntryState.LEASED]

    run_with(new_spool, scenario)
