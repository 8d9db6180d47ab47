"""Two-way sync against a REAL Redmine (the one of the delivery tests): the gateway delivers a
ticket, a person resolves the issue in Redmine, the poller moves the gateway's lifecycle to
resolved, and a repeat of the error opens a NEW Redmine issue that names and relates to the old one."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from gatewayproc import wait_until
from redmineserver import RedmineServer, redmine  # noqa: F401 - the session's Redmine
from testkit import canary_event, find_canaries

from gateway.app import create_app
from gateway.lifecycle_store import SqliteLifecycleStore
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings
from normalizers.lifecycle import TicketState

pytestmark = pytest.mark.slow


def _issues(server: RedmineServer, fingerprint: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{server.url}/issues.json",
        params={
            "project_id": server.project,
            f"cf_{server.custom_field_id}": fingerprint,
            "status_id": "*",
            "sort": "id",
        },
        headers={"X-Redmine-API-Key": server.api_key},
        timeout=30,
    )
    response.raise_for_status()
    found: list[dict[str, object]] = response.json()["issues"]
    return found


def _issue(server: RedmineServer, issue_id: object) -> dict[str, object]:
    response = httpx.get(
        f"{server.url}/issues/{issue_id}.json",
        params={"include": "relations"},
        headers={"X-Redmine-API-Key": server.api_key},
        timeout=30,
    )
    response.raise_for_status()
    issue: dict[str, object] = response.json()["issue"]
    return issue


def _resolve_in_redmine(server: RedmineServer, issue_id: object) -> None:
    headers = {"X-Redmine-API-Key": server.api_key}
    statuses = httpx.get(f"{server.url}/issue_statuses.json", headers=headers, timeout=30).json()
    resolved = next(s["id"] for s in statuses["issue_statuses"] if s["name"] == "Resolved")
    response = httpx.put(
        f"{server.url}/issues/{issue_id}.json",
        json={"issue": {"status_id": resolved, "notes": "fixed the payer enrollment"}},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 204, response.text


def _lifecycle_state(settings: Settings, fingerprint: str) -> TicketState | None:
    async def read() -> TicketState | None:
        store = SqliteLifecycleStore(settings.spool_file)
        try:
            state = await store.get(fingerprint)
            return None if state is None else state.state
        finally:
            await store.aclose()

    return asyncio.run(read())


@pytest.fixture
def sync_settings(home: Path, settings: Settings, redmine: RedmineServer) -> Settings:  # noqa: F811
    key_file = home.parent / "redmine.key"
    key_file.write_text(redmine.api_key)
    sink = {
        "name": "redmine",
        "kind": "redmine",
        "url": redmine.url,
        "api_key": f"file:{key_file}",
        "project": redmine.project,
        "external_id_field": redmine.custom_field_id,
    }
    return get_settings(
        home=home,
        delivery_poll_interval=0.05,
        sinks=[sink],
        sync={"enabled": True, "sinks": {"redmine": {"poll_seconds": 0.3}}},
    )


def test_resolve_in_redmine_then_repeat_opens_a_linked_new_issue(
    sync_settings: Settings,
    redmine: RedmineServer,  # noqa: F811
) -> None:
    runtime = Runtime.build(sync_settings)
    headers = {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
    first = canary_event(f"sync-{random.randrange(1 << 40):x}", distinct=True)
    repeat = {**first, "event_id": f"{first['event_id']}-again"}  # same problem, another input
    with TestClient(create_app(sync_settings, runtime)) as client:
        r = client.post("/v1/events", json=first, headers=headers)
        assert r.status_code == 202, r.text
        old_ticket, fingerprint = r.json()["ticket_id"], r.json()["fingerprint"]
        wait_until(lambda: len(_issues(redmine, fingerprint)) == 1, 60, "the first Redmine issue")
        old_issue = _issues(redmine, fingerprint)[0]["id"]

        _resolve_in_redmine(redmine, old_issue)
        wait_until(
            lambda: _lifecycle_state(sync_settings, fingerprint) is TicketState.RESOLVED,
            60,
            "the poller to resolve the lifecycle",
        )

        r = client.post("/v1/events", json=repeat, headers=headers)
        assert r.status_code == 202, r.text
        new_ticket = r.json()["ticket_id"]
        assert new_ticket != old_ticket and r.json()["fingerprint"] == fingerprint
        wait_until(lambda: len(_issues(redmine, fingerprint)) == 2, 60, "a second Redmine issue")
        assert _lifecycle_state(sync_settings, fingerprint) is TicketState.OPEN
        changes = runtime.audit.records(event="sync.status_changed")
        moved = [c for c in changes if c.details.get("ticket_id") == old_ticket]
        assert moved and moved[0].details["to_state"] == "resolved" and moved[0].details["via"] == "poll"
        assert moved[0].details["lifecycle"] == "resolved"
        assert moved[0].details["remote_id"] == str(old_issue)

    new_issue = _issues(redmine, fingerprint)[-1]
    assert new_issue["id"] != old_issue
    detail = _issue(redmine, new_issue["id"])
    description = str(detail["description"])
    assert new_ticket in description
    assert f"follows rcm-gateway ticket: {old_ticket}" in description
    assert f"#{old_issue}" in description
    relations = detail.get("relations") or []
    assert any({r["issue_id"], r["issue_to_id"]} == {old_issue, new_issue["id"]} for r in relations)  # type: ignore[index]
    assert find_canaries(json.dumps(detail)) == []
