"""POST /v1/ingest/x12: 202 after the commit, 400 problem+json naming interchange/segment/reason
with the good sets still accepted, auth, limits, and no canary PHI in any answer, log or audit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from testkit import REPO, find_canaries

from fallback.sqlite_spool import SqliteSpool
from gateway.app import create_app
from gateway.auth.deps import ScopeRequirement
from gateway.auth.scopes import Scope
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings

FIXTURES = REPO / "fixtures" / "x12"
X12 = {"Content-Type": "application/edi-x12"}


def _spooled(runtime: Runtime) -> int:
    async def depth() -> dict[str, dict[str, int]]:
        spool = SqliteSpool(runtime.settings.spool_file, runtime.spool._cipher)  # type: ignore[attr-defined]
        await spool.open()
        try:
            return await spool.depth()
        finally:
            await spool.aclose()

    return sum(sum(states.values()) for states in asyncio.run(depth()).values())


def _post(client: TestClient, headers: dict[str, str], name: str) -> object:
    return client.post("/v1/ingest/x12", content=(FIXTURES / name).read_bytes(), headers={**headers, **X12})


def test_good_file_is_answered_202_after_spooling_and_reposting_duplicates_nothing(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    response = _post(client, writer_headers, "denial-co97.835")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["new_tickets"] == 1 and body["duplicates"] == 0
    [ticket] = body["tickets"]
    assert ticket["ticket_id"].startswith("tkt_") and ticket["duplicate"] is False
    assert _spooled(runtime) == 1
    again = _post(client, writer_headers, "denial-co97.835")
    assert again.status_code == 202
    assert again.json()["tickets"] == [{**ticket, "duplicate": True}]
    assert _spooled(runtime) == 1
    assert find_canaries(response.text + again.text) == []


def test_evidence_only_file_is_accepted_without_tickets(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    response = _post(client, writer_headers, "277ca-accepted.277")
    assert response.status_code == 202
    assert response.json()["tickets"] == [] and response.json()["evidence"] >= 1
    assert _spooled(runtime) == 0


def test_bad_set_gets_problem_json_and_the_good_claim_is_still_accepted(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    raw = (FIXTURES / "bad-se-count.835").read_bytes()
    response = client.post("/v1/ingest/x12", content=raw, headers={**writer_headers, **X12})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "input.x12"
    first = problem["problems"][0]
    assert first["field"].startswith("interchange 000000107, segment ")
    assert "SE01 says 99 segments" in first["message"]
    assert len(problem["accepted"]) == 1 and problem["accepted"][0]["duplicate"] is False
    assert _spooled(runtime) == 1, "the good claim of the file is durably spooled"
    assert runtime.quarantine.read(problem["quarantine_id"]) == raw
    assert find_canaries(response.text) == [] and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"not": "x12"}', "input.x12.not_x12"),
        (b"", "input.x12.not_x12"),
        (b"ISA*00*short~", "input.x12"),
    ],
    ids=["json", "empty", "broken-isa"],
)
def test_unreadable_bodies_are_400_and_quarantined(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str], body: bytes, code: str
) -> None:
    response = client.post("/v1/ingest/x12", content=body, headers={**writer_headers, **X12})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["accepted"] == []
    assert runtime.quarantine.read(response.json()["quarantine_id"]) == body
    assert _spooled(runtime) == 0


@pytest.mark.parametrize("case", ["none", "garbage", "wrong_scope"])
def test_x12_route_requires_events_write(client: TestClient, runtime: Runtime, case: str) -> None:
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "wrong_scope": {"Authorization": f"Bearer {runtime.issuer.mint('r', ['tickets:read'])}"},
    }[case]
    response = _post(client, headers, "denial-co97.835")
    assert response.status_code == (403 if case == "wrong_scope" else 401)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _spooled(runtime) == 0


def test_route_is_guarded_by_the_events_write_scope(settings: Settings) -> None:
    scopes = []
    for context in iter_route_contexts(create_app(settings).routes):
        if str(context.path) != "/v1/ingest/x12":
            continue
        stack = [context.dependant]
        while stack:
            current = stack.pop()
            if isinstance(current.call, ScopeRequirement):
                scopes.append(current.call.scope)
            stack.extend(current.dependencies)
    assert scopes == [Scope.EVENTS_WRITE]


@pytest.fixture
def small_client(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Runtime]]:
    settings = get_settings(home=home, max_body_bytes=1024, x12={"max_body_bytes": 2048})
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as test_client:
        yield test_client, runtime


def test_body_over_the_x12_limit_is_413(small_client: tuple[TestClient, Runtime]) -> None:
    client, runtime = small_client
    headers = {"Authorization": f"Bearer {runtime.issuer.mint('w', ['events:write'])}", **X12}
    fits = (FIXTURES / "denial-co97.835").read_bytes() + b"\n" * 600  # layout between interchanges
    assert 1024 < len(fits) < 2048, "the x12 limit, larger than the general one, applies"
    assert client.post("/v1/ingest/x12", content=fits, headers=headers).status_code == 202
    response = client.post("/v1/ingest/x12", content=fits * 3, headers=headers)
    assert response.status_code == 413 and response.json()["code"] == "input.too_large"


def test_canary_phi_reaches_no_log_audit_or_spool(
    client: TestClient,
    runtime: Runtime,
    writer_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    texts = []
    for name in sorted(p.name for p in FIXTURES.iterdir()):
        texts.append(_post(client, writer_headers, name).text)
    client.close()
    assert find_canaries("".join(texts)) == []
    assert find_canaries(caplog.text) == []
    for path in (runtime.settings.home / "audit").iterdir():
        assert find_canaries(path.read_bytes()) == [], path.name
    for path in (runtime.settings.home / "spool").iterdir():
        assert find_canaries(path.read_bytes()) == [], path.name
    assert list((runtime.settings.home / "tmp").iterdir()) == []
