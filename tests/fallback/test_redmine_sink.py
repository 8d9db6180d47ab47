"""`RedmineSink` against a REAL Redmine 5 (Debian's package, started by the tests on loopback):
search before create on the External ID custom field, a note instead of a second issue, replays
that create nothing, the evidence excerpt as an attachment, and a kill -9 crash loop."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from fallback import EntryState, MemorySpool, RetryPolicy
from fallback.redmine_sink import RedmineSink
from fallback.worker import DeliveryWorker

pytestmark = pytest.mark.slow


def sink_for(server, **kwargs):
    return RedmineSink(server.url, server.api_key, server.project, server.custom_field_id, **kwargs)


def issues_with(server, fingerprint):
    return [
        i for i in server.issues() if any(cf.get("value") == fingerprint for cf in i.get("custom_fields", []))
    ]


def test_create_then_duplicate_then_recurrence_note(redmine, make_ticket):
    async def main():
        sink = sink_for(redmine)
        await sink.open()
        n = random.randrange(1 << 60)
        ticket = make_ticket(number=n)
        first = await sink.deliver(ticket, ticket.id)
        assert first.duplicate is False and first.remote_id
        fresh = sink_for(redmine)  # a new process: no in-memory cache
        await fresh.open()
        again = await fresh.deliver(ticket, ticket.id)
        assert again.duplicate is True and again.remote_id == first.remote_id
        await sink.aclose()
        await fresh.aclose()
        return ticket

    ticket = asyncio.run(main())
    assert len(issues_with(redmine, ticket.fingerprint)) == 1


def test_repeat_of_a_problem_adds_a_note(redmine, make_ticket):
    from normalizers.sealed import SealedTicket

    async def main():
        sink = sink_for(redmine)
        await sink.open()
        n = random.randrange(1 << 60)
        ticket = make_ticket(number=n)
        body = ticket.body.replace(ticket.id.encode(), b"tkt_" + b"e" * 32)
        repeat = SealedTicket.restore(body)  # same fingerprint, another ticket
        first = await sink.deliver(ticket, ticket.id)
        second = await sink.deliver(repeat, repeat.id)
        assert second.remote_id == first.remote_id and second.duplicate is False
        fresh = sink_for(redmine)
        await fresh.open()
        third = await fresh.deliver(repeat, repeat.id)  # a replay in a new process
        assert third.duplicate is True
        await fresh.aclose()
        async with httpx.AsyncClient() as client:
            r = await client.get(
                f"{redmine.url}/issues/{first.remote_id}.json",
                params={"include": "journals"},
                headers={"X-Redmine-API-Key": redmine.api_key},
            )
        notes = [j["notes"] for j in r.json()["issue"]["journals"] if j.get("notes")]
        assert len(notes) == 1 and repeat.id in notes[0]
        await sink.aclose()
        return ticket

    ticket = asyncio.run(main())
    assert len(issues_with(redmine, ticket.fingerprint)) == 1


def test_evidence_is_attached(redmine, make_ticket):
    from normalizers.sealed import SealedTicket

    async def main():
        sink = sink_for(redmine)
        await sink.open()
        base = make_ticket(number=random.randrange(1 << 60))
        body = base.body.replace(b'"evidence":""', b'"evidence":"CLP*[REDACTED]*4*CO*97"')
        ticket = SealedTicket.restore(body)
        receipt = await sink.deliver(ticket, ticket.id)
        async with httpx.AsyncClient() as client:
            r = await client.get(
                f"{redmine.url}/issues/{receipt.remote_id}.json",
                params={"include": "attachments"},
                headers={"X-Redmine-API-Key": redmine.api_key},
            )
        (attachment,) = r.json()["issue"]["attachments"]
        assert attachment["filename"] == f"evidence-{ticket.id}.txt"
        await sink.aclose()

    asyncio.run(main())


def test_wrong_api_key_is_a_dead_letter(redmine, make_ticket, clock):
    async def main():
        async with MemorySpool(clock=clock) as spool:
            sink = RedmineSink(redmine.url, "0" * 40, redmine.project, redmine.custom_field_id)
            await sink.open()
            (entry_id,) = (await spool.put(make_ticket(), dedup_key="dk", sinks=["redmine"])).entry_ids
            await DeliveryWorker(spool, sink, policy=RetryPolicy(), owner="w", clock=clock).run_once()
            info = await spool.get(entry_id)
            assert info.state is EntryState.DEAD and info.last_error.endswith("http_401")
            await sink.aclose()

    asyncio.run(main())
