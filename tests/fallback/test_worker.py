"""`DeliveryWorker` over `MemorySpool` and `MemorySink`, with a hand-moved clock (no sleeps)."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

import pytest

from fallback import (
    DeliveryWorker,
    EntryState,
    FileSink,
    MemorySink,
    MemorySpool,
    PayloadCipher,
    RetryPolicy,
    SpoolUnavailable,
    SqliteSpool,
)

LEASE = timedelta(seconds=60)
MARKER = "ZZ-WORKER-MARKER-77e0"


def make_worker(spool, sink, clock, **kwargs):
    kwargs.setdefault("policy", RetryPolicy())
    return DeliveryWorker(
        spool, sink, owner="w1", clock=clock, rng=random.Random(0), lease_for=LEASE, **kwargs
    )


class BrokenOnSink(MemorySink):
    """Raises an unexpected exception (with PHI-like text) for one ticket id."""

    def __init__(self, bad_id: str) -> None:
        super().__init__()
        self.bad_id = bad_id

    async def deliver(self, ticket, idempotency_key):
        if idempotency_key == self.bad_id:
            raise RuntimeError(f"remote said: patient {MARKER} not found")
        return await super().deliver(ticket, idempotency_key)


class WatchedSpool(MemorySpool):
    """Sets ``leased`` after every lease; the first ``fail_leases`` leases raise SpoolUnavailable."""

    def __init__(self, clock, fail_leases: int = 0) -> None:
        super().__init__(clock=clock)
        self.leased = asyncio.Event()
        self.fail_leases = fail_leases

    async def lease(self, sink, **kwargs):
        try:
            if self.fail_leases:
                self.fail_leases -= 1
                raise SpoolUnavailable("injected")
            return await super().lease(sink, **kwargs)
        finally:
            self.leased.set()


def test_success_settles_delivered(make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool, MemorySink() as sink:
            ticket = make_ticket()
            (entry_id,) = (await spool.put(ticket, dedup_key="dk", sinks=[sink.name])).entry_ids
            assert await make_worker(spool, sink, clock).run_once() == 1
            assert sink.delivered == {ticket.id: ticket}
            info = await spool.get(entry_id)
            assert info.state is EntryState.DELIVERED and info.remote_id == "mem-1"

    asyncio.run(main())


def test_transient_failure_then_success(make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool, MemorySink() as sink:
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])).entry_ids
            worker = make_worker(spool, sink, clock)
            sink.fail_next(1)
            assert await worker.run_once() == 1
            info = await spool.get(entry_id)
            assert info.state is EntryState.PENDING
            assert info.next_attempt_at == clock.now + timedelta(seconds=5)
            assert info.last_error == "delivery.transient:TransientDeliveryError"
            assert await worker.run_once() == 0  # not due yet
            clock.advance(5)
            assert await worker.run_once() == 1
            info = await spool.get(entry_id)
            assert info.state is EntryState.DELIVERED and info.attempts == 2

    asyncio.run(main())


def test_permanent_failure_dead_letters(make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool, MemorySink() as sink:
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])).entry_ids
            sink.fail_next(1, permanent=True)
            await make_worker(spool, sink, clock).run_once()
            info = await spool.get(entry_id)
            assert info.state is EntryState.DEAD
            assert info.last_error == "delivery.permanent:PermanentDeliveryError"
            assert sink.delivered == {}

    asyncio.run(main())


def test_retry_after_is_honoured(make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool, MemorySink() as sink:
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])).entry_ids
            worker = make_worker(spool, sink, clock)
            sink.fail_next(1, retry_after=600.0)
            await worker.run_once()
            assert (await spool.get(entry_id)).next_attempt_at == clock.now + timedelta(seconds=600)
            clock.advance(599)
            assert await worker.run_once() == 0
            clock.advance(1)
            assert await worker.run_once() == 1

    asyncio.run(main())


def test_attempts_run_out(make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool, MemorySink() as sink:
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])).entry_ids
            worker = make_worker(spool, sink, clock, policy=RetryPolicy(max_attempts=2))
            sink.fail_next(2)
            await worker.run_once()
            clock.advance(5)
            await worker.run_once()
            info = await spool.get(entry_id)
            assert info.state is EntryState.DEAD
            assert info.last_error == "attempts_exhausted:delivery.transient:TransientDeliveryError"

    asyncio.run(main())


def test_entries_whose_leases_keep_expiring_are_dead_lettered(make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool, MemorySink() as sink:
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])).entry_ids
            for _ in range(3):  # three workers that crashed mid-delivery
                assert await spool.lease(sink.name, owner="crashed", limit=1, lease_for=LEASE)
                clock.advance(LEASE.total_seconds())
            await make_worker(spool, sink, clock, policy=RetryPolicy(max_attempts=3)).run_once()
            info = await spool.get(entry_id)
            assert info.state is EntryState.DEAD
            assert info.last_error == "attempts_exhausted:unsettled_leases"
            assert sink.calls == []

    asyncio.run(main())


def test_one_failing_entry_does_not_block_the_others(make_ticket, clock, caplog):
    tickets = [make_ticket(description=MARKER) for _ in range(3)]

    async def main():
        async with MemorySpool(clock=clock) as spool, BrokenOnSink(tickets[1].id) as sink:
            ids = []
            for n, ticket in enumerate(tickets):
                ids.append((await spool.put(ticket, dedup_key=f"dk-{n}", sinks=[sink.name])).entry_ids[0])
                clock.advance(1)
            assert await make_worker(spool, sink, clock).run_once() == 3
            assert set(sink.delivered) == {tickets[0].id, tickets[2].id}
            bad = await spool.get(ids[1])
            assert bad.state is EntryState.PENDING
            assert bad.last_error == "unexpected:RuntimeError"

    with caplog.at_level(logging.DEBUG, logger="fallback"):
        asyncio.run(main())
    assert_logs_are_clean(caplog.records)
    settled = [r for r in caplog.records if r.getMessage() == "delivery settled"]
    assert {r.outcome for r in settled} == {"delivered", "retry"}
    assert all(r.entry_id.startswith("ent_") and r.ticket_id.startswith("tkt_") for r in settled)
    assert all(r.sink == "memory" for r in settled)
    unexpected = [r for r in caplog.records if getattr(r, "error_class", None) == "RuntimeError"]
    assert unexpected


def assert_logs_are_clean(records):
    assert records
    for record in records:
        assert MARKER not in record.getMessage()
        assert all(MARKER not in str(value) for value in vars(record).values())
        assert record.exc_info is None


def test_notify_wakes_the_loop_without_waiting_for_the_poll(make_ticket, clock):
    async def main():
        spool = WatchedSpool(clock)
        async with spool, MemorySink() as sink:
            worker = make_worker(spool, sink, clock, poll_interval=3600.0)
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            await asyncio.wait_for(spool.leased.wait(), timeout=5)  # first, empty poll done
            await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])
            worker.notify()
            await asyncio.wait_for(sink.wait_until_delivered(1), timeout=5)
            stop.set()
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())


def test_loop_survives_a_failing_lease(make_ticket, clock, caplog):
    async def main():
        spool = WatchedSpool(clock, fail_leases=1)
        async with spool, MemorySink() as sink:
            await spool.put(make_ticket(), dedup_key="dk", sinks=[sink.name])
            worker = make_worker(spool, sink, clock, poll_interval=3600.0)
            with pytest.raises(SpoolUnavailable):
                await worker.run_once()
            spool.fail_leases = 1
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            await asyncio.wait_for(spool.leased.wait(), timeout=5)
            worker.notify()
            await asyncio.wait_for(sink.wait_until_delivered(1), timeout=5)
            stop.set()
            await asyncio.wait_for(task, timeout=5)

    with caplog.at_level(logging.ERROR, logger="fallback"):
        asyncio.run(main())
    assert any(getattr(r, "code", None) == "spool.unavailable" for r in caplog.records)


def test_stop_ends_an_idle_loop(clock):
    async def main():
        spool = WatchedSpool(clock)
        async with spool, MemorySink() as sink:
            worker = make_worker(spool, sink, clock, poll_interval=3600.0)
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            await asyncio.wait_for(spool.leased.wait(), timeout=5)  # now idle for an hour
            stop.set()
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())


def test_bad_worker_settings_are_rejected(clock):
    with pytest.raises(ValueError):
        make_worker(MemorySpool(clock=clock), MemorySink(), clock, batch_size=0)
    with pytest.raises(ValueError):
        make_worker(MemorySpool(clock=clock), MemorySink(), clock, poll_interval=0)


def test_sqlite_spool_to_file_sink_end_to_end(tmp_path, make_ticket, clock):
    tickets = [make_ticket() for _ in range(3)]
    out = tmp_path / "out" / "tickets.jsonl"

    async def main():
        cipher = PayloadCipher({"k1": PayloadCipher.generate_key()}, "k1")
        async with SqliteSpool(tmp_path / "spool.db", cipher, clock=clock) as spool, FileSink(out) as sink:
            for n, ticket in enumerate(tickets):
                await spool.put(ticket, dedup_key=f"dk-{n}", sinks=[sink.name])
            assert await make_worker(spool, sink, clock, batch_size=2).run_once() == 2
            assert await make_worker(spool, sink, clock, batch_size=2).run_once() == 1
            assert (await spool.depth())[sink.name]["delivered"] == 3

    asyncio.run(main())
    assert out.read_bytes() == b"".join(t.body + b"\n" for t in tickets)


class CountingSpool(MemorySpool):
    def __init__(self, clock) -> None:
        super().__init__(clock=clock)
        self.batches: list[int] = []

    async def settle_many(self, settlements, *, owner):
        self.batches.append(len(settlements))
        return await super().settle_many(settlements, owner=owner)


class SlowSink(MemorySink):
    """Yields before answering and records how many sends were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0

    async def deliver(self, ticket, idempotency_key):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            return await super().deliver(ticket, idempotency_key)
        finally:
            self.in_flight -= 1


