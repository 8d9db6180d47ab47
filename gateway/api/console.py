"""The operator console's routes (``/console/...``): server-rendered pages, plain HTML forms.

Each page depends on a `ConsoleScope` (a signed-in person holding the scope); the sign-in routes
(`SIGN_IN_PATHS`) authenticate what they receive themselves. Changes (replay, purge) take two POSTs:
the first renders a confirmation page, the second (``confirm=yes``) acts; both carry the session's
CSRF token. Every change and every payload view is audited with the person.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fallback.spool import EntryState
from gateway import spool_ops
from gateway.auth.deps import security_of
from gateway.auth.errors import AuthenticationFailed, SessionExpired
from gateway.auth.roles import Role, parse_roles, scopes_for
from gateway.auth.scopes import Scope
from gateway.auth.sessions import SESSION_COOKIE
from gateway.auth.tokens import Principal
from gateway.console import forms, views
from gateway.console.access import (
    LOGIN_COOKIE,
    LOGIN_PATH,
    ConsoleScope,
    dev_sign_in_allowed,
    form_csrf_ok,
    login_cookie_header,
    new_login_token,
    read_form,
)
from gateway.console.render import page
from gateway.dataflow import build_dataflow
from gateway.runtime import Runtime

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
SpoolReader = Annotated[Principal, Depends(ConsoleScope(Scope.SPOOL_READ))]
SpoolReplayer = Annotated[Principal, Depends(ConsoleScope(Scope.SPOOL_REPLAY))]
TicketsReader = Annotated[Principal, Depends(ConsoleScope(Scope.TICKETS_READ))]
AuditReader = Annotated[Principal, Depends(ConsoleScope(Scope.AUDIT_READ))]
CSRF_COOKIE = "__Host-rcmgw_csrf"
REPLAY_ALL_LIMIT = 10_000
HOME_BY_SCOPE = (
    (Scope.SPOOL_READ, "/console/"),
    (Scope.TICKETS_READ, "/console/tickets"),
    (Scope.AUDIT_READ, "/console/audit"),
)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def home_for(scopes: frozenset[str]) -> str:
    """The first page a person with ``scopes`` may open."""
    for scope, url in HOME_BY_SCOPE:
        if scope.value in scopes or Scope.ADMIN.value in scopes:
            return url
    return "/console/tickets"


# -- sign-in ----------------------------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request) -> Response:
    """The sign-in page: SAML when configured, the dev sign-in in the embedded default mode."""
    security = security_of(request)
    token = new_login_token()
    response = page(
        request,
        "login.html",
        saml=security.saml is not None,
        dev=dev_sign_in_allowed(request, security),
        roles=[role.value for role in Role],
        login_token=token,
    )
    response.headers.append("Set-Cookie", login_cookie_header(token))
    return response


@router.post("/login/dev")
async def dev_sign_in(request: Request) -> Response:
    """Start a session for a named person with one role (embedded default mode, loopback only)."""
    security = security_of(request)
    runtime = _runtime(request)
    if not dev_sign_in_allowed(request, security):
        await runtime.audit.record(
            "sign_in.failed", actor="anonymous", outcome="denied", reason="dev_sign_in_off"
        )
        raise HTTPException(404)
    form = await read_form(request)
    presented, expected = form.get("login_token"), request.cookies.get(LOGIN_COOKIE)
    if not isinstance(presented, str) or not expected or presented != expected:
        await runtime.audit.record("sign_in.failed", actor="anonymous", outcome="denied", reason="login_csrf")
        raise HTTPException(400, "sign-in form expired; reload the page")
    user = forms.text(str(form.get("user") or ""), max_length=64)
    roles = parse_roles([str(form.get("role") or "")])
    if user is None or not user.replace(".", "").replace("-", "").replace("_", "").isalnum() or not roles:
        raise HTTPException(400, "name a user (letters, digits, . - _) and a role")
    scopes = scopes_for(roles)
    session = security.sessions.create(user, [r.value for r in roles], scopes, saml_session_index=None)
    await runtime.audit.record(
        "sign_in",
        actor=f"user:{user}",
        roles=",".join(sorted(r.value for r in roles)),
        session=session.row.id_hash[:16],
        method="dev",
    )
    response = _see_other(home_for(scopes))
    response.headers.append("Set-Cookie", security.sessions.cookie_header(session.session_id))
    response.headers.append(
        "Set-Cookie", f"{CSRF_COOKIE}={session.csrf_token}; Path=/; Secure; SameSite=Strict"
    )
    response.headers.append(
        "Set-Cookie", f"{LOGIN_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End every session of the signed-in person (session cookie + the form's CSRF token); with
    SAML, log out at the IdP too."""
    security = security_of(request)
    runtime = _runtime(request)
    try:
        row = await security.sessions.aresolve(request.cookies.get(SESSION_COOKIE, ""))
    except (AuthenticationFailed, SessionExpired):  # no live session: nothing to end
        return _see_other(LOGIN_PATH)
    if not form_csrf_ok(row.csrf, await read_form(request)):
        await runtime.audit.record(
            "csrf.rejected", actor=f"user:{row.subject}", outcome="denied", route="/console/logout"
        )
        raise HTTPException(403, "CSRF token missing or wrong")
    ended = security.sessions.end_everywhere(row.subject)
    await runtime.audit.record("sign_out", actor=f"user:{row.subject}", sessions_ended=ended, by="console")
    target = LOGIN_PATH
    if security.saml is not None and row.saml_session_index is not None:
        target = security.saml.logout_url(row.subject, row.saml_session_index)
    response = _see_other(target)
    response.headers.append("Set-Cookie", security.sessions.clearing_cookie_header())
    return response


