"""A ticket that ``follows`` a resolved one (a repeat after resolve) gets a NEW remote ticket that
names the old one, instead of a comment on the resolved ticket (Zendesk double via respx)."""

from __future__ import annotations

import asyncio
import json

import httpx
import respx

from fallback.saas_sinks import ZendeskSink
from fallback.ticketing_sink import ticket_text
from normalizers.payload import Lifecycle, TicketPayload
from normalizers.sealed import SealedTicket

ZD = "https://acme.zendesk.com"
OLD, NEW = "tkt_" + "1" * 32, "tkt_" + "2" * 32


def _follower(ticket: SealedTicket) -> SealedTicket:
    data = json.loads(ticket.body)
    data["id"] = NEW
    data["lifecycle"] = Lifecycle(follows=OLD).model_dump(mode="json")
    return SealedTicket.restore(TicketPayload.model_validate(data).canonical_json())


def test_a_follower_creates_a_new_remote_ticket_naming_the_old_one(make_ticket) -> None:
    old = make_ticket(number=int("1" * 32, 16))
    new = _follower(old)
    assert f"follows rcm-gateway ticket: {OLD}" in ticket_text(new)
    created: list[dict[str, object]] = []

    def search(request: httpx.Request) -> httpx.Response:
        hits = [{"id": 100 + i, "external_id": t["external_id"]} for i, t in enumerate(created)]
        return httpx.Response(200, json={"tickets": hits, "count": len(hits)})

    def create(request: httpx.Request) -> httpx.Response:
        created.append(json.loads(request.content)["ticket"])
        return httpx.Response(201, json={"ticket": {"id": 99 + len(created)}})

    def comments(request: httpx.Request) -> httpx.Response:
        number = int(request.url.path.split("/")[-2]) - 100
        return httpx.Response(200, json={"comments": [{"body": created[number]["comment"]["body"]}]})

    async def main() -> None:
        with respx.mock() as mock:
            mock.get(f"{ZD}/api/v2/tickets.json").mock(side_effect=search)
            mock.post(f"{ZD}/api/v2/tickets.json").mock(side_effect=create)
            mock.get(path__regex=r"/api/v2/tickets/\d+/comments.json$").mock(side_effect=comments)
            sink = ZendeskSink(ZD, "gw@example.org", "k")
            await sink.open()
            first = await sink.deliver(old, old.id)
            second = await sink.deliver(new, new.id)
            assert (first.remote_id, second.remote_id) == ("100", "101")
            fresh = ZendeskSink(ZD, "gw@example.org", "k")  # a replay after a restart: no third ticket
            await fresh.open()
            assert (await fresh.deliver(new, new.id)).duplicate is True
            await sink.aclose()
            await fresh.aclose()

    asyncio.run(main())
    assert len(created) == 2
    assert OLD in str(created[1]["comment"])
