"""Delivery against a REAL local HTTP server that fails on cue: 500s, 429 with Retry-After, a 30 s
stall (cut by a short client timeout), refused connections, 4xx dead letters, 410 disabling the
sink. Time for the schedule comes from the test clock, so nothing sleeps."""

from __future__ import annotations

import asyncio
import random
import socket
from datetime import timedelta

import pytest
from httpfaults import Drop, FaultServer, Ok, Stall, Status

from fallback import EntryState, MemorySpool, RetryPolicy
from fallback.circuit import CircuitBreaker, CircuitState
from fallback.webhook_sink import WebhookSink, verify
from fallback.worker import DeliveryWorker

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.stop()


def make(spool, sink, clock, **kwargs):
    policy = kwargs.pop("policy", RetryPolicy())
    return DeliveryWorker(spool, sink, policy=policy, owner="w1", clock=clock, rng=random.Random(1), **kwargs)


def webhook(url, **kwargs):
    return WebhookSink(url, [SECRET], name="hook", timeout=0.3, connect_timeout=0.3, **kwargs)


def test_schedule_is_honoured_through_500_429_stall_then_delivered(server, make_ticket, clock):
    server.push(Status(500), Status(429, retry_after="1000"), Stall(30), Ok())

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(server.url)
            await sink.open()
            worker = make(spool, sink, clock)
            ticket = make_ticket()
            (entry_id,) = (await spool.put(ticket, dedup_key="dk", sinks=["hook"])).entry_ids
            start = clock.now
            expected = [5, 1000, 1800]  # schedule 5 s; Retry-After 1000 beats 300; after the stall 1800
            for wait in expected:
                assert await worker.run_once() == 1
                info = await spool.get(entry_id)
                assert info.state is EntryState.PENDING
                assert info.next_attempt_at == clock.now + timedelta(seconds=wait)
                clock.advance(wait - 1)
                assert await worker.run_once() == 0  # not due yet
                clock.advance(1)
            assert await worker.run_once() == 1
            info = await spool.get(entry_id)
            assert info.state is EntryState.DELIVERED and info.remote_id == ticket.id
            assert clock.now - start == timedelta(seconds=sum(expected))
            await sink.aclose()

    asyncio.run(main())
    assert server.received_ids == [server.requests[0].headers["webhook-id"]]
    last = server.requests[-1]
    assert verify(SECRET, last.headers, last.body)


def test_refused_connections_dead_letter_after_the_limit(make_ticket, clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(f"http://127.0.0.1:{port}/hook")
            await sink.open()
            worker = make(spool, sink, clock, policy=RetryPolicy(max_attempts=3))
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["hook"])).entry_ids
            for _ in range(3):
                clock.advance(hours=1)
                assert await worker.run_once() == 1
            info = await spool.get(entry_id)
            assert info.state is EntryState.DEAD
            assert info.last_error.startswith("attempts_exhausted:delivery.transient")
            await sink.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_dead_letter_at_once_with_the_status(server, make_ticket, clock, status):
    server.push(Status(status))

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(server.url)
            await sink.open()
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["hook"])).entry_ids
            await make(spool, sink, clock).run_once()
            info = await spool.get(entry_id)
            assert info.state is EntryState.DEAD
            assert info.last_error == f"delivery.permanent:PermanentDeliveryError:http_{status}"
            await sink.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("status", [408, 409, 429, 502, 503])
def test_retryable_statuses_are_retried(server, make_ticket, clock, status):
    server.push(Status(status))

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(server.url)
            await sink.open()
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["hook"])).entry_ids
            await make(spool, sink, clock).run_once()
            info = await spool.get(entry_id)
            assert info.state is EntryState.PENDING
            assert info.last_error.endswith(f"http_{status}")
            await sink.aclose()

    asyncio.run(main())


