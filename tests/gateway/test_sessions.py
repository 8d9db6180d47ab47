"""People's sessions: cookie attributes, 15 min idle and 12 h absolute timeouts on a controllable
clock, logout everywhere, CSRF on state-changing requests, audit of each, last use recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event

from gateway.auth.roles import Role, scopes_for
from gateway.auth.services import SecurityServices
from gateway.auth.sessions import CSRF_HEADER, SESSION_COOKIE, NewSession
from gateway.runtime import Runtime


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    fake = Clock()
    assert runtime.security is not None
    runtime.security.store.clock = fake
    return fake


def _security(runtime: Runtime) -> SecurityServices:
    assert runtime.security is not None
    return runtime.security


def _sign_in(runtime: Runtime, *roles: Role, subject: str = "pat.analyst@hospital.example") -> NewSession:
    return _security(runtime).sessions.create(
        subject, [r.value for r in roles], scopes_for(roles), saml_session_index="_idx1"
    )


def _cookie(session: NewSession) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={session.session_id}"}


def test_cookie_is_secure_httponly_strict(runtime: Runtime) -> None:
    header = _security(runtime).sessions.cookie_header("abc")
    assert header.startswith(f"{SESSION_COOKIE}=abc;")
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in header.split(";")}


def test_session_reads_without_csrf_but_writes_need_it(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    session = _sign_in(runtime, Role.SECURITY_AUDITOR, Role.IT_INTEGRATION)
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 200
    assert client.post("/v1/events", json=canary_event(), headers=_cookie(session)).status_code == 403
    wrong = {**_cookie(session), CSRF_HEADER: "not-the-token"}
    assert client.post("/v1/events", json=canary_event(), headers=wrong).status_code == 403
    good = {**_cookie(session), CSRF_HEADER: session.csrf_token}
    assert client.post("/v1/events", json=canary_event(), headers=good).status_code == 202
    assert [r.outcome for r in runtime.audit.records(event="csrf.rejected")] == ["denied", "denied"]
    spooled = runtime.audit.records(event="input.spooled")
    assert spooled


def test_idle_timeout_after_15_minutes(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    session = _sign_in(runtime, Role.SECURITY_AUDITOR)
    clock.advance(minutes=14, seconds=59)
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 200
    clock.advance(minutes=14, seconds=59)  # activity restarted the idle clock
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 200
    clock.advance(minutes=15)
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 401
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 401  # gone, not revived
    timeouts = runtime.audit.records(event="session.timeout")
    assert [(r.actor, r.details["reason"]) for r in timeouts] == [
        ("user:pat.analyst@hospital.example", "idle_timeout")
    ]


def test_absolute_timeout_after_12_hours_despite_activity(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    session = _sign_in(runtime, Role.SECURITY_AUDITOR)
    for _ in range(12 * 6 - 1):
        clock.advance(minutes=10)
        assert client.get("/v1/audit", headers=_cookie(session)).status_code == 200
    clock.advance(minutes=10)
    response = client.get("/v1/audit", headers=_cookie(session))
    assert response.status_code == 401 and response.json()["detail"] == "a valid bearer token is required"
    assert runtime.audit.records(event="session.timeout")[0].details["reason"] == "absolute_timeout"


def test_logout_ends_the_session_everywhere(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    laptop = _sign_in(runtime, Role.SECURITY_AUDITOR)
    desktop = _sign_in(runtime, Role.SECURITY_AUDITOR)
    other = _sign_in(runtime, Role.SECURITY_AUDITOR, subject="someone.else@hospital.example")
    assert _security(runtime).sessions.end_everywhere("pat.analyst@hospital.example") == 2
    assert client.get("/v1/audit", headers=_cookie(laptop)).status_code == 401
    assert client.get("/v1/audit", headers=_cookie(desktop)).status_code == 401
    assert client.get("/v1/audit", headers=_cookie(other)).status_code == 200


def test_session_role_without_the_scope_is_forbidden(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    session = _sign_in(runtime, Role.BILLING_SPECIALIST)
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 403
    denied = runtime.audit.records(event="scope.denied")
    assert denied[-1].actor == "user:pat.analyst@hospital.example"


def test_forged_or_huge_cookie_is_401(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    for value in ("nope", "x" * 5000):
        response = client.get("/v1/audit", headers={"Cookie": f"{SESSION_COOKIE}={value}"})
        assert response.status_code == 401
    reasons = [r.details["reason"] for r in runtime.audit.records(event="token.rejected")]
    assert reasons == ["no_session", "no_session"]


def test_last_use_is_recorded_for_people_and_services(
    client: TestClient, runtime: Runtime, clock: Clock, writer_headers: dict[str, str]
) -> None:
    session = _sign_in(runtime, Role.SECURITY_AUDITOR)
    assert client.get("/v1/audit", headers=_cookie(session)).status_code == 200
    assert client.post("/v1/events", json=canary_event(), headers=writer_headers).status_code == 202
    seen = {(p.kind, p.principal_id): p for p in _security(runtime).store.principals()}
    assert seen[("person", "pat.analyst@hospital.example")].roles == ("security_auditor",)
    assert seen[("service", "writer")].last_used == clock.now
