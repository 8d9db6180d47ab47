"""Who may use the console, and how they sign in.

- `ConsoleScope` is the console's `ScopeRequirement`: a person's session cookie only (no bearer
  tokens: the console is for browsers). Without a live session the browser is sent to
  ``/console/login`` (303). A state-changing request (POST) must carry the session's CSRF token in
  the form field ``csrf_token`` (plain HTML forms cannot set the ``X-CSRF-Token`` header); the
  session cookie is ``SameSite=Strict`` as well. Failures are audited exactly like the API's
  (``session.timeout``, ``csrf.rejected``, ``scope.denied``).
- Sign-in is SAML (``/saml/login``) when configured, and the *dev sign-in* only in the embedded
  default mode: the dev token issuer is on (no ``auth.issuer_url``) AND the browser connects from a
  loopback address without a proxy's forwarding headers. A production configuration (external
  issuer) never offers it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets

from fastapi import HTTPException, Request
from starlette.datastructures import FormData

from gateway.auth.deps import ScopeRequirement, security_of
from gateway.auth.errors import AuthenticationFailed, CsrfRejected, ScopeDenied, SessionExpired
from gateway.auth.scopes import Scope
from gateway.auth.services import SecurityServices
from gateway.auth.sessions import SESSION_COOKIE
from gateway.auth.tokens import Principal

log = logging.getLogger("rcmgw.console")
LOGIN_PATH = "/console/login"
DEV_SIGN_IN_PATH = "/console/login/dev"
LOGOUT_PATH = "/console/logout"
SIGN_IN_PATHS = frozenset({LOGIN_PATH, DEV_SIGN_IN_PATH, LOGOUT_PATH})
"""Console routes that cannot require a scope (they are how a person gets one, or ends it); each
authenticates what it receives itself."""
LOGIN_COOKIE = "__Host-rcmgw_console_login"
CSRF_FIELD = "csrf_token"
MAX_FORM_FIELDS = 1000
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def sign_in_redirect() -> HTTPException:
    """The 303 to the sign-in page."""
    return HTTPException(303, headers={"Location": LOGIN_PATH})


async def read_form(request: Request) -> FormData:
    """The request's form (parsed once; Starlette caches it for the handler)."""
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)


def form_csrf_ok(csrf: str, form: FormData) -> bool:
    """Whether the form carries the session's CSRF token."""
    presented = form.get(CSRF_FIELD)
    return isinstance(presented, str) and hmac.compare_digest(csrf.encode(), presented.encode())


class ConsoleScope(ScopeRequirement):
    """Requires a signed-in person holding ``scope`` (see the module docstring)."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        route = request.scope.get("route")
        path = getattr(route, "path", "?")
        audit = request.app.state.runtime.audit
        security = security_of(request)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise sign_in_redirect()
        try:
            row = await security.sessions.aresolve(cookie)
        except SessionExpired as expired:
            await audit.record(
                "session.timeout", actor=f"user:{expired.subject}", outcome="ended", reason=expired.reason
            )
            raise sign_in_redirect() from None
        except AuthenticationFailed:
            raise sign_in_redirect() from None
        principal = Principal(
            subject=row.subject,
            client_id="console",
            scopes=row.scopes,
            kind="person",
            roles=row.roles,
            session_id=row.id_hash[:16],
        )
        # an error page shows the person's own navigation and a working sign-out form
        request.state.principal, request.state.console_csrf = principal, row.csrf
        if request.method == "POST" and not form_csrf_ok(row.csrf, await read_form(request)):
            log.info("csrf rejected", extra={"route": path, "session": principal.session_id})
            await audit.record(
                "csrf.rejected", actor=principal.actor, outcome="denied", route=path, method=request.method
            )
            raise CsrfRejected()
        if not principal.has(self.scope.value):
            log.info("scope denied", extra={"required": self.scope.value, "route": path})
            await audit.record(
                "scope.denied", actor=principal.actor, outcome="denied", required=self.scope.value, route=path
            )
            raise ScopeDenied(self.scope.value)
        await security.tracker.accepted(principal, route=path)
        request.state.principal = principal
        request.state.console_csrf = row.csrf
        return principal


def dev_sign_in_allowed(request: Request, security: SecurityServices) -> bool:
    """The dev sign-in is offered only in the embedded default mode (dev issuer on) and only to a
    browser on a loopback address."""
    if security.dev_issuer is None or security.auth.external:
        return False
    if any(name in request.headers for name in PROXY_HEADERS):
        return False  # relayed by a proxy: the loopback peer address says nothing about the browser
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_login_token() -> str:
    """A random value for the sign-in form's double-submit cookie (login CSRF)."""
    return secrets.token_urlsafe(24)


def login_cookie_header(token: str) -> str:
    """The ``Set-Cookie`` value of the sign-in form's double-submit cookie."""
    return f"{LOGIN_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=900"


__all__ = [
    "CSRF_FIELD",
    "DEV_SIGN_IN_PATH",
    "LOGIN_COOKIE",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "SIGN_IN_PATHS",
    "ConsoleScope",
    "dev_sign_in_allowed",
    "form_csrf_ok",
    "login_cookie_header",
    "new_login_token",
    "read_form",
    "sign_in_redirect",
]