# -- overview, dead letters and retries ----------------------------------------------------------
@router.get("/")
async def overview(request: Request, principal: SpoolReader) -> HTMLResponse:
    """Intake per source and minute, spool per sink, circuits, services."""
    return page(request, "overview.html", **await views.overview(_runtime(request)))


@router.get("/entries")
async def entries(  # noqa: PLR0917 - query parameters
    request: Request,
    principal: SpoolReader,
    state: str | None = None,
    sink: str | None = None,
    category: str | None = None,
    since: str | None = None,
    until: str | None = None,
    replayed: int | None = None,
) -> HTMLResponse:
    """Dead letters (default) or entries in any state, filtered, one page at a time."""
    filters = views.EntryFilter(
        state=forms.state(state, EntryState.DEAD),
        sink=forms.text(sink),
        category=forms.text(category),
        since=forms.moment(since),
        until=forms.moment(until),
    )
    rows, next_since = await views.entry_page(_runtime(request), filters)
    next_url = None
    if next_since is not None:
        params = {"state": state or "", "sink": sink or "", "category": category or "", "until": until or ""}
        next_url = "/console/entries?" + urlencode({**params, "since": next_since.isoformat()})
    return page(
        request,
        "entries.html",
        rows=rows,
        filters=filters,
        state_value=state or "dead",
        states=["dead", "pending", "leased", "delivered", "any"],
        form={"sink": sink or "", "category": category or "", "since": since or "", "until": until or ""},
        next_url=next_url,
        replayed=replayed,
        can_replay=principal.has(Scope.SPOOL_REPLAY.value),
    )


@router.get("/entries/{entry_id}")
async def entry(request: Request, principal: SpoolReader, entry_id: str) -> HTMLResponse:
    """One entry: metadata and the PHI-free payload exactly as delivered (audited)."""
    forms.entry_ids([entry_id])
    runtime = _runtime(request)
    shown = await views.entry_view(runtime, principal, entry_id)
    if shown is None:
        raise HTTPException(404, "no such entry")
    await runtime.audit.record(
        "console.payload_viewed",
        actor=principal.actor,
        entry_id=entry_id,
        withheld=shown["withheld"] is not None,
    )
    return page(request, "entry.html", can_replay=principal.has(Scope.SPOOL_REPLAY.value), **shown)


@router.post("/entries/replay")
async def replay(request: Request, principal: SpoolReplayer) -> Response:
    """Replay the checked entries, or (``all_matching=yes``) every dead letter matching the
    filter fields (at most `REPLAY_ALL_LIMIT`): first a confirmation page, then (``confirm=yes``)
    the replay of what matches at that moment."""
    runtime = _runtime(request)
    form = await read_form(request)
    ids = forms.entry_ids([str(v) for v in form.getlist("entry_id")])
    matching = form.get("all_matching") == "yes"
    fields = {name: str(form.get(name) or "") for name in ("sink", "category", "since", "until")}
    if matching:
        dead = views.EntryFilter(
            sink=forms.text(fields["sink"]),
            category=forms.text(fields["category"]),
            since=forms.moment(fields["since"]),
            until=forms.moment(fields["until"]),
        )
        selected = await spool_ops.select(runtime.spool, dead.query(REPLAY_ALL_LIMIT), all_dead=True)
    elif ids:
        selected = await spool_ops.select(runtime.spool, views.EntryFilter().query(), entry_ids=ids)
    else:
        raise HTTPException(400, "check at least one entry")
    if form.get("confirm") != "yes":
        return page(
            request,
            "confirm_replay.html",
            rows=selected,
            matching=matching,
            fields=fields,
            limit=REPLAY_ALL_LIMIT,
        )
    done = await spool_ops.replay(runtime.spool, selected, audit=runtime.audit, actor=principal.actor)
    if done:
        runtime.notify()
    return _see_other(f"/console/entries?{urlencode({'replayed': len(done)})}")


