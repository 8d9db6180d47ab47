"""Remote signing keys: discovery, cache, refresh on an unknown kid (rate-limited), rotation, and
the token battery against a remote key set (HS/RS confusion, oct keys, alg none, missing scope)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gateway.auth.errors import AuthenticationFailed
from gateway.auth.jwks import RemoteKeySet, metadata_urls
from gateway.auth.resource_server import ResourceServer
from gateway.auth.tokens import TokenValidator

ISS, AUD, NOW = "https://idp.example/tenant", "urn:rcmgw:api", 1_800_000_000


class FakeIssuer:
    """Serves RFC 8414 metadata and a JWKS; counts JWKS fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, object]] = []
        self.jwks_fetches = 0
        self.metadata_issuer = ISS

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-authorization-server/tenant":
            return httpx.Response(200, json={"issuer": self.metadata_issuer, "jwks_uri": f"{ISS}/jwks"})
        if request.url.path == "/tenant/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": self.keys})
        return httpx.Response(404)


def _claims(**extra: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "svc",
        "client_id": "svc",
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "j",
        "scope": "events:write",
    }
    claims.update(extra)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def fake() -> FakeIssuer:
    return FakeIssuer()


def _server(fake: FakeIssuer, clock: list[float]) -> tuple[ResourceServer, RemoteKeySet]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    remote = RemoteKeySet(ISS, http, cache_seconds=3600, min_refresh_seconds=30, clock=lambda: clock[0])
    validator = TokenValidator(lambda: remote.keys, issuer=ISS, audience=AUD, clock=lambda: NOW)
    return ResourceServer(validator, remote_keys=remote), remote


def _new_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


def _token(key: ECKey | RSAKey, alg: str = "ES256", **claims: object) -> str:
    return jwt.encode({"alg": alg, "typ": "at+jwt", "kid": key.kid}, _claims(**claims), key)


def test_metadata_locations_follow_rfc8414_then_oidc() -> None:
    assert metadata_urls("https://a.example/t1") == [
        "https://a.example/.well-known/oauth-authorization-server/t1",
        "https://a.example/t1/.well-known/openid-configuration",
    ]


def test_rotation_refreshes_once_and_unknown_kids_are_rate_limited(fake: FakeIssuer) -> None:
    k1, k2 = _new_key("k1"), _new_key("k2")
    fake.keys = [k1.as_dict(private=False)]
    clock = [0.0]
    server, remote = _server(fake, clock)

    async def run() -> None:
        assert (await server.authenticate(_token(k1))).client_id == "svc"
        assert fake.jwks_fetches == 1
        clock[0] = 100
        fake.keys = [k2.as_dict(private=False), k1.as_dict(private=False)]
        assert (await server.authenticate(_token(k2))).client_id == "svc"
        assert fake.jwks_fetches == 2
        # A flood of forged kids triggers at most one fetch per min_refresh_seconds.
        for n in range(20):
            with pytest.raises(AuthenticationFailed):
                await server.authenticate(_token(_new_key(f"forged-{n}")))
        assert fake.jwks_fetches == 2
        clock[0] = 131
        with pytest.raises(AuthenticationFailed):
            await server.authenticate(_token(_new_key("forged-late")))
        assert fake.jwks_fetches == 3
        await remote._http.aclose()

    asyncio.run(run())


def test_stale_cache_is_refreshed(fake: FakeIssuer) -> None:
    k1 = _new_key("k1")
    fake.keys = [k1.as_dict(private=False)]
    clock = [0.0]
    server, _ = _server(fake, clock)

    async def run() -> None:
        await server.authenticate(_token(k1))
        clock[0] = 3601
        await server.authenticate(_token(k1))

    asyncio.run(run())
    assert fake.jwks_fetches == 2


def test_metadata_naming_another_issuer_is_not_trusted(fake: FakeIssuer) -> None:
    k1 = _new_key("k1")
    fake.keys = [k1.as_dict(private=False)]
    fake.metadata_issuer = "https://evil.example"
    server, _ = _server(fake, [0.0])
    with pytest.raises(AuthenticationFailed) as caught:
        asyncio.run(server.authenticate(_token(k1)))
    assert caught.value.reason == "issuer_unavailable"


def test_hmac_token_signed_with_the_rsa_public_key_is_refused(fake: FakeIssuer) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "r1", "alg": "RS256", "use": "sig"})
    fake.keys = [rsa.as_dict(private=False)]
    server, _ = _server(fake, [0.0])
    assert asyncio.run(server.authenticate(_token(rsa, "RS256"))).client_id == "svc"
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "r1"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(rsa.as_pem(private=False), f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(AuthenticationFailed):
        asyncio.run(server.authenticate(f"{header}.{body}.{_b64(mac)}"))


def test_symmetric_keys_in_a_jwks_are_ignored(fake: FakeIssuer) -> None:
    secret = b"s" * 32
    fake.keys = [{"kty": "oct", "kid": "h1", "k": _b64(secret), "alg": "HS256"}]
    server, remote = _server(fake, [0.0])
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "h1"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(AuthenticationFailed):
        asyncio.run(server.authenticate(f"{header}.{body}.{_b64(mac)}"))
    assert remote.keys.keys == []


@pytest.mark.parametrize(
    ("claims", "header", "reason"),
    [
        ({"iss": "https://other.example"}, {}, "wrong_issuer"),
        ({"aud": "urn:other"}, {}, "wrong_audience"),
        ({"exp": NOW - 61}, {}, "expired"),
        ({"nbf": NOW + 120}, {}, "not_yet_valid"),
        ({}, {"typ": "JWT"}, "wrong_type"),
    ],
)
def test_remote_battery(
    fake: FakeIssuer, claims: dict[str, object], header: dict[str, object], reason: str
) -> None:
    k1 = _new_key("k1")
    fake.keys = [k1.as_dict(private=False)]
    server, _ = _server(fake, [0.0])
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k1", **header}, _claims(**claims), k1)
    with pytest.raises(AuthenticationFailed) as caught:
        asyncio.run(server.authenticate(token))
    assert caught.value.reason == reason


def test_alg_none_is_refused_by_the_resource_server(fake: FakeIssuer) -> None:
    fake.keys = [_new_key("k1").as_dict(private=False)]
    server, _ = _server(fake, [0.0])
    header = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": "k1"}).encode())
    with pytest.raises(AuthenticationFailed):
        asyncio.run(server.authenticate(f"{header}.{_b64(json.dumps(_claims()).encode())}."))


def test_opaque_token_without_introspection_is_refused(fake: FakeIssuer) -> None:
    server, _ = _server(fake, [0.0])
    with pytest.raises(AuthenticationFailed) as caught:
        asyncio.run(server.authenticate("opaque-token-value"))
    assert caught.value.reason == "malformed"
