"""Jira, ServiceNow and Zendesk sinks against respx doubles that keep state the way the documented
APIs do (request paths, bodies and response shapes): search before create, a comment instead of a
second ticket, replays that write nothing, the evidence uploaded, 429/410/4xx mapped, https only."""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx
import pytest
import respx

from fallback import PermanentDeliveryError, TransientDeliveryError
from fallback.circuit import RateLimit, RateLimiter
from fallback.errors import SinkGone
from fallback.saas_sinks import JiraSink, ServiceNowSink, ZendeskSink
from normalizers.payload import Lifecycle, TicketPayload
from normalizers.sealed import SealedTicket

JIRA, SNOW, ZD = "https://acme.atlassian.net", "https://acme.service-now.com", "https://acme.zendesk.com"


def with_evidence(ticket: SealedTicket) -> SealedTicket:
    return SealedTicket.restore(ticket.body.replace(b'"evidence":""', b'"evidence":"STC*A7*[REDACTED]"'))


def repeat_of(ticket: SealedTicket, new_id: str = "tkt_" + "d" * 32) -> SealedTicket:
    return SealedTicket.restore(ticket.body.replace(ticket.id.encode(), new_id.encode()))


def follower_of(ticket: SealedTicket) -> SealedTicket:
    """The same problem again after its ticket was resolved: a new ticket that follows the old."""
    data = json.loads(ticket.body)
    data["id"] = "tkt_" + "f" * 32
    data["lifecycle"] = Lifecycle(follows=ticket.id).model_dump(mode="json")
    return SealedTicket.restore(TicketPayload.model_validate(data).canonical_json())


class FakeJira:
    def __init__(self, mock: respx.Router) -> None:
        self.issues: dict[str, dict] = {}
        self.comments: dict[str, list] = {}
        self.attachments: dict[str, list] = {}
        ids = itertools.count(1)
        mock.get(f"{JIRA}/rest/api/3/search/jql").mock(side_effect=self.search)
        mock.post(f"{JIRA}/rest/api/3/issue").mock(side_effect=lambda r: self.create(r, f"RCM-{next(ids)}"))
        mock.get(path__regex=r"/rest/api/3/issue/RCM-\d+$").mock(side_effect=self.get)
        mock.put(path__regex=r"/rest/api/3/issue/RCM-\d+$").mock(side_effect=self.update)
        mock.post(path__regex=r"/rest/api/3/issue/RCM-\d+/comment").mock(side_effect=self.comment)
        mock.post(path__regex=r"/rest/api/3/issue/RCM-\d+/attachments").mock(side_effect=self.attach)

    def search(self, request):
        jql = request.url.params["jql"]
        label = jql.split('labels = "')[1].split('"')[0]
        hits = [{"id": "1", "key": k} for k, v in self.issues.items() if label in v["labels"]]
        if jql.endswith("ORDER BY created DESC"):
            hits.reverse()
        return httpx.Response(200, json={"issues": hits[:1], "isLast": True})

    def create(self, request, key):
        fields = json.loads(request.content)["fields"]
        assert fields["description"]["type"] == "doc" and fields["issuetype"] == {"name": "Task"}
        self.issues[key] = fields
        return httpx.Response(201, json={"id": "10001", "key": key, "self": f"{JIRA}/rest/api/3/issue/10001"})

    def get(self, request):
        key = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"key": key, "fields": {"labels": self.issues[key]["labels"]}})

    def update(self, request):
        key = request.url.path.rsplit("/", 1)[1]
        for op in json.loads(request.content)["update"]["labels"]:
            self.issues[key]["labels"].append(op["add"])
        return httpx.Response(204)

    def comment(self, request):
        key = request.url.path.split("/")[-2]
        self.comments.setdefault(key, []).append(json.loads(request.content)["body"])
        return httpx.Response(201, json={"id": "1"})

    def attach(self, request):
        assert request.headers["X-Atlassian-Token"] == "no-check"
        assert b'filename="evidence-' in request.content
        self.attachments.setdefault(request.url.path.split("/")[-2], []).append(request.content)
        return httpx.Response(200, json=[{"id": "1"}])