@router.post("/spool/purge")
async def purge(request: Request, principal: SpoolReplayer) -> Response:
    """Purge settled entries older than N days: confirmation page, then the purge (audited)."""
    runtime = _runtime(request)
    form = await read_form(request)
    days = forms.number(str(form.get("older_than_days") or ""), default=30, low=0, high=3650)
    states = [forms.state(str(v), None) for v in form.getlist("state")] or [EntryState.DELIVERED]
    chosen = [s for s in states if s in (EntryState.DELIVERED, EntryState.DEAD)]
    if len(chosen) != len(states):
        raise HTTPException(400, "only delivered and dead entries can be purged")
    if form.get("confirm") != "yes":
        cutoff = datetime.now(UTC) - timedelta(days=days)
        return page(request, "confirm_purge.html", days=days, states=[s.value for s in chosen], cutoff=cutoff)
    result = await spool_ops.purge(
        runtime.spool,
        older_than=timedelta(days=days),
        states=chosen,
        audit=runtime.audit,
        actor=principal.actor,
    )
    return page(request, "purged.html", result=result)


# -- tickets, audit, data flow, anomalies ---------------------------------------------------------
@router.get("/tickets")
async def tickets(  # noqa: PLR0917 - query parameters
    request: Request,
    principal: TicketsReader,
    fingerprint: str | None = None,
    category: str | None = None,
    payer: str | None = None,
    code: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> HTMLResponse:
    """Ticket search (only tickets the person may see)."""
    filters = views.TicketFilter(
        fingerprint=forms.fingerprint(fingerprint),
        category=forms.text(category),
        payer=forms.text(payer),
        code=forms.text(code),
        since=forms.moment(since),
        until=forms.moment(until),
    )
    rows, scanned = await views.ticket_search(_runtime(request), principal, filters)
    form = {"fingerprint": fingerprint, "category": category, "payer": payer, "code": code}
    form |= {"since": since, "until": until}
    return page(
        request,
        "tickets.html",
        rows=rows,
        scanned=scanned,
        scan_limit=views.TICKET_SCAN,
        form={k: v or "" for k, v in form.items()},
    )


@router.get("/tickets/{fingerprint}")
async def ticket_history(request: Request, principal: TicketsReader, fingerprint: str) -> HTMLResponse:
    """Occurrence history of one fingerprint (lifecycle store)."""
    value = forms.fingerprint(fingerprint)
    if value is None or len(value) != 35:
        raise HTTPException(400, "a full fingerprint is needed")
    state = await views.occurrence_history(_runtime(request), value)
    return page(request, "ticket_history.html", fingerprint=value, state=state)


@router.get("/audit")
async def audit(  # noqa: PLR0917 - query parameters
    request: Request,
    principal: AuditReader,
    actor: str | None = None,
    event: str | None = None,
    since: str | None = None,
    until: str | None = None,
    after_seq: int | None = None,
    verify: str | None = None,
) -> HTMLResponse:
    """Audit records with filters; ``verify=1`` recomputes the chain."""
    runtime = _runtime(request)
    filters = views.AuditFilter(
        actor=forms.text(actor, max_length=200),
        event=forms.text(event, max_length=64),
        since=forms.moment(since),
        until=forms.moment(until),
        after_seq=after_seq,
    )
    rows, next_seq = await views.audit_page(runtime, filters)
    form = {"actor": actor or "", "event": event or "", "since": since or "", "until": until or ""}
    next_url = None if next_seq is None else "/console/audit?" + urlencode({**form, "after_seq": next_seq})
    verified = await views.verify_audit(runtime) if verify == "1" else None
    return page(request, "audit.html", rows=rows, form=form, next_url=next_url, verified=verified)


@router.get("/dataflow")
async def dataflow(request: Request, principal: AuditReader) -> HTMLResponse:
    """The data-flow diagram of the running configuration (mermaid text and the edges)."""
    flow = build_dataflow(_runtime(request))
    return page(request, "dataflow.html", mermaid=flow.to_mermaid(), flow=flow)


@router.get("/anomalies")
async def anomalies(request: Request, principal: TicketsReader) -> HTMLResponse:
    """Current anomalies from the registered feed, or "not configured"."""
    rows = await views.anomalies(_runtime(request).anomaly_feed)
    return page(request, "anomalies.html", rows=rows)
