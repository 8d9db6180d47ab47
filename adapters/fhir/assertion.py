"""SMART Backend Services client assertions (RFC 7523 ``private_key_jwt``), signed with joserfc.

Epic's rules, which Cerner's JWT system accounts also accept: ``iss`` = ``sub`` = the client id,
``aud`` = the exact token endpoint URL, ``exp`` no more than five minutes ahead, ``jti`` a unique
string of at most 151 characters, ``kid`` in the header, RS384 (or ES384 where the vendor reads our
JWK Set URL).

authlib's own ``PrivateKeyJWT`` is not used to sign: it defaults ``exp`` to an hour and stores the
generated ``jti`` in its shared ``claims`` dict, so every later assertion repeats it. We register
`PrivateKeyJwtAuth` with authlib's OAuth 2.0 client instead.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from authlib.common.urls import add_params_to_qs
from joserfc import jwt

from adapters.fhir.signing_keys import KeyEntry

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME_SECONDS = 300
DEFAULT_LIFETIME_SECONDS = 240
MAX_JTI_LENGTH = 151


def new_jti() -> str:
    """A unique assertion id: 43 URL-safe characters (256 random bits)."""
    return secrets.token_urlsafe(32)


def sign_client_assertion(
    entry: KeyEntry,
    *,
    client_id: str,
    token_url: str,
    now: float | None = None,
    lifetime: int = DEFAULT_LIFETIME_SECONDS,
    jti: str | None = None,
) -> str:
    """A signed client assertion for ``token_url``; `ValueError` when a limit would be broken."""
    if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
        raise ValueError(f"assertion lifetime must be 1..{MAX_LIFETIME_SECONDS} seconds")
    jti = jti or new_jti()
    if len(jti) > MAX_JTI_LENGTH:
        raise ValueError(f"jti longer than {MAX_JTI_LENGTH} characters")
    issued = int(now if now is not None else time.time())
    header = {"alg": entry.alg, "kid": entry.kid, "typ": "JWT"}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "jti": jti,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
    }
    return jwt.encode(header, claims, entry.key, algorithms=[entry.alg])


class PrivateKeyJwtAuth:
    """An authlib client-authentication method (``private_key_jwt``) that signs a fresh assertion
    for every token request with the ring's active key.

    ``token_url`` is the exact URL put in ``aud``; ``signer`` returns the key entry to use.
    """

    name = "private_key_jwt"

    def __init__(self, token_url: str, signer: Callable[[], KeyEntry]) -> None:
        self._token_url = token_url
        self._signer = signer

    def __call__(self, auth: Any, method: str, uri: str, headers: Any, body: str) -> tuple[str, Any, str]:
        """Add ``client_assertion_type`` and ``client_assertion`` to the token request body."""
        assertion = sign_client_assertion(self._signer(), client_id=auth.client_id, token_url=self._token_url)
        params = [("client_assertion_type", ASSERTION_TYPE), ("client_assertion", assertion)]
        return uri, headers, add_params_to_qs(body or "", params)
