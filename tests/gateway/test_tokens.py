"""Access token validation: every malformed or forged token is refused with a specific reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from gateway.auth.errors import AuthenticationFailed
from gateway.auth.tokens import DevIssuer, TokenValidator

ISS, AUD = "rcmgw-dev", "rcm-gateway"
NOW = 1_800_000_000


@pytest.fixture
def issuer_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})


@pytest.fixture
def issuer(issuer_key: ECKey) -> DevIssuer:
    return DevIssuer(issuer_key, issuer=ISS, audience=AUD, clock=lambda: NOW)


@pytest.fixture
def validator(issuer: DevIssuer) -> TokenValidator:
    return TokenValidator(issuer.key_set, issuer=ISS, audience=AUD, leeway=30, clock=lambda: NOW)


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "svc",
        "client_id": "svc",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
        "jti": "j1",
        "scope": "events:write",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _sign(key: ECKey | RSAKey | OctKey, claims: dict[str, object], **header: object) -> str:
    head: dict[str, object] = {"alg": "ES256", "typ": "at+jwt", "kid": "k1", **header}
    return jwt.encode(head, claims, key, algorithms=[str(head["alg"])])


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_minted_token_is_accepted_with_its_scopes(issuer: DevIssuer, validator: TokenValidator) -> None:
    principal = validator.validate(issuer.mint("billing-bot", ["events:write", "tickets:read"]))
    assert principal.client_id == "billing-bot"
    assert principal.has("events:write") and principal.has("tickets:read") and not principal.has("admin")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=NOW - 31), "expired"),
        (_claims(nbf=NOW + 120), "not_yet_valid"),
        (_claims(iss="https://evil.example"), "wrong_issuer"),
        (_claims(aud="someone-else"), "wrong_audience"),
        (_claims(exp=None), "malformed"),
        (_claims(sub=None), "malformed"),
    ],
)
def test_bad_claims_are_refused(
    issuer_key: ECKey, validator: TokenValidator, claims: dict[str, object], reason: str
) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        validator.validate(_sign(issuer_key, claims))
    assert caught.value.reason == reason


def test_leeway_accepts_small_clock_skew(issuer_key: ECKey, validator: TokenValidator) -> None:
    assert validator.validate(_sign(issuer_key, _claims(exp=NOW - 20))).subject == "svc"


def test_missing_typ_is_refused(issuer_key: ECKey, validator: TokenValidator) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        validator.validate(_sign(issuer_key, _claims(), typ="JWT"))
    assert caught.value.reason == "wrong_type"


def test_alg_none_is_refused(validator: TokenValidator) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(_claims())}."
    with pytest.raises(AuthenticationFailed):
        validator.validate(token)


def test_hmac_signed_with_the_public_key_is_refused(issuer_key: ECKey, validator: TokenValidator) -> None:
    public_pem = issuer_key.as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'k1'})}.{_b64(_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(AuthenticationFailed):
        validator.validate(forged)


def test_token_from_another_key_is_refused(validator: TokenValidator) -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})
    with pytest.raises(AuthenticationFailed) as caught:
        validator.validate(_sign(other, _claims()))
    assert caught.value.reason == "bad_signature"


def test_unknown_kid_is_refused(validator: TokenValidator) -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "k2", "alg": "ES256"})
    with pytest.raises(AuthenticationFailed):
        validator.validate(_sign(other, _claims(), kid="k2"))


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "x" * 9000, "..", "eyJ.eyJ.sig"])
def test_garbage_is_refused_as_malformed(validator: TokenValidator, token: str) -> None:
    with pytest.raises(AuthenticationFailed):
        validator.validate(token)


def test_rsa_key_set_accepts_rs256(issuer_key: ECKey) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "r1", "alg": "RS256"})
    validator = TokenValidator(KeySet([rsa]), issuer=ISS, audience=AUD, clock=lambda: NOW)
    token = _sign(rsa, _claims(), alg="RS256", kid="r1")
    assert validator.validate(token).subject == "svc"


def test_leeway_over_sixty_seconds_is_rejected(issuer: DevIssuer) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenValidator(issuer.key_set, issuer=ISS, audience=AUD, leeway=61)


def test_real_clock_token_round_trip(issuer_key: ECKey) -> None:
    live = DevIssuer(issuer_key, issuer=ISS, audience=AUD)
    validator = TokenValidator(live.key_set, issuer=ISS, audience=AUD)
    assert validator.validate(live.mint("x", ["admin"], ttl=60)).has("spool:read")
    assert int(time.time()) > NOW - 10**9
