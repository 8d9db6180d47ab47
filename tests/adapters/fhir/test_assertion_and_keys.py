"""Client assertions obey every Epic limit; the key ring rotates as documented."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fhirkit import EPIC_TOKEN, epic_instance
from joserfc import jwt
from joserfc.jwk import KeySet

from adapters.fhir.assertion import ASSERTION_TYPE, MAX_JTI_LENGTH, sign_client_assertion
from adapters.fhir.signing_keys import KeyRing
from adapters.fhir.smart import SmartTokenSource

pytestmark = pytest.mark.anyio


def _verify(assertion: str, ring: KeyRing) -> jwt.Token:
    return jwt.decode(assertion, KeySet.import_key_set(ring.jwks()), algorithms=["RS384", "ES384"])  # type: ignore[arg-type]


def _token_request(route: respx.Route, index: int = -1) -> dict[str, list[str]]:
    return parse_qs(route.calls[index].request.content.decode())


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys")


@respx.mock
async def test_the_assertion_sent_to_epic_meets_every_rule(ring: KeyRing) -> None:
    instance = epic_instance()
    route = respx.post(EPIC_TOKEN).mock(
        return_value=httpx.Response(
            200, json={"access_token": "at-1", "token_type": "bearer", "expires_in": 3600}
        )
    )
    tokens = SmartTokenSource(instance, ring)
    before = int(time.time())
    assert await tokens.access_token() == "at-1"
    form = _token_request(route)
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    assert form["scope"] == ["system/*.read"]
    assertion = form["client_assertion"][0]
    token = _verify(assertion, ring)  # signature checks against our own published JWK Set
    header, claims = token.header, token.claims
    assert header["alg"] == "RS384"
    assert header["kid"] == ring.active("RS384").kid
    assert header["typ"] == "JWT"
    assert claims["iss"] == claims["sub"] == instance.client_id
    assert claims["aud"] == EPIC_TOKEN  # the exact token URL, not the FHIR base
    assert before <= claims["iat"] <= claims["exp"]
    assert claims["exp"] - claims["iat"] <= 300
    assert claims["exp"] <= int(time.time()) + 300
    assert isinstance(claims["jti"], str) and 0 < len(claims["jti"]) <= MAX_JTI_LENGTH


@respx.mock
async def test_every_assertion_has_a_fresh_jti(ring: KeyRing) -> None:
    clock = [1000.0]
    route = respx.post(EPIC_TOKEN).mock(
        return_value=httpx.Response(
            200, json={"access_token": "at", "token_type": "bearer", "expires_in": 60}
        )
    )
    tokens = SmartTokenSource(epic_instance(), ring, clock=lambda: clock[0])
    jtis = set()
    for _ in range(3):
        await tokens.access_token()
        clock[0] += 120  # past expiry and past the minimum refresh interval
    for index in range(3):
        jtis.add(_verify(_token_request(route, index)["client_assertion"][0], ring).claims["jti"])
    assert len(jtis) == 3


def test_es384_is_used_where_configured(ring: KeyRing) -> None:
    entry = ring.active("ES384")
    assertion = sign_client_assertion(entry, client_id="c", token_url=EPIC_TOKEN)
    token = _verify(assertion, ring)
    assert token.header["alg"] == "ES384" and token.header["kid"] == entry.kid


@pytest.mark.parametrize("lifetime", [0, 301, 3600])
def test_lifetimes_over_five_minutes_are_refused(ring: KeyRing, lifetime: int) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        sign_client_assertion(ring.active("RS384"), client_id="c", token_url=EPIC_TOKEN, lifetime=lifetime)


def test_a_jti_over_151_characters_is_refused(ring: KeyRing) -> None:
    entry = ring.active("RS384")
    sign_client_assertion(entry, client_id="c", token_url=EPIC_TOKEN, jti="j" * 151)
    with pytest.raises(ValueError, match="jti"):
        sign_client_assertion(entry, client_id="c", token_url=EPIC_TOKEN, jti="j" * 152)


def test_keys_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = KeyRing(tmp_path / "keys")
    second = KeyRing(tmp_path / "keys")
    assert [e.kid for e in first.entries()] == [e.kid for e in second.entries()]
    assert {e.alg for e in first.entries()} == {"RS384", "ES384"}
    assert first.path.stat().st_mode & 0o777 == 0o600
    published = json.dumps(first.jwks())
    for private in ('"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"'):
        assert private not in published


def test_rotation_add_sign_wait_retire(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 1, tzinfo=UTC)]
    ring = KeyRing(tmp_path / "keys", clock=lambda: now[0])
    old = ring.active("RS384")
    old_assertion = sign_client_assertion(old, client_id="c", token_url=EPIC_TOKEN)
    # 1. add a new key and sign with it; the old key stays published
    now[0] += timedelta(days=90)
    new = ring.rotate("RS384")
    assert ring.active("RS384").kid == new.kid != old.kid
    published = {key["kid"] for key in ring.jwks()["keys"]}
    assert {old.kid, new.kid} <= published
    new_assertion = sign_client_assertion(ring.active("RS384"), client_id="c", token_url=EPIC_TOKEN)
    assert _verify(new_assertion, ring).header["kid"] == new.kid
    assert _verify(old_assertion, ring).header["kid"] == old.kid  # still verifiable while we wait
    # 2. the active key cannot be retired
    with pytest.raises(ValueError, match="active"):
        ring.retire(new.kid)
    # 3. after the vendor's cache time, retire the old key: gone from the set and from disk
    ring.retire(old.kid)
    reloaded = KeyRing(tmp_path / "keys")
    assert old.kid not in {key["kid"] for key in reloaded.jwks()["keys"]}
    assert old.kid not in reloaded.path.read_text("utf-8")
    with pytest.raises(Exception):  # noqa: B017 - joserfc raises its own error for an unknown kid
        _verify(old_assertion, reloaded)
    assert reloaded.active("RS384").kid == new.kid
    with pytest.raises(KeyError):
        reloaded.retire("no-such-kid")
