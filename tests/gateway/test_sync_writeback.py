"""Write-back on resolve to Cerner's Revenue Cycle Events API (respx double): a remote resolve
spools a write-back entry for the target's own sink; its worker fetches a system-account token
(client credentials) and POSTs ``/v1/{tenant}/events`` with ids and codes only; retries go through
the spool; everything is audited."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from gatewayproc import wait_until
from httpfaults import FaultServer
from testkit import canary_event, find_canaries

from fallback.cerner_events_sink import CernerEventsSink
from fallback.errors import TransientDeliveryError
from gateway.app import create_app
from gateway.dataflow import build_dataflow
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings
from gateway.sync_service import sync_service_of
from normalizers.payload import (
    Lifecycle,
    LifecycleKind,
    RedactionReport,
    Routing,
    SourceFormat,
    SourceInfo,
    TicketPayload,
)
from normalizers.sealed import SealedTicket

CERNER = "https://cerner.example"
TOKEN_URL = "https://auth.cerner.example/tenants/t-1/oauth2/token"
HOOK_TOKEN = "hook-token"


@pytest.fixture
def writeback_settings(home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("T_CERNER_SECRET", "system-account-secret")
    monkeypatch.setenv("T_HOOK", HOOK_TOKEN)
    sync = {
        "enabled": True,
        "sinks": {"file": {"shape": "generic", "auth": {"type": "token", "secret": "env:T_HOOK"}}},
        "writeback": [
            {"name": "cerner-events", "kind": "cerner", "url": CERNER, "tenant": "t-1",
             "token_url": TOKEN_URL, "client_id": "rcmgw-system", "client_secret": "env:T_CERNER_SECRET",
             "on": ["resolved"]},
        ],
    }  # fmt: skip
    overrides: dict[str, object] = {"sync": sync, "delivery_poll_interval": 0.05}
    overrides["spool"] = {"schedule_seconds": [0.05]}
    return get_settings(home=home, **overrides)


class FakeCerner:
    def __init__(self, mock: respx.Router, *, fail_first: bool = False) -> None:
        self.events: list[dict[str, object]] = []
        self.requests: list[httpx.Request] = []
        self.tokens = 0
        self.fail_first = fail_first
        mock.post(TOKEN_URL).mock(side_effect=self.token)
        mock.post(f"{CERNER}/v1/t-1/events").mock(side_effect=self.event)

    def token(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        assert b"grant_type=client_credentials" in request.content
        self.tokens += 1
        return httpx.Response(200, json={"access_token": f"sys-{self.tokens}", "expires_in": 570})

    def event(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_first and len(self.requests) == 1:
            return httpx.Response(503)
        assert request.headers["authorization"].startswith("Bearer sys-")
        self.events.append(json.loads(request.content))
        return httpx.Response(201, json={"id": f"evt-{len(self.events)}"})


def test_remote_resolve_is_written_back_to_cerner_through_the_spool(writeback_settings: Settings) -> None:
    runtime = Runtime.build(writeback_settings)
    with respx.mock(assert_all_called=False) as mock:
        cerner = FakeCerner(mock, fail_first=True)
        with TestClient(create_app(writeback_settings, runtime)) as client:
            headers = {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
            r = client.post("/v1/events", json=canary_event("wb-1", distinct=True), headers=headers)
            assert r.status_code == 202
            ticket_id, fingerprint = r.json()["ticket_id"], r.json()["fingerprint"]
            service = sync_service_of(runtime)
            assert service is not None
            facts: dict[str, object] = {"category": "eligibility.denied", "taxonomy_version": "1",
                                        "payer": "87726", "tier": 2, "codes": [["CARC", "16"]]}  # fmt: skip
            asyncio.run(
                service.links.record_delivery(
                    "file",
                    ticket_id,
                    fingerprint=fingerprint,
                    remote_id="F-1",
                    at=datetime.now(UTC),
                    facts=facts,
                )
            )
            r = client.post(
                "/v1/sinks/file/callback",
                json={"remote_id": "F-1", "status": "resolved"},
                headers={"Authorization": f"Bearer {HOOK_TOKEN}", "X-Rcmgw-Timestamp": str(int(time.time()))},
            )
            assert r.status_code == 202, r.text
            wait_until(lambda: len(cerner.events) == 1, 30, "the write-back event")
            wait_until(
                lambda: bool(runtime.audit.records(event="delivery.delivered", limit=50))
                and any(x.details.get("sink") == "cerner-events"
                        for x in runtime.audit.records(event="delivery.delivered")),
                30,
                "the write-back delivery audit",
            )  # fmt: skip
            spooled = runtime.audit.records(event="writeback.spooled")
            retried = [
                x
                for x in runtime.audit.records(event="delivery.retried")
                if x.details["sink"] == "cerner-events"
            ]
    event = cerner.events[0]
    assert event["ticketId"] == ticket_id and event["status"] == "resolved"
    assert event["eventType"] == "rcm-gateway.ticket.resolved"
    assert event["ticketingSystem"] == "file" and event["remoteTicketId"] == "F-1"
    assert event["codes"] == [{"system": "CARC", "code": "16"}] and event["payerId"] == "87726"
    assert set(event) == {"eventId", "eventType", "occurredAt", "ticketId", "status", "ticketingSystem",
                          "remoteTicketId", "category", "codes", "payerId", "tier"}  # fmt: skip
    assert all(find_canaries(request.content) == [] for request in cerner.requests)
    assert cerner.requests[0].headers["idempotency-key"] == cerner.requests[1].headers["idempotency-key"]
    assert len(retried) == 1  # the 503 went back to the spool and was retried
    assert (
        spooled
        and spooled[0].details["ticket_id"] == ticket_id
        and spooled[0].details["target"] == "cerner-events"
    )


def _sink(**kwargs: object) -> CernerEventsSink:
    return CernerEventsSink(CERNER, "t-1", TOKEN_URL, "rcmgw-system", "s3cret", **kwargs)  # type: ignore[arg-type]


def test_token_is_cached_and_fetched_again_once_on_401() -> None:
    payload = TicketPayload(
        id="tkt_" + "a" * 32, fingerprint="fp_" + "b" * 32,
        source=SourceInfo(system="rcm-gateway", format=SourceFormat.JSON_EVENT,
                          control_ids={"ticket_id": "tkt_" + "c" * 32, "sink": "jira", "remote_id": "RCM-1",
                                       "status": "resolved"}),
        received_at=datetime.now(UTC), category="eligibility.denied", taxonomy_version="1",
        routing=Routing(queue="billing", rule_id="r"), summary="Ticket resolved in jira",
        redaction=RedactionReport(policy_version="p", key_id="k"),
        lifecycle=Lifecycle(kind=LifecycleKind.RESOLVE, of="tkt_" + "c" * 32),
    )  # fmt: skip
    ticket = SealedTicket.restore(payload.canonical_json())

    async def main() -> None:
        with respx.mock() as mock:
            tokens = iter(["old", "new", "newer"])
            mock.post(TOKEN_URL).mock(
                side_effect=lambda r: httpx.Response(200, json={"access_token": next(tokens)})
            )
            answers = iter([httpx.Response(201, json={"id": "e1"}), httpx.Response(401), httpx.Response(201),
                            httpx.Response(409), httpx.Response(503)])  # fmt: skip
            route = mock.post(f"{CERNER}/v1/t-1/events").mock(side_effect=lambda r: next(answers))
            sink = _sink()
            await sink.open()
            first = await sink.deliver(ticket, "k1")
            assert first.remote_id == "e1" and sink.token_fetches == 1
            second = await sink.deliver(ticket, "k2")  # 401 with the cached token: one new token, one retry
            assert not second.duplicate and sink.token_fetches == 2
            assert route.calls[1].request.headers["authorization"] == "Bearer old"
            assert route.calls[2].request.headers["authorization"] == "Bearer new"
            assert (await sink.deliver(ticket, "k3")).duplicate is True  # 409: already accepted
            with pytest.raises(TransientDeliveryError):
                await sink.deliver(ticket, "k4")
            body = json.loads(route.calls[0].request.content)
            assert body["ticketId"] == "tkt_" + "c" * 32 and "Ticket resolved" not in json.dumps(body)
            await sink.aclose()

    asyncio.run(main())


def test_the_dataflow_shows_ticket_links_and_the_write_back_target(writeback_settings: Settings) -> None:
    flow = build_dataflow(Runtime.build(writeback_settings))
    ids = {node.id for node in flow.nodes}
    assert {"ticket_links", "ticket_status", "writeback_cerner_events"} <= ids
    assert all(edge.source in ids and edge.target in ids for edge in flow.edges)


def test_acknowledge_is_written_back_only_to_targets_that_ask_for_it(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_HOOK", HOOK_TOKEN)
    monkeypatch.setenv("T_WB_SECRET", "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LTMyLWJ5dGVzLWxvbmch")
    monkeypatch.setenv("T_CERNER_SECRET", "system-account-secret")
    receiver = FaultServer()  # a real loopback receiver: the webhook sink speaks HTTP/1.1 itself
    sync = {
        "enabled": True,
        "sinks": {"file": {"shape": "generic", "auth": {"type": "token", "secret": "env:T_HOOK"}}},
        "writeback": [
            {"name": "rcm-hook", "kind": "webhook", "url": receiver.url,
             "secrets": ["env:T_WB_SECRET"], "on": ["acknowledged", "resolved"]},
            {"name": "cerner-events", "kind": "cerner", "url": CERNER, "tenant": "t-1",
             "token_url": TOKEN_URL, "client_id": "rcmgw-system", "client_secret": "env:T_CERNER_SECRET"},
        ],
    }  # fmt: skip
    config = get_settings(home=home, sync=sync, delivery_poll_interval=0.05)
    runtime = Runtime.build(config)
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        cerner = FakeCerner(mock)
        with TestClient(create_app(config, runtime)) as client:
            headers = {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
            r = client.post("/v1/events", json=canary_event("wb-ack", distinct=True), headers=headers)
            ticket_id, fingerprint = r.json()["ticket_id"], r.json()["fingerprint"]
            service = sync_service_of(runtime)
            assert service is not None
            asyncio.run(
                service.links.record_delivery(
                    "file",
                    ticket_id,
                    fingerprint=fingerprint,
                    remote_id="F-2",
                    at=datetime.now(UTC),
                    facts={},
                )
            )
            r = client.post(
                "/v1/sinks/file/callback",
                json={"remote_id": "F-2", "status": "acknowledged"},
                headers={"Authorization": f"Bearer {HOOK_TOKEN}", "X-Rcmgw-Timestamp": str(int(time.time()))},
            )
            assert r.status_code == 202, r.text
            wait_until(lambda: len(receiver.requests) == 1, 30, "the acknowledged write-back webhook")
    receiver.stop()
    request = receiver.requests[0]
    assert request.headers["webhook-signature"].startswith("v1,")
    body = json.loads(request.body)
    assert body["lifecycle"]["of"] == ticket_id and body["source"]["control_ids"]["status"] == "acknowledged"
    assert find_canaries(request.body) == []
    assert cerner.events == []  # cerner asked for resolves only
