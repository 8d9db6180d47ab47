"""The OAuth 2.0 resource server: one entry point that turns a bearer token into a `Principal`.

A JWT (three dot-separated parts) is checked by `TokenValidator` against the trusted key set; with
an external issuer the key set is a `RemoteKeySet`, refreshed first when the token's ``kid`` is
unknown (rotation). Anything else is an opaque token, sent to RFC 7662 introspection when it is
configured and refused otherwise.
"""

from __future__ import annotations

import base64
import json

from gateway.auth.errors import AuthenticationFailed
from gateway.auth.introspection import Introspector
from gateway.auth.jwks import RemoteKeySet
from gateway.auth.tokens import MAX_TOKEN_BYTES, Principal, TokenValidator

MAX_HEADER_CHARS = 2048


def peek_kid(token: str) -> str | None:
    """The ``kid`` in a JWT's protected header (unverified; used only to pick keys)."""
    head = token.split(".", 1)[0]
    if len(head) > MAX_HEADER_CHARS:
        raise AuthenticationFailed("malformed")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationFailed("malformed") from None
    if not isinstance(header, dict):
        raise AuthenticationFailed("malformed")
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


class ResourceServer:
    """Authenticates bearer tokens: JWT access tokens, and opaque ones by introspection."""

    def __init__(
        self,
        validator: TokenValidator,
        *,
        remote_keys: RemoteKeySet | None = None,
        introspector: Introspector | None = None,
    ) -> None:
        self.validator = validator
        self.remote_keys = remote_keys
        self.introspector = introspector

    async def authenticate(self, token: str) -> Principal:
        """The principal of a valid token; `AuthenticationFailed` with a reason otherwise."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise AuthenticationFailed("malformed")
        if token.count(".") == 2:
            if self.remote_keys is not None:
                await self.remote_keys.ensure(peek_kid(token))
            return self.validator.validate(token)
        if self.introspector is not None:
            return await self.introspector.introspect(token)
        raise AuthenticationFailed("malformed")
