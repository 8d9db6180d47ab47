"""The resource server against a real authorization server (oidc-provider from npm): discovery,
JWKS, client-credentials JWT access tokens, key rotation, introspection of opaque tokens, and the
dev issuer switched off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from peers.oidc_provider import OidcPeer, oidc_provider
from testkit import canary_event

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def peer() -> Iterator[OidcPeer]:
    with oidc_provider() as running:
        yield running


@pytest.fixture
def external_settings(
    settings: Settings, peer: OidcPeer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("TEST_RS_SECRET", "rs-secret")
    return get_settings(
        home=home,
        delivery_enabled=False,
        auth={
            "issuer_url": peer.issuer,
            "audience": peer.audience,
            "jwks_min_refresh_seconds": 1,
            "introspection_endpoint": f"{peer.issuer}/token/introspection",
            "introspection_client_id": "svc-rs",
            "introspection_secret_env": "TEST_RS_SECRET",
        },
    )


@pytest.fixture
def gateway(external_settings: Settings) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = Runtime.build(external_settings)
    with TestClient(create_app(external_settings, runtime), raise_server_exceptions=False) as client:
        yield client, runtime


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_real_issuer_token_is_accepted_and_audited_by_id_only(
    gateway: tuple[TestClient, Runtime], peer: OidcPeer
) -> None:
    client, runtime = gateway
    token = peer.token("svc-writer", "writer-secret", "events:write")
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(token)).status_code == 202
    accepted = runtime.audit.records(event="token.accepted")
    assert [r.actor for r in accepted] == ["svc-writer"]
    assert accepted[0].details["token_id"] and token not in str(accepted[0].details)
    assert token.encode() not in (runtime.settings.home / "audit" / "audit.db").read_bytes()


def test_real_issuer_token_without_the_scope_is_forbidden(
    gateway: tuple[TestClient, Runtime], peer: OidcPeer
) -> None:
    client, _ = gateway
    token = peer.token("svc-writer", "writer-secret", "tickets:read")
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(token)).status_code == 403


def test_dev_issuer_is_switched_off_with_an_external_issuer(gateway: tuple[TestClient, Runtime]) -> None:
    client, runtime = gateway
    assert runtime.security is not None and runtime.security.dev_issuer is None
    from gateway.dataflow import build_dataflow

    assert "oauth_issuer" in {node.id for node in build_dataflow(runtime).nodes}
    dev_token = runtime.issuer.mint("writer", ["events:write"])
    response = client.post("/v1/events", json=canary_event(), headers=_bearer(dev_token))
    assert response.status_code == 401
    assert response.json()["detail"] == "a valid bearer token is required"


def test_key_rotation_is_followed_by_one_refresh(gateway: tuple[TestClient, Runtime], peer: OidcPeer) -> None:
    client, runtime = gateway
    first = peer.token("svc-writer", "writer-secret", "events:write")
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(first)).status_code == 202
    assert runtime.security is not None and runtime.security.resource_server.remote_keys is not None
    remote = runtime.security.resource_server.remote_keys
    fetches, now = remote.fetches, [remote.clock()]
    remote.clock = lambda: now[0]
    peer.rotate()
    second = peer.token("svc-writer", "writer-secret", "events:write")
    # Within the refresh rate limit an unknown kid is refused without asking the issuer again...
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(second)).status_code == 401
    assert remote.fetches == fetches
    # ... and once the limit has passed, the new key is fetched once.
    now[0] += 1
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(second)).status_code == 202
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(second)).status_code == 202
    assert remote.fetches == fetches + 1
    # The old key is still published, so tokens signed before the rotation stay valid.
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(first)).status_code == 202


def test_opaque_token_is_introspected(gateway: tuple[TestClient, Runtime], peer: OidcPeer) -> None:
    client, runtime = gateway
    token = peer.token("svc-writer", "writer-secret", "events:write", resource="urn:rcmgw:opaque")
    assert token.count(".") != 2
    assert client.post("/v1/events", json=canary_event(), headers=_bearer(token)).status_code == 202
    forged = client.post("/v1/events", json=canary_event(), headers=_bearer("x" * 43))
    assert forged.status_code == 401
    reasons = [r.details["reason"] for r in runtime.audit.records(event="token.rejected")]
    assert reasons == ["inactive"]
