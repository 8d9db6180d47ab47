"""FastAPI dependencies for authentication: ``Annotated`` aliases so routes read as plain data.

Every route except the public ones (health) must depend on a `ScopeRequirement`; a test enumerates
the app's routes and fails when one does not. A requirement accepts either kind of principal:

- a *service* with ``Authorization: Bearer <access token>`` (JWT per RFC 9068, or an opaque token
  checked by introspection);
- a *person* with the session cookie from SAML sign-in; a state-changing request (anything but
  GET, HEAD, OPTIONS) must also carry the session's CSRF token in ``X-CSRF-Token``.

Failures are audited (``token.rejected``, ``session.timeout``, ``scope.denied``, ``csrf.rejected``)
and answered with a generic 401/403; successes update the principal's last use.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth.errors import AuthenticationFailed, CsrfRejected, ScopeDenied, SessionExpired
from gateway.auth.scopes import Scope
from gateway.auth.services import SecurityServices
from gateway.auth.sessions import CSRF_HEADER, SESSION_COOKIE
from gateway.auth.tokens import Principal

log = logging.getLogger("rcmgw.auth")
_bearer = HTTPBearer(auto_error=False, description="An OAuth 2.0 access token (JWT, typ at+jwt).")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def security_of(request: Request) -> SecurityServices:
    """The running gateway's `SecurityServices`."""
    security: SecurityServices | None = request.app.state.runtime.security
    assert security is not None, "Runtime.build wires security"
    return security


async def _from_session(request: Request, security: SecurityServices, cookie: str, path: str) -> Principal:
    audit = request.app.state.runtime.audit
    try:
        row = await security.sessions.aresolve(cookie)
    except SessionExpired as expired:
        await audit.record(
            "session.timeout", actor=f"user:{expired.subject}", outcome="ended", reason=expired.reason
        )
        raise
    principal = Principal(
        subject=row.subject,
        client_id="saml",
        scopes=row.scopes,
        kind="person",
        roles=row.roles,
        session_id=row.id_hash[:16],
    )
    if request.method not in SAFE_METHODS and not security.sessions.csrf_ok(
        row, request.headers.get(CSRF_HEADER)
    ):
        log.info("csrf rejected", extra={"route": path, "session": principal.session_id})
        await audit.record(
            "csrf.rejected", actor=principal.actor, outcome="denied", route=path, method=request.method
        )
        raise CsrfRejected()
    return principal


class ScopeRequirement:
    """A dependency that authenticates the caller (token or session) and requires ``scope``."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        route = request.scope.get("route")
        path = getattr(route, "path", "?")
        audit = request.app.state.runtime.audit
        security = security_of(request)
        cookie = request.cookies.get(SESSION_COOKIE)
        try:
            if credentials is not None and credentials.scheme.lower() == "bearer":
                principal = await security.resource_server.authenticate(credentials.credentials)
            elif credentials is None and cookie:
                principal = await _from_session(request, security, cookie, path)
            else:
                raise AuthenticationFailed("missing")
        except SessionExpired:
            raise
        except AuthenticationFailed as error:
            log.info("token rejected", extra={"reason": error.reason, "route": path})
            await audit.record(
                "token.rejected", actor="anonymous", outcome="denied", reason=error.reason, route=path
            )
            raise
        if not principal.has(self.scope.value):
            log.info(
                "scope denied",
                extra={"client_id": principal.client_id, "required": self.scope.value, "route": path},
            )
            await audit.record(
                "scope.denied",
                actor=principal.actor,
                outcome="denied",
                required=self.scope.value,
                route=path,
                token_id=principal.token_id,
            )
            raise ScopeDenied(self.scope.value)
        await security.tracker.accepted(principal, route=path)
        request.state.principal = principal
        return principal


EventsWriter = Annotated[Principal, Depends(ScopeRequirement(Scope.EVENTS_WRITE))]
AuditReader = Annotated[Principal, Depends(ScopeRequirement(Scope.AUDIT_READ))]
Admin = Annotated[Principal, Depends(ScopeRequirement(Scope.ADMIN))]
TicketsReader = Annotated[Principal, Depends(ScopeRequirement(Scope.TICKETS_READ))]
