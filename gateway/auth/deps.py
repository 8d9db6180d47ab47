"""FastAPI dependencies for authentication: ``Annotated`` aliases so routes read as plain data.

Every route except the health checks must depend on a `ScopeRequirement`; a test enumerates the
app's routes and fails when one does not.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth.errors import AuthenticationFailed, ScopeDenied
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal, TokenValidator

log = logging.getLogger("rcmgw.auth")
_bearer = HTTPBearer(auto_error=False, description="An OAuth 2.0 access token (JWT, typ at+jwt).")


def _validator(request: Request) -> TokenValidator:
    validator: TokenValidator = request.app.state.token_validator
    return validator


class ScopeRequirement:
    """A dependency that authenticates the bearer token and requires ``scope``."""

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
        if credentials is None or credentials.scheme.lower() != "bearer":
            log.info("token rejected", extra={"reason": "missing", "route": path})
            await audit.record(
                "token.rejected", actor="anonymous", outcome="denied", reason="missing", route=path
            )
            raise AuthenticationFailed("missing")
        try:
            principal = _validator(request).validate(credentials.credentials)
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
                actor=principal.client_id,
                outcome="denied",
                required=self.scope.value,
                route=path,
                token_id=principal.token_id,
            )
            raise ScopeDenied(self.scope.value)
        request.state.principal = principal
        return principal


EventsWriter = Annotated[Principal, Depends(ScopeRequirement(Scope.EVENTS_WRITE))]
