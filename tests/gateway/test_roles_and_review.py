"""Role-based access: roles -> scopes and queues; sensitive tickets need tickets:sensitive; the
access review lists every principal and flags those unused for 90 days; GET /v1/audit filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.access_review import access_review
from gateway.auth.clients import ClientRegistry, secret_matches
from gateway.auth.roles import Role, may_see_ticket, parse_roles, scopes_for, visible_tickets
from gateway.auth.store import AuthStore
from gateway.auth.tokens import Principal
from gateway.cli import app
from gateway.runtime import Runtime


def _person(*roles: Role) -> Principal:
    return Principal("u1", "saml", scopes_for(roles), kind="person", roles=frozenset(r.value for r in roles))


def test_every_role_maps_to_known_scopes() -> None:
    assert scopes_for([Role.BILLING_SPECIALIST]) == {"tickets:read", "tickets:ack"}
    assert "tickets:sensitive" in scopes_for([Role.REVENUE_INTEGRITY])
    assert scopes_for([Role.SECURITY_AUDITOR]) >= {"audit:read"}
    assert parse_roles(["admin", "janitor"]) == {Role.ADMIN}


@pytest.mark.parametrize("category", ["patient_payment_plan", "financial_assistance", "charity_care"])
def test_sensitive_categories_need_tickets_sensitive(category: str) -> None:
    billing = _person(Role.BILLING_SPECIALIST)
    integrity = _person(Role.REVENUE_INTEGRITY)
    assert not may_see_ticket(billing, category=category, queue="denials")
    assert may_see_ticket(integrity, category=category, queue="denials")
    service = Principal("svc", "svc", frozenset({"tickets:read"}))
    assert not may_see_ticket(service, category=category)
    assert may_see_ticket(
        Principal("svc", "svc", frozenset({"tickets:read", "tickets:sensitive"})), category=category
    )


def test_sensitive_tag_counts_too() -> None:
    assert not may_see_ticket(_person(Role.BILLING_SPECIALIST), category="denial", tags=["charity_care"])


def test_queues_and_tiers_limit_people() -> None:
    billing = _person(Role.BILLING_SPECIALIST)
    assert may_see_ticket(billing, category="denial", queue="denials", tier=1)
    assert not may_see_ticket(billing, category="denial", queue="denials", tier=2)
    assert not may_see_ticket(billing, category="denial", queue="interface-errors")
    assert may_see_ticket(_person(Role.ADMIN), category="charity_care", queue="anything", tier=3)
    assert not may_see_ticket(_person(Role.SECURITY_AUDITOR), category="denial", queue="denials")


def test_visible_tickets_filters_a_list() -> None:
    tickets = [("denial", "denials"), ("financial_assistance", "financial-assistance")]
    kept = visible_tickets(_person(Role.BILLING_SPECIALIST), tickets, describe=lambda t: (t[0], [], t[1], 1))
    assert kept == [("denial", "denials")]


def test_client_registry_hashes_secrets(home: Path) -> None:
    registry = ClientRegistry(home / "auth" / "clients.json")
    secret = registry.add("billing-bot", roles=[Role.BILLING_SPECIALIST], scopes=["events:write"])
    stored = (home / "auth" / "clients.json").read_text()
    assert secret not in stored
    client = registry.get("billing-bot")
    assert client is not None and secret_matches(secret, client.secret_hash)
    assert not secret_matches("guess", client.secret_hash)
    assert client.allowed_scopes == {"events:write", "tickets:read", "tickets:ack"}


def test_access_review_flags_unused_for_90_days(home: Path) -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)
    moment = [now - timedelta(days=91)]
    store = AuthStore(home / "auth" / "auth.db", clock=lambda: moment[0])
    store.record_use("service", "old-bot", [], ["events:write"])
    moment[0] = now - timedelta(days=2)
    store.record_use("person", "pat@hospital.example", ["security_auditor"], ["audit:read", "spool:read"])
    registry = ClientRegistry(home / "auth" / "clients.json")
    registry.add("never-used", roles=[Role.ON_CALL], scopes=[])
    rows = {r.principal_id: r for r in access_review(store, registry, unused_after_days=90, now=now)}
    assert rows["old-bot"].unused and rows["never-used"].unused and rows["never-used"].last_used is None
    assert not rows["pat@hospital.example"].unused
    assert rows["pat@hospital.example"].roles == ("security_auditor",)
    store.close()


def test_access_review_command(home: Path) -> None:
    runner = CliRunner()
    env = {"RCMGW_HOME": str(home)}
    added = runner.invoke(app, ["client", "add", "ops-bot", "--role", "on_call"], env=env)
    assert added.exit_code == 0 and "client_secret=" in added.stdout
    result = runner.invoke(app, ["access-review", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0]["id"] == "ops-bot" and rows[0]["unused"] and rows[0]["roles"] == ["on_call"]
    table = runner.invoke(app, ["access-review"], env=env)
    assert "UNUSED" in table.stdout


def test_audit_api_filters_and_requires_audit_read(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    assert client.get("/v1/audit", headers=writer_headers).status_code == 403
    auditor = {"Authorization": f"Bearer {runtime.issuer.mint('auditor', ['audit:read'])}"}
    records = client.get("/v1/audit", headers=auditor).json()
    assert [r["event"] for r in records][:2] == ["config.loaded", "scope.denied"]
    denied = client.get("/v1/audit?outcome=denied&event=scope.denied", headers=auditor).json()
    assert [r["actor"] for r in denied] == ["writer"]
    page = client.get(f"/v1/audit?after_seq={records[0]['seq']}&limit=1", headers=auditor).json()
    assert [r["seq"] for r in page] == [records[1]["seq"]]
    assert client.get("/v1/audit?limit=5000", headers=auditor).status_code == 400
    future = client.get("/v1/audit?since=2999-01-01T00:00:00Z", headers=auditor).json()
    assert future == []