class FakeServiceNow:
    def __init__(self, mock: respx.Router) -> None:
        self.records: dict[str, dict] = {}
        self.notes: dict[str, list[str]] = {}
        self.attachments: list[str] = []
        ids = itertools.count(1)
        mock.get(f"{SNOW}/api/now/table/incident").mock(side_effect=self.search)
        mock.post(f"{SNOW}/api/now/table/incident").mock(
            side_effect=lambda r: self.create(r, f"{next(ids):032x}")
        )
        mock.get(path__regex=r"/api/now/table/incident/\w+$").mock(side_effect=self.get)
        mock.patch(path__regex=r"/api/now/table/incident/\w+$").mock(side_effect=self.patch)
        mock.get(f"{SNOW}/api/now/table/sys_journal_field").mock(side_effect=self.journal)
        mock.post(f"{SNOW}/api/now/attachment/file").mock(side_effect=self.attach)

    def search(self, request):
        # Like the Table API: without an ORDERBY the order is the table's (here: oldest first).
        query, newest_first = request.url.params["sysparm_query"], False
        if query.endswith("^ORDERBYDESCsys_created_on"):
            query, newest_first = query.removesuffix("^ORDERBYDESCsys_created_on"), True
        fp = query.removeprefix("correlation_id=")
        rows = [{"sys_id": k, "number": "INC1"} for k, v in self.records.items() if v["correlation_id"] == fp]
        return httpx.Response(200, json={"result": (rows[::-1] if newest_first else rows)[:1]})

    def create(self, request, sys_id):
        self.records[sys_id] = json.loads(request.content)
        return httpx.Response(201, json={"result": {"sys_id": sys_id, "number": "INC0010001"}})

    def get(self, request):
        sys_id = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"result": {"description": self.records[sys_id]["description"]}})

    def patch(self, request):
        sys_id = request.url.path.rsplit("/", 1)[1]
        self.notes.setdefault(sys_id, []).append(json.loads(request.content)["work_notes"])
        return httpx.Response(200, json={"result": {"sys_id": sys_id}})

    def journal(self, request):
        query = request.url.params["sysparm_query"]
        element, like = query.removeprefix("element_id=").split("^valueLIKE")
        hits = [n for n in self.notes.get(element, []) if like in n]
        return httpx.Response(200, json={"result": [{"sys_id": "j"}] if hits else []})

    def attach(self, request):
        self.attachments.append(request.url.params["file_name"])
        return httpx.Response(201, json={"result": {"sys_id": "a1"}})


class FakeZendesk:
    def __init__(self, mock: respx.Router) -> None:
        self.tickets: dict[str, dict] = {}
        self.comments: dict[str, list[str]] = {}
        self.uploads: list[str] = []
        ids = itertools.count(100)
        mock.get(f"{ZD}/api/v2/tickets.json").mock(side_effect=self.search)
        mock.post(f"{ZD}/api/v2/tickets.json").mock(side_effect=lambda r: self.create(r, str(next(ids))))
        mock.get(path__regex=r"/api/v2/tickets/\d+/comments.json").mock(side_effect=self.list_comments)
        mock.put(path__regex=r"/api/v2/tickets/\d+.json").mock(side_effect=self.update)
        mock.post(f"{ZD}/api/v2/uploads.json").mock(side_effect=self.upload)

    def search(self, request):
        fp = request.url.params["external_id"]
        hits = [{"id": int(k), "external_id": fp} for k, v in self.tickets.items() if v["external_id"] == fp]
        return httpx.Response(200, json={"tickets": hits, "count": len(hits)})

    def create(self, request, ticket_id):
        ticket = json.loads(request.content)["ticket"]
        self.tickets[ticket_id] = ticket
        self.comments[ticket_id] = [ticket["comment"]["body"]]
        return httpx.Response(201, json={"ticket": {"id": int(ticket_id)}})

    def list_comments(self, request):
        ticket_id = request.url.path.split("/")[-2]
        return httpx.Response(200, json={"comments": [{"body": b} for b in self.comments[ticket_id]]})

    def update(self, request):
        ticket_id = request.url.path.rsplit("/", 1)[1].removesuffix(".json")
        self.comments[ticket_id].append(json.loads(request.content)["ticket"]["comment"]["body"])
        return httpx.Response(200, json={"ticket": {"id": int(ticket_id)}})

    def upload(self, request):
        self.uploads.append(request.url.params["filename"])
        return httpx.Response(201, json={"upload": {"token": "tok-1"}})


def build(kind):
    fast = RateLimiter(RateLimit(0.0))
    if kind == "jira":
        return JiraSink(JIRA, "bot@acme.example", "tok", "RCM", min_write_interval=0.0)
    if kind == "servicenow":
        return ServiceNowSink(SNOW, "svc", "pw")
    return ZendeskSink(ZD, "bot@acme.example", "tok", update_limiter=fast)


