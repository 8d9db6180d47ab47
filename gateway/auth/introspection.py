"""RFC 7662 token introspection for opaque access tokens.

The gateway authenticates to the introspection endpoint with its own client credentials (HTTP
Basic, the secret referenced from settings) and accepts a token only when the answer says
``active: true``, names the configured issuer (when it says one), includes our audience (when it
says one) and has not expired. The token itself is sent only to the configured endpoint and never
logged.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import httpx

from gateway.auth.errors import AuthenticationFailed
from gateway.auth.tokens import MAX_TOKEN_BYTES, Principal

log = logging.getLogger("rcmgw.auth")


class Introspector:
    """Asks the authorization server whether an opaque token is active."""

    def __init__(
        self,
        endpoint: str,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        issuer: str | None,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoint = endpoint
        self._http = http
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    async def introspect(self, token: str) -> Principal:
        """The principal of an active token; `AuthenticationFailed` otherwise."""
        if not token or len(token) > MAX_TOKEN_BYTES or not token.isascii():
            raise AuthenticationFailed("malformed")
        try:
            response = await self._http.post(
                self._endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("introspection failed", extra={"error_class": type(error).__name__})
            raise AuthenticationFailed("issuer_unavailable") from None
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise AuthenticationFailed("inactive")
        return self._principal(answer, token)

    def _principal(self, answer: dict[str, object], token: str) -> Principal:
        if self._issuer is not None and answer.get("iss", self._issuer) != self._issuer:
            raise AuthenticationFailed("wrong_issuer")
        audience = answer.get("aud")
        if audience is not None:
            audiences = audience if isinstance(audience, list) else [audience]
            if self._audience not in audiences:
                raise AuthenticationFailed("wrong_audience")
        exp = answer.get("exp")
        if isinstance(exp, int) and exp < self._clock():
            raise AuthenticationFailed("expired")
        scope = answer.get("scope", "")
        client_id = answer.get("client_id")
        subject = answer.get("sub", client_id)
        if not isinstance(scope, str) or not isinstance(client_id, str) or not isinstance(subject, str):
            raise AuthenticationFailed("malformed")
        jti = answer.get("jti")
        # No jti in the answer: a digest names the token in the audit log, never the token itself.
        token_id = (
            jti if isinstance(jti, str) else "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32]
        )
        return Principal(
            subject=subject, client_id=client_id, scopes=frozenset(scope.split()), token_id=token_id
        )
