"""The embedded dev issuer's token endpoint (``POST /oauth/token``, authlib client-credentials
grant): secrets by Basic or form, scopes limited to the client's, OAuth error responses, audit
records without secrets or tokens, and the endpoint (and dev tokens) gone with an external issuer."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gatewayproc import RCMGW, start_gateway
from testkit import REPO, canary_event

from gateway.app import create_app
from gateway.auth.clients import ClientRegistry
from gateway.auth.roles import Role
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings

TOKEN = "/oauth/token"
CLIENT_CC = {"grant_type": "client_credentials"}


@pytest.fixture
def gateway(settings: Settings) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = Runtime.build(settings.model_copy(update={"delivery_enabled": False}))
    with TestClient(
        create_app(runtime.settings, runtime), base_url="https://testserver", raise_server_exceptions=False
    ) as client:
        yield client, runtime


@pytest.fixture
def writer(settings: Settings) -> tuple[str, str]:
    registry = ClientRegistry(settings.home / "auth" / "clients.json")
    return "svc-writer", registry.add("svc-writer", roles=[], scopes=["events:write", "tickets:read"])


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_basic_grant_issues_a_token_the_gateway_accepts(
    gateway: tuple[TestClient, Runtime], writer: tuple[str, str]
) -> None:
    client, runtime = gateway
    reply = client.post(TOKEN, data={**CLIENT_CC, "scope": "events:write"}, headers=_basic(*writer))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "events:write"
    assert body["expires_in"] == runtime.settings.dev_token_ttl_seconds
    assert "no-store" in reply.headers["cache-control"]
    token = body["access_token"]
    principal = runtime.validator.validate(token)
    assert principal.client_id == "svc-writer" and principal.scopes == {"events:write"}
    events = client.post("/v1/events", json=canary_event(), headers={"Authorization": f"Bearer {token}"})
    assert events.status_code == 202
    issued = runtime.audit.records(event="token.issued")
    assert [(r.actor, r.details["scope"], r.details["token_id"]) for r in issued] == [
        ("svc-writer", "events:write", principal.token_id)
    ]
    stored = (runtime.settings.home / "audit" / "audit.db").read_bytes()
    assert token.encode() not in stored and writer[1].encode() not in stored


def test_post_grant_without_scope_gets_all_the_clients_scopes(
    gateway: tuple[TestClient, Runtime], writer: tuple[str, str]
) -> None:
    client, runtime = gateway
    client_id, secret = writer
    reply = client.post(TOKEN, data={**CLIENT_CC, "client_id": client_id, "client_secret": secret})
    assert reply.status_code == 200, reply.text
    assert runtime.validator.validate(reply.json()["access_token"]).scopes == {"events:write", "tickets:read"}


def test_roles_grant_their_scopes(gateway: tuple[TestClient, Runtime], settings: Settings) -> None:
    client, _ = gateway
    secret = ClientRegistry(settings.home / "auth" / "clients.json").add(
        "auditor-bot", roles=[Role.SECURITY_AUDITOR], scopes=[]
    )
    reply = client.post(
        TOKEN, data={**CLIENT_CC, "scope": "audit:read"}, headers=_basic("auditor-bot", secret)
    )
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    assert client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("who", ["wrong-secret", "unknown-client"])
def test_bad_client_credentials_are_invalid_client_401(
    gateway: tuple[TestClient, Runtime], writer: tuple[str, str], who: str
) -> None:
    client, runtime = gateway
    client_id, secret = writer
    creds = (client_id, secret + "x") if who == "wrong-secret" else ("svc-nobody", secret)
    for reply in (
        client.post(TOKEN, data=CLIENT_CC, headers=_basic(*creds)),
        client.post(TOKEN, data={**CLIENT_CC, "client_id": creds[0], "client_secret": creds[1]}),
    ):
        assert reply.status_code == 401
        assert reply.json()["error"] == "invalid_client"
        assert reply.headers["www-authenticate"].startswith("Basic ")
        assert "access_token" not in reply.json()
    refused = runtime.audit.records(event="token.refused")
    assert [(r.actor, r.outcome, r.details["reason"], r.details["claimed_client"]) for r in refused] == [
        ("anonymous", "denied", "invalid_client", creds[0])
    ] * 2
    assert creds[1].encode() not in (runtime.settings.home / "audit" / "audit.db").read_bytes()


def test_no_credentials_is_invalid_client(gateway: tuple[TestClient, Runtime]) -> None:
    client, _ = gateway
    reply = client.post(TOKEN, data=CLIENT_CC)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"


def test_scope_escalation_is_invalid_scope(
    gateway: tuple[TestClient, Runtime], writer: tuple[str, str]
) -> None:
    client, runtime = gateway
    reply = client.post(TOKEN, data={**CLIENT_CC, "scope": "events:write admin"}, headers=_basic(*writer))
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_scope"
    assert "access_token" not in reply.json()
    refused = runtime.audit.records(event="token.refused")
    assert [(r.actor, r.details["reason"]) for r in refused] == [("svc-writer", "invalid_scope")]
    assert runtime.audit.records(event="token.issued") == []


def test_other_grant_types_are_unsupported(
    gateway: tuple[TestClient, Runtime], writer: tuple[str, str]
) -> None:
    client, _ = gateway
    reply = client.post(
        TOKEN, data={"grant_type": "password", "username": "u", "password": "p"}, headers=_basic(*writer)
    )
    assert reply.status_code == 400 and reply.json()["error"] == "unsupported_grant_type"


def test_secrets_in_the_clear_off_loopback_are_refused(settings: Settings, writer: tuple[str, str]) -> None:
    runtime = Runtime.build(settings.model_copy(update={"delivery_enabled": False}))
    with TestClient(create_app(runtime.settings, runtime), base_url="http://gateway.example") as client:
        reply = client.post(TOKEN, data=CLIENT_CC, headers=_basic(*writer))
    assert reply.status_code == 400 and reply.json()["error"] == "insecure_transport"


@pytest.fixture
def external(settings: Settings, home: Path) -> Settings:
    # Nothing listens there: the metadata is fetched only when a token arrives.
    return get_settings(home=home, delivery_enabled=False, auth={"issuer_url": "http://127.0.0.1:9/issuer"})


def test_external_issuer_removes_the_endpoint(external: Settings, writer: tuple[str, str]) -> None:
    runtime = Runtime.build(external)
    with TestClient(create_app(external, runtime), base_url="https://testserver") as client:
        reply = client.post(TOKEN, data=CLIENT_CC, headers=_basic(*writer))
    assert reply.status_code == 404
    assert "access_token" not in reply.text


def test_external_issuer_makes_rcmgw_token_refuse(home: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    environ.update({"RCMGW_HOME": str(home), "RCMGW_AUTH__ISSUER_URL": "https://idp.example"})
    result = subprocess.run(
        [str(RCMGW), "token", "--client", "x", "--scope", "events:write"],
        capture_output=True,
        env=environ,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == b""
    assert b"external issuer is configured" in result.stderr


def test_external_issuer_serve_banner_has_no_dev_token(home: Path) -> None:
    gateway = start_gateway(home, RCMGW_AUTH__ISSUER_URL="https://idp.example")
    try:
        assert not any("Bearer" in line for line in gateway.banner)
        assert gateway.base_url.startswith("http://")
    finally:
        out, err = gateway.stop()
    assert b"external issuer https://idp.example configured: no dev token minted" in err
    assert b"Bearer" not in out
