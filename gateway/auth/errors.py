"""Authentication and authorization errors.

    AuthError (code "auth")                       base
    +-- AuthenticationFailed (code "auth.failed") HTTP 401: no, malformed, expired, forged token ...
    +-- ScopeDenied (code "auth.scope")           HTTP 403: a valid token without the route's scope

``reason`` is a short machine code (``missing``, ``malformed``, ``bad_signature``, ``expired``,
``not_yet_valid``, ``wrong_issuer``, ``wrong_audience``, ``wrong_type``, ``bad_algorithm``,
``unknown_key``) for logs and audit. Responses say only "invalid token": never which check failed,
never the token.
"""

from __future__ import annotations


class AuthError(Exception):
    """Base class of auth errors."""

    code = "auth"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthenticationFailed(AuthError):
    """The request has no acceptable bearer token."""

    code = "auth.failed"


class ScopeDenied(AuthError):
    """The token is valid but lacks the scope the route requires."""

    code = "auth.scope"

    def __init__(self, required: str) -> None:
        super().__init__("missing_scope")
        self.required = required
