"""The pull API (GET /v1/tickets, POST /v1/tickets/ack) and the on-call spool API (/v1/spool/...):
scopes, cursors, leases, acks, replay without duplicates, audit, and no PHI in any answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings


@pytest.fixture
def pull_settings(settings: Settings) -> Settings:
    return get_settings(
        home=settings.home,
        delivery_poll_interval=0.05,
        sinks=[{"name": "pull", "kind": "pull"}, {"name": "file", "kind": "file"}],
        spool={"pull_lease_seconds": 300},
    )


@pytest.fixture
def pull_runtime(pull_settings: Settings) -> Runtime:
    return Runtime.build(pull_settings)


@pytest.fixture
def api(pull_settings: Settings, pull_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(pull_settings, pull_runtime), raise_server_exceptions=False) as client:
        yield client


def bearer(runtime: Runtime, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.issuer.mint('ops', list(scopes))}"}


def post_events(api: TestClient, runtime: Runtime, n: int) -> None:
    headers = bearer(runtime, "events:write")
    for i in range(n):
        r = api.post(
            "/v1/events", content=json.dumps(canary_event(f"ev-{i:04d}", distinct=True)), headers=headers
        )
        assert r.status_code == 202, r.text


def test_pull_pages_with_a_cursor_and_acks(api: TestClient, pull_runtime: Runtime) -> None:
    post_events(api, pull_runtime, 3)
    read = bearer(pull_runtime, "tickets:read")
    assert api.get("/v1/tickets").status_code == 401
    assert api.get("/v1/tickets", headers=bearer(pull_runtime, "events:write")).status_code == 403
    page = api.get("/v1/tickets", params={"limit": 2}, headers=read).json()
    assert len(page["tickets"]) == 2
    assert all(t["ticket"]["id"].startswith("tkt_") for t in page["tickets"])
    rest = api.get("/v1/tickets", params={"after": page["next_cursor"]}, headers=read).json()
    assert len(rest["tickets"]) == 1
    assert api.get("/v1/tickets", params={"after": "x"}, headers=read).status_code == 400
    ids = [t["entry_id"] for t in page["tickets"] + rest["tickets"]]
    assert api.post("/v1/tickets/ack", json={"entry_ids": ids}, headers=read).status_code == 403
    acked = api.post("/v1/tickets/ack", json={"entry_ids": ids}, headers=bearer(pull_runtime, "tickets:ack"))
    assert acked.json() == {"acknowledged": ids}
    assert api.get("/v1/tickets", headers=read).json()["tickets"] == []
    blob = json.dumps(page) + json.dumps(rest)
    assert find_canaries(blob) == []


def test_spool_api_lists_shows_and_replays_with_scopes_and_audit(
    api: TestClient, pull_runtime: Runtime
) -> None:
    post_events(api, pull_runtime, 2)
    reader, replayer = bearer(pull_runtime, "spool:read"), bearer(pull_runtime, "spool:replay")
    status = api.get("/v1/spool/status", headers=reader).json()
    assert status["sinks"]["pull"]["counts"]["pending"] == 2
    assert api.get("/v1/spool/status", headers=bearer(pull_runtime, "tickets:read")).status_code == 403
    entries = api.get("/v1/spool/entries", params={"sink": "pull"}, headers=reader).json()["entries"]
    assert len(entries) == 2
    shown = api.get(f"/v1/spool/entries/{entries[0]['entry_id']}", headers=reader).json()
    assert shown["ticket"]["id"] == entries[0]["ticket_id"]
    assert api.get("/v1/spool/entries/ent_" + "0" * 32, headers=reader).status_code == 404
    ids = [e["entry_id"] for e in entries]
    api.post("/v1/tickets/ack", json={"entry_ids": ids}, headers=bearer(pull_runtime, "tickets:ack"))
    body = {"entry_ids": ids, "dry_run": True}
    assert api.post("/v1/spool/replay", json=body, headers=reader).status_code == 403
    dry = api.post("/v1/spool/replay", json=body, headers=replayer).json()
    assert dry == {"dry_run": True, "selected": 2, "replayed": ids}
    done = api.post("/v1/spool/replay", json={"entry_ids": ids}, headers=replayer).json()
    assert done["replayed"] == ids
    again = api.get("/v1/tickets", headers=bearer(pull_runtime, "tickets:read")).json()["tickets"]
    assert sorted(t["entry_id"] for t in again) == sorted(ids)  # offered again, same ticket ids
    assert {t["ticket"]["id"] for t in again} == {e["ticket_id"] for e in entries}
    audited = pull_runtime.audit.records(event="spool.replayed")
    assert [r.details["entry_id"] for r in audited] == ids and audited[0].actor == "ops"
    blob = json.dumps(shown) + json.dumps(entries)
    assert find_canaries(blob) == []


SENSITIVE_RULES = """\
version: 1
groups:
  - name: route
    rules:
      - id: taxonomy.defaults
        then: {route_by_taxonomy: true}
      - id: financial-assistance
        when: {code_system: VENDOR, code: FA-APPLICATION}
        then: {tags: [financial-assistance]}
"""


def test_sensitive_tickets_need_tickets_sensitive(settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(SENSITIVE_RULES)
    configured = get_settings(
        home=settings.home, sinks=[{"name": "pull", "kind": "pull"}], rules={"path": str(rules)}
    )
    runtime = Runtime.build(configured)
    with TestClient(create_app(configured, runtime), raise_server_exceptions=False) as client:
        event = canary_event("fa-1", distinct=True)
        event["error"] = {"code": "FA-APPLICATION", "code_system": "VENDOR", "message": "charity care form"}
        assert (
            client.post("/v1/events", json=event, headers=bearer(runtime, "events:write")).status_code == 202
        )
        plain = client.get("/v1/tickets", headers=bearer(runtime, "tickets:read")).json()
        assert plain["tickets"] == [] and plain["withheld"] == 1
        entry_id = asyncio.run(runtime.spool.list_entries(sink="pull"))[0].entry_id
        shown = client.get(f"/v1/spool/entries/{entry_id}", headers=bearer(runtime, "spool:read")).json()
        assert shown["ticket"] is None and shown["withheld"] == "sensitive category"
        full = client.get(
            f"/v1/spool/entries/{entry_id}", headers=bearer(runtime, "spool:read", "tickets:sensitive")
        ).json()
        assert full["ticket"]["tags"] == ["financial-assistance"]
