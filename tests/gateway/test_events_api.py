"""POST /v1/events: auth, acceptance after commit, and specific, PHI-free errors."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from testkit import REPO, canary_event, find_canaries

from gateway.runtime import Runtime


def _spooled(runtime: Runtime) -> int:
    depth = asyncio.run(_depth(runtime))
    return sum(sum(states.values()) for states in depth.values())


async def _depth(runtime: Runtime) -> dict[str, dict[str, int]]:
    from fallback.sqlite_spool import SqliteSpool

    spool = SqliteSpool(runtime.settings.spool_file, runtime.spool._cipher)  # type: ignore[attr-defined]
    await spool.open()
    try:
        return await spool.depth()
    finally:
        await spool.aclose()


def test_accepted_event_is_spooled_and_answered_202(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    response = client.post("/v1/events", json=canary_event(), headers=writer_headers)
    assert response.status_code == 202
    body = response.json()
    assert (
        body["status"] == "accepted" and body["ticket_id"].startswith("tkt_") and body["duplicate"] is False
    )
    assert _spooled(runtime) == 1
    again = client.post("/v1/events", json=canary_event(), headers=writer_headers)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["ticket_id"] == body["ticket_id"]
    assert _spooled(runtime) == 1


@pytest.mark.parametrize("case", ["none", "garbage", "expired", "wrong_scope", "wrong_audience", "basic"])
def test_requests_without_an_acceptable_token_are_refused_and_spool_nothing(
    client: TestClient, runtime: Runtime, case: str
) -> None:
    issuer = runtime.issuer
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": {"Authorization": f"Bearer {issuer.mint('w', ['events:write'], ttl=60, not_before=0)}"},
        "wrong_scope": {"Authorization": f"Bearer {issuer.mint('r', ['tickets:read'])}"},
        "wrong_audience": {"Authorization": "Bearer " + _foreign_audience_token(runtime)},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[case]
    if case == "expired":
        headers = {"Authorization": "Bearer " + _expired_token(runtime)}
    response = client.post("/v1/events", json=canary_event(), headers=headers)
    expected = 403 if case == "wrong_scope" else 401
    assert response.status_code == expected
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == ("auth.scope" if expected == 403 else "auth.failed")
    assert "WWW-Authenticate" in response.headers
    assert _spooled(runtime) == 0


def _expired_token(runtime: Runtime) -> str:
    from gateway.auth.tokens import DevIssuer

    past = DevIssuer(
        runtime.keys.issuer_key,
        issuer=runtime.settings.token_issuer,
        audience=runtime.settings.token_audience,
        clock=lambda: 1_000_000_000,
    )
    return past.mint("w", ["events:write"], ttl=60)


def _foreign_audience_token(runtime: Runtime) -> str:
    from gateway.auth.tokens import DevIssuer

    other = DevIssuer(runtime.keys.issuer_key, issuer=runtime.settings.token_issuer, audience="another-api")
    return other.mint("w", ["events:write"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (json.dumps({**canary_event(), "patient_name": "ZEBEDIAH QUIXOTE"}), 400, "patient_name"),
        (json.dumps({**canary_event(), "Zebediah Quixote": 1}), 400, "<unknown field>"),
        (json.dumps({**canary_event(), "amounts": {"billed": "219-09-9999"}}), 400, "amounts.billed"),
        (json.dumps({**canary_event(), "source": {}}), 400, "source.system"),
        (json.dumps({**canary_event(), "occurred_at": "2026-01-01T10:00:00"}), 400, "occurred_at"),
        (json.dumps(canary_event())[:-25], 400, "<body>"),
        ("[]", 400, "<body>"),
    ],
)
def test_bad_events_get_problem_json_naming_the_field_without_echoing_phi(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str], body: str, status: int, field: str
) -> None:
    response = client.post(
        "/v1/events", content=body.encode(), headers={**writer_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "input.rejected"
    assert field in [item["field"] for item in problem["problems"]]
    assert problem["quarantine_id"].startswith("q_")
    assert find_canaries(response.text) == []
    assert "Traceback" not in response.text
    assert _spooled(runtime) == 0
    quarantined = runtime.quarantine.read(problem["quarantine_id"])
    assert quarantined == body.encode(), "the rejected body is kept (encrypted), not dropped"


def test_oversize_body_is_refused_with_413(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    big = json.dumps({**canary_event(), "note": "x" * (runtime.settings.max_body_bytes + 1)})
    response = client.post(
        "/v1/events", content=big.encode(), headers={**writer_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "input.too_large"
    assert _spooled(runtime) == 0


def test_health_routes_are_open_and_ready_checks_the_spool(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_unknown_route_is_a_problem_not_a_stack(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_sample_fixture_is_accepted(client: TestClient, writer_headers: dict[str, str]) -> None:
    body = (REPO / "fixtures/events/denial-co97.json").read_bytes()
    response = client.post(
        "/v1/events", content=body, headers={**writer_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 202
