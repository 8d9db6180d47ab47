"""``POST /v1/sinks/{name}/callback``: the Jira issue_updated, ServiceNow business-rule and Zendesk
webhook shapes move the ticket link and the lifecycle; forged, stale and replayed callbacks are
rejected with problem+json and audited; nothing of the callback reaches logs or the audit but ids."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries

from gateway.app import create_app
from gateway.lifecycle_store import SqliteLifecycleStore
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings
from gateway.sync_service import SyncService, sync_service_of
from gateway.ticket_links import TicketLink
from normalizers.lifecycle import TicketState

JIRA_SECRET = "jira-hook-secret"
SN_TOKEN = "servicenow-callback-token"
ZD_SECRET = "zendesk-signing-secret"


@pytest.fixture
def sync_settings(home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "T_JIRA_KEY": "k1", "T_SN_KEY": "k2", "T_ZD_KEY": "k3", "T_JIRA_HOOK": JIRA_SECRET,
        "T_SN_HOOK": SN_TOKEN, "T_ZD_HOOK": ZD_SECRET,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    sinks = [
        {"name": "jira", "kind": "jira", "url": "https://jira.example", "api_key": "env:T_JIRA_KEY",
         "project": "RCM", "options": {"user": "gw@example.org"}},
        {"name": "servicenow", "kind": "servicenow", "url": "https://sn.example", "api_key": "env:T_SN_KEY",
         "options": {"user": "gw"}},
        {"name": "zendesk", "kind": "zendesk", "url": "https://zd.example", "api_key": "env:T_ZD_KEY",
         "options": {"email": "gw@example.org"}},
    ]  # fmt: skip
    sync = {
        "enabled": True,
        "sinks": {
            "jira": {"auth": {"type": "hmac", "secret": "env:T_JIRA_HOOK"}},
            "servicenow": {"auth": {"type": "token", "secret": "env:T_SN_HOOK"}},
            "zendesk": {
                "auth": {
                    "type": "hmac", "secret": "env:T_ZD_HOOK", "encoding": "base64",
                    "signature_header": "X-Zendesk-Webhook-Signature",
                    "timestamp_header": "X-Zendesk-Webhook-Signature-Timestamp",
                }
            },
        },
    }  # fmt: skip
    return get_settings(home=home, delivery_enabled=False, sinks=sinks, sync=sync)


@pytest.fixture
def gateway(sync_settings: Settings) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = Runtime.build(sync_settings)
    with TestClient(create_app(sync_settings, runtime), raise_server_exceptions=False) as client:
        yield client, runtime


def _service(runtime: Runtime) -> SyncService:
    service = sync_service_of(runtime)
    assert service is not None
    return service


def _open_ticket(client: TestClient, runtime: Runtime, sink: str, remote_id: str) -> tuple[str, str]:
    """Ingest one canary event and record its delivery to ``sink`` as ``remote_id``."""
    headers = {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
    r = client.post("/v1/events", json=canary_event(f"cb-{sink}-{remote_id}", distinct=True), headers=headers)
    assert r.status_code == 202, r.text
    ticket_id, fingerprint = r.json()["ticket_id"], r.json()["fingerprint"]
    links = _service(runtime).links
    facts: dict[str, object] = {"category": "eligibility.denied", "payer": "87726", "tier": 2, "codes": []}
    asyncio.run(
        links.record_delivery(
            sink, ticket_id, fingerprint=fingerprint, remote_id=remote_id, at=datetime.now(UTC), facts=facts
        )
    )
    return ticket_id, fingerprint


def _link(runtime: Runtime, sink: str, ticket_id: str) -> TicketLink:
    link = asyncio.run(_service(runtime).links.by_ticket(sink, ticket_id))
    assert link is not None
    return link


def _lifecycle(settings: Settings, fingerprint: str) -> TicketState | None:
    async def read() -> TicketState | None:
        store = SqliteLifecycleStore(settings.spool_file)
        try:
            state = await store.get(fingerprint)
            return None if state is None else state.state
        finally:
            await store.aclose()

    return asyncio.run(read())


def _jira_headers(body: bytes, *, secret: str = JIRA_SECRET, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    signature = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Rcmgw-Timestamp": stamp,
        "X-Rcmgw-Signature": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def _zendesk_headers(body: bytes) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(ZD_SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest())
    return {
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Signature": signature.decode(),
        "Content-Type": "application/json",
    }


def _jira_body(key: str, name: str, category: str) -> bytes:
    return json.dumps({
        "timestamp": int(time.time() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "issue": {"id": "10001", "key": key, "fields": {
            "summary": "Claim denied", "status": {"name": name, "statusCategory": {"key": category}}}},
        "changelog": {"items": [{"field": "status", "fromString": "To Do", "toString": name}]},
    }).encode()  # fmt: skip


def test_jira_issue_updated_resolves_the_ticket_and_its_lifecycle(
    gateway: tuple[TestClient, Runtime], sync_settings: Settings
) -> None:
    client, runtime = gateway
    ticket_id, fingerprint = _open_ticket(client, runtime, "jira", "RCM-7")
    body = _jira_body("RCM-7", "In Progress", "indeterminate")
    r = client.post("/v1/sinks/jira/callback", content=body, headers=_jira_headers(body))
    assert r.status_code == 202, r.text
    assert r.json()["results"] == [{"remote_id": "RCM-7", "outcome": "changed"}]
    assert _link(runtime, "jira", ticket_id).state == "acknowledged"
    assert _link(runtime, "jira", ticket_id).acknowledged_at is not None

    body = _jira_body("RCM-7", "Done", "done")
    r = client.post("/v1/sinks/jira/callback", content=body, headers=_jira_headers(body))
    assert r.status_code == 202, r.text
    link = _link(runtime, "jira", ticket_id)
    assert link.state == "resolved" and link.resolved_at is not None
    assert _lifecycle(sync_settings, fingerprint) is TicketState.RESOLVED
    changes = [c.details for c in runtime.audit.records(event="sync.status_changed")]
    assert [(c["from_state"], c["to_state"]) for c in changes] == [
        ("open", "acknowledged"),
        ("acknowledged", "resolved"),
    ]
    assert changes[-1]["lifecycle"] == "resolved" and changes[-1]["via"] == "callback"
    metrics = runtime.metrics.exposition().decode()
    assert (
        'rcmgw_ticket_time_to_resolve_seconds_count{category="eligibility.denied",payer="87726",tier="2"} 1.0'
        in metrics
    )
    assert "rcmgw_ticket_time_to_acknowledge_seconds_count" in metrics


def test_servicenow_business_rule_message_with_the_sink_token(gateway: tuple[TestClient, Runtime]) -> None:
    client, runtime = gateway
    ticket_id, _ = _open_ticket(client, runtime, "servicenow", "46d44a2edb0f4c50a1b0c2d3e4f5a6b7")
    for state, expected in (("2", "acknowledged"), ("6", "resolved")):
        body = json.dumps(
            {"sys_id": "46d44a2edb0f4c50a1b0c2d3e4f5a6b7", "number": "INC0010001", "state": state}
        )
        r = client.post(
            "/v1/sinks/servicenow/callback",
            content=body,
            headers={"Authorization": f"Bearer {SN_TOKEN}", "X-Rcmgw-Timestamp": str(int(time.time()))},
        )
        assert r.status_code == 202, r.text
        assert _link(runtime, "servicenow", ticket_id).state == expected


def test_zendesk_webhook_solved_then_reopened(
    gateway: tuple[TestClient, Runtime], sync_settings: Settings
) -> None:
    client, runtime = gateway
    ticket_id, fingerprint = _open_ticket(client, runtime, "zendesk", "4711")
    body = json.dumps({"ticket": {"id": 4711, "status": "solved"}}).encode()
    r = client.post("/v1/sinks/zendesk/callback", content=body, headers=_zendesk_headers(body))
    assert r.status_code == 202, r.text
    assert _lifecycle(sync_settings, fingerprint) is TicketState.RESOLVED
    body = json.dumps({"ticket": {"id": 4711, "status": "open"}}).encode()
    r = client.post("/v1/sinks/zendesk/callback", content=body, headers=_zendesk_headers(body))
    assert r.status_code == 202, r.text
    assert _link(runtime, "zendesk", ticket_id).state == "reopened"
    assert _link(runtime, "zendesk", ticket_id).resolved_at is None
    assert _lifecycle(sync_settings, fingerprint) is TicketState.OPEN


def _rejections(runtime: Runtime) -> list[str]:
    return [str(r.details["reason"]) for r in runtime.audit.records(event="sync.callback_rejected")]


def test_forged_signature_is_rejected_and_audited(gateway: tuple[TestClient, Runtime]) -> None:
    client, runtime = gateway
    ticket_id, _ = _open_ticket(client, runtime, "jira", "RCM-9")
    body = _jira_body("RCM-9", "Done", "done")
    r = client.post("/v1/sinks/jira/callback", content=body, headers=_jira_headers(body, secret="guessed"))
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "auth.callback"
    tampered = body.replace(b"RCM-9", b"RCM-8")
    r = client.post("/v1/sinks/jira/callback", content=tampered, headers=_jira_headers(body))
    assert r.status_code == 401
    wrong = {"Authorization": "Bearer nope", "X-Rcmgw-Timestamp": str(int(time.time()))}
    r = client.post("/v1/sinks/servicenow/callback", content=b"{}", headers=wrong)
    assert r.status_code == 401
    assert _rejections(runtime) == ["bad_signature", "bad_signature", "bad_token"]
    assert _link(runtime, "jira", ticket_id).state == "open"


def test_replayed_and_stale_callbacks_are_rejected_and_audited(gateway: tuple[TestClient, Runtime]) -> None:
    client, runtime = gateway
    ticket_id, _ = _open_ticket(client, runtime, "jira", "RCM-11")
    body = _jira_body("RCM-11", "Done", "done")
    headers = _jira_headers(body)
    assert client.post("/v1/sinks/jira/callback", content=body, headers=headers).status_code == 202
    replay = client.post("/v1/sinks/jira/callback", content=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["code"] == "auth.callback_replayed"
    old = str(int(time.time()) - 3600)  # a captured callback, correctly signed, an hour old
    reopen = _jira_body("RCM-11", "To Do", "new")
    stale = client.post("/v1/sinks/jira/callback", content=reopen, headers=_jira_headers(reopen, stamp=old))
    assert stale.status_code == 401
    assert _rejections(runtime) == ["replayed", "stale"]
    assert _link(runtime, "jira", ticket_id).state == "resolved"  # the replay moved nothing back


def test_a_sink_without_callback_auth_accepts_nothing(gateway: tuple[TestClient, Runtime]) -> None:
    client, runtime = gateway
    body = b'{"remote_id": "1", "status": "resolved"}'
    r = client.post("/v1/sinks/file/callback", content=body, headers=_jira_headers(body))
    assert r.status_code == 401
    assert _rejections(runtime) == ["not_configured"]


def test_authentic_non_json_is_quarantined_and_callbacks_carry_no_phi(
    gateway: tuple[TestClient, Runtime], sync_settings: Settings
) -> None:
    client, runtime = gateway
    body = b"not json at all"
    r = client.post("/v1/sinks/jira/callback", content=body, headers=_jira_headers(body))
    assert r.status_code == 400 and r.json().get("quarantine_id")
    _open_ticket(client, runtime, "jira", "RCM-12")
    body = _jira_body("RCM-12", "Done", "done").replace(
        b"Claim denied", b"Claim PCN-7731-0099 for Zebediah Quixote"
    )
    r = client.post("/v1/sinks/jira/callback", content=body, headers=_jira_headers(body))
    assert r.status_code == 202
    dump = json.dumps([[r.event, r.actor, r.details] for r in runtime.audit.records()])
    assert find_canaries(dump) == [] and find_canaries(r.text) == []