def test_concurrent_sends_and_one_settlement_per_batch(make_ticket, clock):
    async def main():
        async with CountingSpool(clock) as spool, SlowSink() as sink:
            for i in range(20):
                await spool.put(make_ticket(), dedup_key=f"dk{i}", sinks=[sink.name])
            worker = make_worker(spool, sink, clock, concurrency=5, batch_size=20)
            assert await worker.run_once() == 20
            assert spool.batches == [20] and sink.peak == 5 and len(sink.delivered) == 20
            assert (await spool.depth())[sink.name]["delivered"] == 20

    asyncio.run(main())


def test_concurrency_stops_sending_when_the_breaker_opens(make_ticket, clock):
    from fallback.circuit import CircuitBreaker

    async def main():
        async with MemorySpool(clock=clock) as spool, SlowSink() as sink:
            for i in range(12):
                await spool.put(make_ticket(), dedup_key=f"dk{i}", sinks=[sink.name])
            sink.fail_next(12)
            breaker = CircuitBreaker(min_attempts=4)
            worker = make_worker(spool, sink, clock, concurrency=2, batch_size=12, breaker=breaker)
            assert await worker.run_once() == 12
            assert breaker.state.value == "open"
            infos = await spool.list_entries(sink=sink.name)
            stopped = [i for i in infos if i.last_error == "circuit_open"]
            assert 0 < len(stopped) <= 8 and all(i.state is EntryState.PENDING for i in infos)
            assert len(sink.calls) == 12 - len(stopped)

    asyncio.run(main())


