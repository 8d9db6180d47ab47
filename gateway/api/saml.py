"""SAML 2.0 sign-in routes for people: ``/saml/metadata``, ``/saml/login``, ``/saml/acs``,
``/saml/logout``, ``/saml/sls``.

These are the sign-in routes (`SIGN_IN_PATHS`): they cannot require a scope because they are how a
person gets one; each authenticates what it receives itself (a signed SAML message, or the session
cookie plus the CSRF token for ``/saml/logout``). They answer 404 when SAML is not configured.
Failures are a generic 401 and a ``sign_in.failed`` audit record with the reason code.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from gateway.auth.deps import security_of
from gateway.auth.errors import AuthenticationFailed, CsrfRejected
from gateway.auth.saml_sp import SamlServiceProvider
from gateway.auth.sessions import CSRF_HEADER, SESSION_COOKIE
from gateway.runtime import Runtime

router = APIRouter(prefix="/saml", tags=["sign-in"])
SIGN_IN_PATHS = frozenset({"/saml/metadata", "/saml/login", "/saml/acs", "/saml/logout", "/saml/sls"})
CSRF_COOKIE = "__Host-rcmgw_csrf"
MAX_FORM_BYTES = 4 * 1024 * 1024


def _sp(request: Request) -> SamlServiceProvider:
    saml = security_of(request).saml
    if saml is None:
        raise HTTPException(404)
    return saml


@router.get("/metadata", summary="Our SAML SP metadata")
async def metadata(request: Request) -> Response:
    """The SP metadata XML for the IdP administrator."""
    return Response(_sp(request).metadata(), media_type="application/samlmetadata+xml")


HOME_PATH = "/console/"
"""Where a person lands after SAML sign-in: the operator console."""
SIGNED_OUT_PATH = "/console/login"
"""Where a person lands after single logout."""


@router.get("/login", summary="Start SAML sign-in")
async def login(request: Request) -> RedirectResponse:
    """Redirect to the IdP with a signed AuthnRequest."""
    return RedirectResponse(_sp(request).login_url("/"), status_code=303)


@router.post("/acs", summary="SAML assertion consumer service")
async def acs(request: Request) -> Response:
    """Check the IdP's response; on success start a session (cookie) and go to the console."""
    sp = _sp(request)
    runtime: Runtime = request.app.state.runtime
    security = security_of(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        await runtime.audit.record(
            "sign_in.failed", actor="anonymous", outcome="denied", reason="saml_too_large"
        )
        raise AuthenticationFailed("saml_too_large")
    form = await request.form(max_files=0, max_fields=4, max_part_size=MAX_FORM_BYTES)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        user = sp.acs(fields)
    except AuthenticationFailed as error:
        await runtime.audit.record("sign_in.failed", actor="anonymous", outcome="denied", reason=error.reason)
        raise
    session = security.sessions.create(
        user.subject, user.roles, user.scopes, saml_session_index=user.session_index
    )
    await runtime.audit.record(
        "sign_in",
        actor=f"user:{user.subject}",
        roles=",".join(sorted(user.roles)),
        session=session.row.id_hash[:16],
    )
    response = RedirectResponse(f"{sp.base_url}{HOME_PATH}", status_code=303)
    response.headers.append("Set-Cookie", security.sessions.cookie_header(session.session_id))
    response.headers.append(
        "Set-Cookie", f"{CSRF_COOKIE}={session.csrf_token}; Path=/; Secure; SameSite=Strict"
    )
    return response


@router.post("/logout", summary="Sign out everywhere")
async def logout(request: Request) -> Response:
    """End every session of the signed-in person (cookie + CSRF token) and log out at the IdP."""
    sp = _sp(request)
    runtime: Runtime = request.app.state.runtime
    security = security_of(request)
    row = await security.sessions.aresolve(request.cookies.get(SESSION_COOKIE, ""))
    if not security.sessions.csrf_ok(row, request.headers.get(CSRF_HEADER)):
        raise CsrfRejected()
    ended = security.sessions.end_everywhere(row.subject)
    await runtime.audit.record("sign_out", actor=f"user:{row.subject}", sessions_ended=ended)
    response = RedirectResponse(sp.logout_url(row.subject, row.saml_session_index), status_code=303)
    response.headers.append("Set-Cookie", security.sessions.clearing_cookie_header())
    return response


@router.get("/sls", summary="SAML single logout service")
async def sls(request: Request) -> Response:
    """The IdP's LogoutResponse (after our logout) or LogoutRequest (logout started elsewhere)."""
    sp = _sp(request)
    runtime: Runtime = request.app.state.runtime
    query = dict(request.query_params)
    try:
        subject = sp.idp_logout_subject(query)
        url = sp.process_slo(query)
    except AuthenticationFailed as error:
        await runtime.audit.record(
            "sign_out.failed", actor="anonymous", outcome="denied", reason=error.reason
        )
        raise
    if subject is not None:
        ended = security_of(request).sessions.end_everywhere(subject)
        await runtime.audit.record("sign_out", actor=f"user:{subject}", sessions_ended=ended, by="idp")
    return RedirectResponse(url or f"{sp.base_url}{SIGNED_OUT_PATH}", status_code=303)