FAKES = {"jira": FakeJira, "servicenow": FakeServiceNow, "zendesk": FakeZendesk}


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_create_once_comment_on_repeat_and_replays_write_nothing(kind, make_ticket):
    async def main():
        with respx.mock(assert_all_called=False) as mock:
            fake = FAKES[kind](mock)
            sink = build(kind)
            await sink.open()
            ticket = with_evidence(make_ticket())
            first = await sink.deliver(ticket, ticket.id)
            assert first.duplicate is False and first.remote_id
            fresh = build(kind)  # another process: no memory of the first delivery
            await fresh.open()
            assert await fresh.deliver(ticket, ticket.id) == type(first)(first.remote_id, True)
            repeat = repeat_of(ticket)
            second = await fresh.deliver(repeat, repeat.id)
            assert second.remote_id == first.remote_id and second.duplicate is False
            third = build(kind)
            await third.open()
            assert (await third.deliver(repeat, repeat.id)).duplicate is True
            for s in (sink, fresh, third):
                await s.aclose()
            return fake

    fake = asyncio.run(main())
    if kind == "jira":
        assert (
            len(fake.issues) == 1 and len(fake.comments["RCM-1"]) == 1 and len(fake.attachments["RCM-1"]) == 1
        )
    elif kind == "servicenow":
        assert len(fake.records) == 1 and sum(map(len, fake.notes.values())) == 1
        assert len(fake.attachments) == 1
    else:
        assert len(fake.tickets) == 1 and len(fake.comments["100"]) == 2 and len(fake.uploads) == 1


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_after_a_repeat_after_resolve_updates_and_replays_go_to_the_newer_ticket(kind, make_ticket):
    """Two remote tickets share a fingerprint once a problem came back after its ticket was
    resolved; the search must return the newer one, or a replay of the follower would create a
    third ticket and its updates would land on the resolved one."""

    async def main():
        with respx.mock(assert_all_called=False) as mock:
            fake = FAKES[kind](mock)
            sink = build(kind)
            await sink.open()
            old = make_ticket()
            first = await sink.deliver(old, old.id)
            follower = follower_of(old)
            second = await sink.deliver(follower, follower.id)
            assert second.remote_id != first.remote_id and second.duplicate is False
            replay = build(kind)  # a replay after a restart: no memory of the deliveries
            await replay.open()
            assert (await replay.deliver(follower, follower.id)).duplicate is True
            update = repeat_of(old, "tkt_" + "e" * 32)  # a later repeat: an update, no "follows"
            third = await replay.deliver(update, update.id)
            assert third.remote_id == second.remote_id and third.duplicate is False
            for s in (sink, replay):
                await s.aclose()
            return fake, first.remote_id, second.remote_id

    fake, old_id, new_id = asyncio.run(main())
    if kind == "jira":
        assert len(fake.issues) == 2 and fake.comments.get(old_id) is None and len(fake.comments[new_id]) == 1
    elif kind == "servicenow":
        assert len(fake.records) == 2 and old_id not in fake.notes and len(fake.notes[new_id]) == 1
    else:
        assert len(fake.tickets) == 2 and len(fake.comments[old_id]) == 1 and len(fake.comments[new_id]) == 2


@pytest.mark.parametrize("kind", sorted(FAKES))
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, TransientDeliveryError),
        (503, TransientDeliveryError),
        (410, SinkGone),
        (400, PermanentDeliveryError),
    ],
)
def test_statuses_map_to_delivery_errors(kind, status, error, make_ticket):
    base = {"jira": JIRA, "servicenow": SNOW, "zendesk": ZD}[kind]

    async def main():
        with respx.mock(assert_all_called=False) as mock:
            mock.route(url__startswith=base).mock(
                return_value=httpx.Response(status, headers={"Retry-After": "42"})
            )
            sink = build(kind)
            await sink.open()
            ticket = make_ticket()
            with pytest.raises(error) as info:
                await sink.deliver(ticket, ticket.id)
            assert info.value.status == status
            if status == 429:
                assert info.value.retry_after == 42
            await sink.aclose()

    asyncio.run(main())


def test_remote_urls_must_be_https():
    with pytest.raises(ValueError):
        JiraSink("http://acme.atlassian.net", "e", "t", "RCM")
    JiraSink("http://127.0.0.1:9/", "e", "t", "RCM")  # loopback may be plain http
