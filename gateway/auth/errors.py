"""Authentication and authorization errors.

    AuthError (code "auth")                       base
    +-- AuthenticationFailed (code "auth.failed") HTTP 401: no, malformed, expired, forged token ...
    |   +-- SessionExpired (code "auth.failed")   HTTP 401: a session passed its idle/absolute timeout
    +-- ScopeDenied (code "auth.scope")           HTTP 403: a valid token without the route's scope
    +-- CsrfRejected (code "auth.csrf")           HTTP 403: a session request that changes state
    |                                             without the session's CSRF token
    +-- CallbackRejected (code "auth.callback")   HTTP 401: a ticketing system's status callback
        |                                         with a bad signature/token or a stale timestamp
        +-- CallbackReplayed (code "auth.callback_replayed") HTTP 409: its event id was seen before

``reason`` is a short machine code (``missing``, ``malformed``, ``bad_signature``, ``expired``,
``not_yet_valid``, ``wrong_issuer``, ``wrong_audience``, ``wrong_type``, ``bad_algorithm``,
``unknown_key``, ``inactive``, ``issuer_unavailable``, ``no_session``, ``idle_timeout``,
``absolute_timeout``, ``saml_*``) for logs and audit. Responses say only "invalid token": never
which check failed, never the token.
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


class SessionExpired(AuthenticationFailed):
    """A session cookie names a session past its idle or absolute timeout (it was just removed)."""

    code = "auth.failed"

    def __init__(self, reason: str, subject: str) -> None:
        super().__init__(reason)
        self.subject = subject


class CsrfRejected(AuthError):
    """A state-changing request authenticated by a session cookie lacks the session's CSRF token."""

    code = "auth.csrf"

    def __init__(self) -> None:
        super().__init__("csrf")


class CallbackRejected(AuthError):
    """A status callback (``POST /v1/sinks/{name}/callback``) is not authentic: no callback auth
    configured for the sink, a missing or wrong signature or token, or a timestamp outside the
    replay window."""

    code = "auth.callback"


class CallbackReplayed(CallbackRejected):
    """A status callback carries an event id (nonce) that was already accepted: a replay."""

    code = "auth.callback_replayed"