def test_410_disables_the_sink_until_an_operator_enables_it(server, make_ticket, clock):
    server.push(Status(410))

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(server.url)
            await sink.open()
            worker = make(spool, sink, clock)
            ids = [
                (await spool.put(make_ticket(), dedup_key=f"dk{n}", sinks=["hook"])).entry_ids[0]
                for n in range(3)
            ]
            assert await worker.run_once() == 3
            assert await spool.disabled_sinks() == {"hook": "delivery.gone:SinkGone:http_410"}
            assert [(await spool.get(i)).state for i in ids] == [EntryState.PENDING] * 3
            assert len(server.requests) == 1  # nothing after the 410
            clock.advance(hours=1)
            assert await worker.run_once() == 0
            await spool.set_sink_disabled("hook", None)
            assert await worker.run_once() == 3
            assert [(await spool.get(i)).state for i in ids] == [EntryState.DELIVERED] * 3
            await sink.aclose()

    asyncio.run(main())


def test_nothing_is_lost_through_random_faults(server, make_ticket, clock):
    rng = random.Random(7)
    steps = [Ok(), Status(500), Status(503, "2"), Drop(), Status(429, "3"), Ok()]
    server.push(*(rng.choice(steps) for _ in range(60)))
    server.push(Stall(30), Stall(30))

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(server.url)
            await sink.open()
            policy = RetryPolicy(max_attempts=50, max_age=timedelta(days=365))
            worker = make(spool, sink, clock, policy=policy)
            tickets = [make_ticket() for _ in range(20)]
            for n, t in enumerate(tickets):
                await spool.put(t, dedup_key=f"dk{n}", sinks=["hook"])
            for _ in range(200):
                await worker.run_once()
                depth = (await spool.depth())["hook"]
                if depth["delivered"] == 20:
                    break
                clock.advance(hours=11)
            assert (await spool.depth())["hook"]["delivered"] == 20
            await sink.aclose()
            return {t.id for t in tickets}

    ids = asyncio.run(main())
    assert set(server.received_ids) == ids  # every ticket arrived (repeats were answered duplicate)


def test_circuit_breaker_opens_half_opens_and_closes():
    now = [0.0]
    breaker = CircuitBreaker(clock=lambda: now[0])
    for _ in range(9):
        assert breaker.allow()
        breaker.record(False)
    assert breaker.state is CircuitState.CLOSED  # fewer than 10 attempts
    breaker.record(True)  # 9 failures of 10 = 90 %
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    now[0] += 30
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record(False)
    assert breaker.state is CircuitState.OPEN
    now[0] += 30
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state is CircuitState.CLOSED


def test_circuit_breaker_needs_70_percent_in_the_window():
    now = [0.0]
    breaker = CircuitBreaker(clock=lambda: now[0])
    for n in range(20):
        breaker.record(n % 2 == 0)  # 50 %
    assert breaker.state is CircuitState.CLOSED
    now[0] += 301  # the window forgets
    for _ in range(7):
        breaker.record(False)
    for _ in range(3):
        breaker.record(True)
    assert breaker.state is CircuitState.OPEN


def test_open_circuit_stops_leasing(server, make_ticket, clock):
    server.default = Status(503)
    now = [0.0]

    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = webhook(server.url)
            await sink.open()
            breaker = CircuitBreaker(clock=lambda: now[0], min_attempts=3)
            worker = make(spool, sink, clock, breaker=breaker, policy=RetryPolicy(max_attempts=100))
            for n in range(5):
                await spool.put(make_ticket(), dedup_key=f"dk{n}", sinks=["hook"])
            await worker.run_once()
            assert breaker.state is CircuitState.OPEN
            assert len(server.requests) == 3  # the rest of the batch went back unsent
            clock.advance(hours=1)
            assert await worker.run_once() == 0
            now[0] += 30
            server.default = Ok()
            assert await worker.run_once() == 1  # the half-open trial
            assert breaker.state is CircuitState.CLOSED
            await sink.aclose()

    asyncio.run(main())
