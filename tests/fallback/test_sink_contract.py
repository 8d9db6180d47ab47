"""The `Sink` contract, run against every sink, then what only `FileSink` and `MemorySink` promise.

To add a sink, add a builder to ``SINKS`` (it gets pytest's ``tmp_path``; for HTTP sinks, point it
at a respx or MockTransport double of the remote).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fallback import (
    DeliveryReceipt,
    FileSink,
    MemorySink,
    PermanentDeliveryError,
    Sink,
    TransientDeliveryError,
)

SINKS: dict[str, Callable[[Path], Sink]] = {
    "memory": lambda tmp: MemorySink(),
    "file": lambda tmp: FileSink(tmp / "out" / "tickets.jsonl"),
}
MARKER = "ZZ-SINK-MARKER-91ab"


@pytest.fixture(params=sorted(SINKS))
def new_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Sink]:
    return lambda: SINKS[request.param](tmp_path)


def test_sink_satisfies_the_protocol(new_sink):
    sink = new_sink()
    assert isinstance(sink, Sink)
    assert isinstance(sink.name, str) and sink.name


def test_delivery_is_idempotent_on_the_key(new_sink, make_ticket):
    async def main():
        sink = new_sink()
        await sink.open()
        await sink.open()  # idempotent
        ticket, other = make_ticket(), make_ticket()
        first = await sink.deliver(ticket, ticket.id)
        assert isinstance(first, DeliveryReceipt)
        assert first.duplicate is False and first.remote_id
        again = await sink.deliver(ticket, ticket.id)
        assert again == DeliveryReceipt(remote_id=first.remote_id, duplicate=True)
        second = await sink.deliver(other, other.id)
        assert second.duplicate is False and second.remote_id != first.remote_id
        await sink.aclose()
        await sink.aclose()  # idempotent

    asyncio.run(main())


def test_deliver_outside_open_is_a_wiring_error(new_sink, make_ticket):
    async def main():
        sink = new_sink()
        ticket = make_ticket()
        with pytest.raises(RuntimeError):
            await sink.deliver(ticket, ticket.id)
        await sink.open()
        await sink.aclose()
        with pytest.raises(RuntimeError):
            await sink.deliver(ticket, ticket.id)

    asyncio.run(main())


# FileSink


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_file_sink_writes_one_body_per_line(tmp_path, make_ticket):
    path = tmp_path / "a" / "b" / "tickets.jsonl"
    tickets = [make_ticket(description=f"{MARKER} line {n}\nsecond line") for n in range(3)]

    async def main():
        async with FileSink(path) as sink:
            receipts = [await sink.deliver(t, t.id) for t in tickets]
        assert [r.remote_id for r in receipts] == ["1", "2", "3"]

    asyncio.run(main())
    lines = read_lines(path)
    assert lines == [t.body.decode() + "\n" for t in tickets]
    assert [json.loads(line)["id"] for line in lines] == [t.id for t in tickets]


def test_file_sink_redelivery_after_reopen_writes_no_duplicate(tmp_path, make_ticket):
    path = tmp_path / "tickets.jsonl"
    ticket, later = make_ticket(), make_ticket()

    async def main():
        async with FileSink(path) as sink:
            await sink.deliver(ticket, ticket.id)
        async with FileSink(path) as reopened:
            receipt = await reopened.deliver(ticket, ticket.id)
            assert receipt == DeliveryReceipt(remote_id="1", duplicate=True)
            assert (await reopened.deliver(later, later.id)).remote_id == "2"

    asyncio.run(main())
    assert read_lines(path) == [ticket.body.decode() + "\n", later.body.decode() + "\n"]


def test_file_sink_cuts_a_torn_last_line(tmp_path, make_ticket):
    path = tmp_path / "tickets.jsonl"
    whole, torn = make_ticket(), make_ticket()
    path.write_bytes(whole.body + b"\n" + torn.body[: len(torn.body) // 2])

    async def main():
        async with FileSink(path) as sink:
            assert path.read_bytes() == whole.body + b"\n"
            assert (await sink.deliver(whole, whole.id)).duplicate is True
            assert (await sink.deliver(torn, torn.id)) == DeliveryReceipt(remote_id="2", duplicate=False)

    asyncio.run(main())
    assert read_lines(path) == [whole.body.decode() + "\n", torn.body.decode() + "\n"]


def test_file_sink_skips_an_unreadable_complete_line(tmp_path, make_ticket):
    path = tmp_path / "tickets.jsonl"
    ticket = make_ticket()
    path.write_bytes(b"not json\n" + ticket.body + b"\n")

    async def main():
        async with FileSink(path) as sink:
            assert (await sink.deliver(ticket, ticket.id)) == DeliveryReceipt(remote_id="2", duplicate=True)

    asyncio.run(main())


def test_file_sink_needs_the_ticket_id_as_key(tmp_path, make_ticket):
    ticket = make_ticket(description=MARKER)

    async def main():
        async with FileSink(tmp_path / "t.jsonl") as sink:
            with pytest.raises(PermanentDeliveryError) as caught:
                await sink.deliver(ticket, "some-other-key")
        assert MARKER not in str(caught.value)

    asyncio.run(main())


def test_file_sink_unopenable_path_is_transient(tmp_path):
    (tmp_path / "t.jsonl").mkdir()

    async def main():
        with pytest.raises(TransientDeliveryError):
            await FileSink(tmp_path / "t.jsonl").open()

    asyncio.run(main())


# MemorySink


def test_memory_sink_injected_failures_then_success(make_ticket):
    ticket = make_ticket()

    async def main():
        async with MemorySink() as sink:
            sink.fail_next(2, retry_after=30.0)
            sink.fail_next(1, permanent=True)
            for _ in range(2):
                with pytest.raises(TransientDeliveryError) as caught:
                    await sink.deliver(ticket, ticket.id)
                assert caught.value.retry_after == 30.0
            with pytest.raises(PermanentDeliveryError):
                await sink.deliver(ticket, ticket.id)
            assert sink.delivered == {}
            receipt = await sink.deliver(ticket, ticket.id)
            assert receipt == DeliveryReceipt(remote_id="mem-1", duplicate=False)
            assert sink.delivered == {ticket.id: ticket}
            assert sink.calls == [ticket.id] * 4
            await asyncio.wait_for(sink.wait_until_delivered(1), timeout=5)

    asyncio.run(main())
