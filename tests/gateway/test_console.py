"""The operator console in process: dev sign-in, scopes, CSRF, confirmation, audit, security
headers, and no canary PHI on any page."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries

from fallback.spool import DeadLetter, EntryInfo, EntryState
from gateway.app import create_app
from gateway.console.feeds import AnomalyRow, StaticAnomalyFeed
from gateway.runtime import Runtime
from gateway.settings import Settings

LOOPBACK = ("127.0.0.1", 50000)
PAGES = (
    "/console/",
    "/console/entries",
    "/console/entries?state=any",
    "/console/tickets",
    "/console/audit",
    "/console/audit?verify=1",
    "/console/dataflow",
    "/console/anomalies",
)


@pytest.fixture
def quiet_runtime(settings: Settings) -> Runtime:
    """A runtime whose delivery workers do not run: the test settles entries itself."""
    return Runtime.build(settings.model_copy(update={"delivery_enabled": False}))


@pytest.fixture
def console(settings: Settings, quiet_runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(settings, quiet_runtime)
    with TestClient(app, base_url="https://testserver", client=LOOPBACK, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, role: str, user: str = "alice") -> str:
    """Dev sign-in; returns the session's CSRF token (read from a page's form)."""
    page = client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token is not None, page.text
    r = client.post("/console/login/dev", data={"login_token": token.group(1), "user": user, "role": role})
    assert r.status_code == 303, r.text
    csrf = client.cookies.get("__Host-rcmgw_csrf")
    assert csrf
    return csrf


def dead_letter(client: TestClient, runtime: Runtime, event_id: str = "console-0001") -> str:
    """Ingest a canary event and settle its entry as a dead letter; returns the entry id."""
    token = runtime.issuer.mint("writer", ["events:write"])
    r = client.post(
        "/v1/events",
        json=canary_event(event_id, distinct=True),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 202, r.text

    async def settle() -> str:
        leased = await runtime.spool.lease("file", owner="t", limit=10, lease_for=timedelta(seconds=60))
        for entry in leased:
            await runtime.spool.settle(entry.entry_id, owner="t", outcome=DeadLetter("http.400"))
        return leased[0].entry_id

    assert client.portal is not None
    return client.portal.call(settle)


def _get(client: TestClient, runtime: Runtime, entry_id: str) -> EntryInfo | None:
    assert client.portal is not None
    return client.portal.call(runtime.spool.get, entry_id)


def test_pages_redirect_to_sign_in_without_a_session(console: TestClient) -> None:
    for path in PAGES:
        r = console.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/console/login", path


def test_dev_sign_in_only_from_loopback_in_embedded_mode(settings: Settings, quiet_runtime: Runtime) -> None:
    app = create_app(settings, quiet_runtime)
    with TestClient(app, base_url="https://testserver", client=("192.0.2.7", 4000)) as remote:
        assert "Dev sign-in" not in remote.get("/console/login").text
        r = remote.post("/console/login/dev", data={"user": "mallory", "role": "admin"})
        assert r.status_code == 404
    events = [r.details.get("reason") for r in quiet_runtime.audit.records(event="sign_in.failed")]
    assert "dev_sign_in_off" in events


def test_dev_sign_in_is_off_behind_a_proxy(console: TestClient) -> None:
    page = console.get("/console/login", headers={"X-Forwarded-For": "198.51.100.4"})
    assert "Dev sign-in" not in page.text


def test_dev_sign_in_is_off_with_an_external_issuer(settings: Settings, home: object) -> None:
    external = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"issuer_url": "https://idp.example"})}
    )
    runtime = Runtime.build(external.model_copy(update={"delivery_enabled": False}))
    with TestClient(create_app(external, runtime), base_url="https://testserver", client=LOOPBACK) as client:
        page = client.get("/console/login")
        assert "Dev sign-in" not in page.text
        assert client.post("/console/login/dev", data={"user": "a", "role": "admin"}).status_code == 404


def test_sign_in_needs_the_login_form_token(console: TestClient) -> None:
    console.get("/console/login")
    r = console.post("/console/login/dev", data={"login_token": "forged", "user": "eve", "role": "admin"})
    assert r.status_code == 400


def test_every_page_renders_with_security_headers_and_no_phi(
    console: TestClient, quiet_runtime: Runtime
) -> None:
    entry_id = dead_letter(console, quiet_runtime)
    sign_in(console, "admin")
    info = _get(console, quiet_runtime, entry_id)
    assert info is not None
    paths = [*PAGES, f"/console/entries/{entry_id}", f"/console/tickets/{info.fingerprint}", "/console/login"]
    for path in paths:
        r = console.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert find_canaries(r.content) == [], path
        csp = r.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert "<script" not in r.text
    payload = console.get(f"/console/entries/{entry_id}").text
    assert 'id="payload"' in payload and "&#34;fingerprint&#34;" in payload  # the sealed JSON, escaped


def test_replay_needs_confirmation_and_csrf_and_is_audited(
    console: TestClient, quiet_runtime: Runtime
) -> None:
    entry_id = dead_letter(console, quiet_runtime)
    csrf = sign_in(console, "on_call", user="bob")
    assert entry_id in console.get("/console/entries").text

    forged = console.post("/console/entries/replay", data={"entry_id": entry_id, "confirm": "yes"})
    assert forged.status_code == 403
    assert quiet_runtime.audit.records(event="csrf.rejected", actor="user:bob")

    confirm = console.post("/console/entries/replay", data={"entry_id": entry_id, "csrf_token": csrf})
    assert confirm.status_code == 200 and 'id="confirm-replay"' in confirm.text
    info = _get(console, quiet_runtime, entry_id)
    assert info is not None and info.state is EntryState.DEAD  # nothing happened yet

    done = console.post(
        "/console/entries/replay", data={"entry_id": entry_id, "csrf_token": csrf, "confirm": "yes"}
    )
    assert done.status_code == 303 and "replayed=1" in done.headers["location"]
    info = _get(console, quiet_runtime, entry_id)
    assert info is not None and info.state is EntryState.PENDING
    replayed = quiet_runtime.audit.records(event="spool.replayed", actor="user:bob")
    assert [r.details["entry_id"] for r in replayed] == [entry_id]
    assert console.get("/console/audit").status_code == 403  # on_call lacks audit:read


def test_roles_limit_pages(console: TestClient) -> None:
    sign_in(console, "billing_specialist", user="carol")
    assert console.get("/console/tickets").status_code == 200
    for path in ("/console/", "/console/entries", "/console/audit", "/console/dataflow"):
        assert console.get(path).status_code == 403, path


def test_security_auditor_reads_but_cannot_replay(console: TestClient, quiet_runtime: Runtime) -> None:
    entry_id = dead_letter(console, quiet_runtime)
    csrf = sign_in(console, "security_auditor", user="dave")
    page = console.get("/console/entries").text
    assert entry_id in page and "replay-selected" not in page
    r = console.post(
        "/console/entries/replay", data={"entry_id": entry_id, "csrf_token": csrf, "confirm": "yes"}
    )
    assert r.status_code == 403
    denied = quiet_runtime.audit.records(event="scope.denied", actor="user:dave")
    assert denied and denied[-1].details["required"] == "spool:replay"
    audit = console.get("/console/audit?verify=1&actor=user:dave")
    assert "intact" in audit.text and "scope.denied" in audit.text


def test_purge_confirms_then_purges_and_audits(console: TestClient, quiet_runtime: Runtime) -> None:
    csrf = sign_in(console, "admin")
    first = console.post(
        "/console/spool/purge", data={"csrf_token": csrf, "older_than_days": "0", "state": "dead"}
    )
    assert first.status_code == 200 and "confirm-purge" in first.text
    assert not quiet_runtime.audit.records(event="spool.purged")
    done = console.post(
        "/console/spool/purge",
        data={"csrf_token": csrf, "older_than_days": "0", "state": "dead", "confirm": "yes"},
    )
    assert done.status_code == 200 and 'id="purged"' in done.text
    assert quiet_runtime.audit.records(event="spool.purged", actor="user:alice")


def test_ticket_search_and_history(console: TestClient, quiet_runtime: Runtime) -> None:
    entry_id = dead_letter(console, quiet_runtime)
    sign_in(console, "admin")
    info = _get(console, quiet_runtime, entry_id)
    assert info is not None
    found = console.get("/console/tickets", params={"fingerprint": info.fingerprint[:10]})
    assert info.fingerprint in found.text
    assert info.fingerprint not in console.get("/console/tickets", params={"payer": "no-such-payer"}).text
    history = console.get(f"/console/tickets/{info.fingerprint}")
    assert history.status_code == 200 and "occurrences" in history.text
    assert console.get("/console/tickets", params={"since": "yesterday"}).status_code == 400


def test_anomalies_page_with_and_without_a_feed(console: TestClient, quiet_runtime: Runtime) -> None:
    sign_in(console, "revenue_integrity")
    assert "No current spikes." in console.get("/console/anomalies").text, "on by default, nothing yet"
    quiet_runtime.anomaly_feed = None
    assert "Anomaly detection not configured" in console.get("/console/anomalies").text
    quiet_runtime.anomaly_feed = StaticAnomalyFeed(
        [AnomalyRow("87726", "denial", "CO-97", datetime(2026, 1, 1, tzinfo=UTC), 47, 3.0, 9.1)]
    )
    page = console.get("/console/anomalies").text
    assert "87726" in page and "CO-97" in page and "47" in page


def test_sign_out_ends_the_session(console: TestClient, quiet_runtime: Runtime) -> None:
    csrf = sign_in(console, "admin")
    assert console.post("/console/logout", data={}).status_code == 403
    r = console.post("/console/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert console.get("/console/").status_code == 303
    assert quiet_runtime.audit.records(event="sign_out", actor="user:alice")


def test_overview_shows_each_services_own_health(console: TestClient, quiet_runtime: Runtime) -> None:
    class Poller:
        name = "fhir-poller:epic"

        async def start(self, runtime: Runtime) -> None: ...

        async def stop(self) -> None: ...

        def health(self) -> str:
            return "failing since 2026-01-01 10:00 UTC (fhir.unavailable)"

    quiet_runtime.services.append(Poller())
    sign_in(console, "it_integration")
    page = console.get("/console/").text
    assert "fhir-poller:epic" in page and "failing since 2026-01-01 10:00 UTC (fhir.unavailable)" in page
    assert "retention" in page and "running" in page


def test_fhir_poller_service_reports_not_started(settings: Settings) -> None:
    from gateway.fhir_service import FhirPollerService

    instance = object.__new__(type("Instance", (), {"name": "epic"}))
    assert FhirPollerService(settings, instance).health() == "not started"  # type: ignore[arg-type]


def test_replay_every_dead_letter_matching_a_filter(console: TestClient, quiet_runtime: Runtime) -> None:
    first = dead_letter(console, quiet_runtime, "console-m1")
    second = dead_letter(console, quiet_runtime, "console-m2")
    csrf = sign_in(console, "on_call", user="erin")
    fields = {
        "csrf_token": csrf,
        "all_matching": "yes",
        "sink": "file",
        "category": "",
        "since": "",
        "until": "",
    }
    confirm = console.post("/console/entries/replay", data=fields)
    assert confirm.status_code == 200 and first in confirm.text and second in confirm.text
    assert not quiet_runtime.audit.records(event="spool.replayed")
    done = console.post("/console/entries/replay", data={**fields, "confirm": "yes"})
    assert done.status_code == 303 and "replayed=2" in done.headers["location"]
    replayed = {
        r.details["entry_id"] for r in quiet_runtime.audit.records(event="spool.replayed", actor="user:erin")
    }
    assert replayed == {first, second}
    none_left = console.post("/console/entries/replay", data={**fields, "sink": "other"})
    assert 'id="confirm"' in none_left.text and first not in none_left.text


def test_ticket_search_by_payer_and_code_from_clear_phi_free_metadata(
    console: TestClient, quiet_runtime: Runtime, settings: Settings
) -> None:
    entry_id = dead_letter(console, quiet_runtime)
    sign_in(console, "admin")
    assert console.portal is not None
    ticket = console.portal.call(quiet_runtime.spool.read_ticket, entry_id)
    assert ticket is not None
    payload = ticket.payload
    assert payload.payer is not None and payload.payer.id and payload.codes
    code = payload.codes[0]
    for params in (
        {"payer": payload.payer.id},
        {"code": code.code},
        {"code": f"{code.system}:{code.code}"},
        {"payer": payload.payer.id, "code": code.code, "category": payload.category},
    ):
        found = console.get("/console/tickets", params=params)
        assert found.status_code == 200 and payload.fingerprint in found.text, params
    for params in ({"code": "no-such-code"}, {"payer": payload.payer.id, "category": "no.such"}):
        assert payload.fingerprint not in console.get("/console/tickets", params=params).text
    # the search metadata the spool keeps in clear holds no canary PHI
    conn = sqlite3.connect(settings.spool_file)
    try:
        clear = [
            *conn.execute("SELECT dedup_key, ticket_id, fingerprint, key_id, category, payer FROM payloads"),
            *conn.execute("SELECT dedup_key, term FROM payload_codes"),
        ]
    finally:
        conn.close()
    assert len(clear) > 1 and find_canaries(repr(clear)) == []


def test_a_browser_without_the_scope_gets_an_html_page_not_json(console: TestClient) -> None:
    """A person whose role lacks a page's scope sees a console page (their own navigation, the
    status, the scope needed) with the console's security headers; API clients still get
    problem+json for the same request."""
    html = {"Accept": "text/html,application/xhtml+xml"}
    signed_out = console.get("/console/audit", headers=html)  # the sign-in redirect stays a redirect
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/login"
    assert 'id="error"' not in signed_out.text
    sign_in(console, "billing_specialist", user="erin")
    r = console.get("/console/audit", headers=html)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert 'id="error"' in r.text and "audit:read" in r.text
    assert 'href="/console/tickets"' in r.text  # the pages this role may use
    assert 'href="/console/audit"' not in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    plain = console.get("/console/audit")
    assert plain.status_code == 403 and plain.headers["content-type"].startswith("application/problem+json")
    assert plain.json()["code"] == "auth.scope"


def test_a_bad_filter_names_what_is_wrong_on_the_page(console: TestClient) -> None:
    sign_in(console, "admin", user="frank")
    r = console.get("/console/entries?since=yesterday", headers={"Accept": "text/html"})
    assert r.status_code == 400 and "ISO 8601" in r.text and 'id="error"' in r.text
