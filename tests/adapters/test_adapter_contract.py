"""The Adapter contract, run against every adapter and the in-package double."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from testkit import REPO

from adapters.base import Adapter, SourceRecord
from adapters.json_event import JsonEventFileAdapter
from adapters.memory import MemoryAdapter

EVENTS = REPO / "fixtures" / "events"


def _record(index: int) -> SourceRecord:
    return SourceRecord(
        record_type="json-event",
        source_system="test",
        source_format="json-event",
        facts={"n": index},
        received_at=datetime.now(UTC),
    )


AdapterFactory = Callable[[], tuple[Adapter, int]]
FACTORIES: dict[str, AdapterFactory] = {
    "memory": lambda: (MemoryAdapter([_record(i) for i in range(3)]), 3),
    "json-event-files": lambda: (
        JsonEventFileAdapter([EVENTS / "denial-co97.json", EVENTS / "user-reported-no-phi.json"]),
        2,
    ),
}


async def _drain(adapter: Adapter, ack: bool) -> list[SourceRecord]:
    records = []
    async for record, ack_fn in adapter.read():
        records.append(record)
        if ack:
            await ack_fn()
            await ack_fn()  # acks are idempotent
    return records


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_adapter_yields_records_with_acks(name: str) -> None:
    adapter, expected = FACTORIES[name]()
    assert isinstance(adapter, Adapter)
    assert adapter.name

    async def run() -> list[SourceRecord]:
        await adapter.open()
        try:
            return await _drain(adapter, ack=True)
        finally:
            await adapter.aclose()

    records = asyncio.run(run())
    assert len(records) == expected
    assert all(isinstance(record, SourceRecord) and record.record_type for record in records)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_read_ends_after_aclose(name: str) -> None:
    adapter, _ = FACTORIES[name]()

    async def run() -> list[SourceRecord]:
        await adapter.open()
        await adapter.aclose()
        return await _drain(adapter, ack=False)

    assert asyncio.run(run()) == []


def test_memory_adapter_offers_unacknowledged_records_again() -> None:
    adapter = MemoryAdapter([_record(i) for i in range(3)])

    async def run() -> tuple[int, int]:
        first = 0
        async for _record_item, ack in adapter.read():
            first += 1
            if first == 2:
                await ack()
        second = len(await _drain(adapter, ack=True))
        return first, second

    assert asyncio.run(run()) == (3, 2)
    assert sorted(adapter.acked) == [0, 1, 2]


def test_records_never_show_phi_in_repr(tmp_path: Path) -> None:
    adapter = JsonEventFileAdapter([EVENTS / "denial-co97.json"])

    async def run() -> list[SourceRecord]:
        return await _drain(adapter, ack=False)

    record = asyncio.run(run())[0]
    assert "E1234567" not in repr(record.phi) and "SAMPLE" not in repr(record.phi)
    assert {value.kind for value in record.phi} == {"NAME", "DOB", "MRN", "PHONE", "CLAIM", "ACCT"}