def test_concurrency_must_be_positive(clock):
    with pytest.raises(ValueError, match="concurrency"):
        make_worker(MemorySpool(clock=clock), MemorySink(), clock, concurrency=0)


def test_batch_hook_gets_each_round_once_in_order(make_ticket, clock):
    """``on_settled_batch`` is awaited once per round with every settled (entry, outcome) in lease
    order (the gateway commits the round's audit records in one transaction); a failing hook is
    logged and delivery goes on."""
    rounds: list[list[tuple[str, str]]] = []

    async def hook(settled):
        rounds.append([(entry.ticket.id, type(outcome).__name__) for entry, outcome in settled])
        raise RuntimeError("audit store down")

    async def main():
        async with MemorySpool(clock=clock) as spool:
            tickets = [make_ticket() for _ in range(5)]
            for i, ticket in enumerate(tickets):
                await spool.put(ticket, dedup_key=f"dk{i}", sinks=["memory"])
            sink = BrokenOnSink(tickets[1].id)
            await sink.open()
            worker = make_worker(spool, sink, clock, batch_size=3, on_settled_batch=hook)
            assert await worker.run_once() == 3
            assert await worker.run_once() == 2
            return tickets

    tickets = asyncio.run(main())
    assert rounds == [
        [(tickets[0].id, "Delivered"), (tickets[1].id, "RetryAt"), (tickets[2].id, "Delivered")],
        [(tickets[3].id, "Delivered"), (tickets[4].id, "Delivered")],
    ]
