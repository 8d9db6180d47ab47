"""POST /v1/phi/reidentify: off by default, scope phi:reidentify only, token in the body, every read
audited with the token and never the value."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from gatewayproc import wait_until
from testkit import CANARY, canary_event, find_canaries

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings


@pytest.fixture
def vault_runtime(settings: Settings) -> Runtime:
    enabled = get_settings(home=settings.home, delivery_poll_interval=0.05, redaction={"vault_enabled": True})
    return Runtime.build(enabled)


@pytest.fixture
def vault_client(vault_runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(vault_runtime.settings, vault_runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _headers(runtime: Runtime, *scopes: str, client: str = "analyst") -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.issuer.mint(client, list(scopes))}"}


def _delivered_ticket(client: TestClient, runtime: Runtime) -> dict[str, object]:
    response = client.post("/v1/events", json=canary_event(), headers=_headers(runtime, "events:write"))
    assert response.status_code == 202
    outbox = runtime.settings.outbox_file
    wait_until(lambda: outbox.exists() and outbox.read_text().strip() != "", 5.0, "the delivered ticket")
    ticket: dict[str, object] = json.loads(outbox.read_text().splitlines()[0])
    return ticket


def _subject(ticket: dict[str, object], kind: str) -> str:
    subjects = ticket["subjects"]
    assert isinstance(subjects, list)
    return str(next(item["token"] for item in subjects if item["kind"] == kind))


def test_the_vault_is_off_by_default(client: TestClient, runtime: Runtime) -> None:
    assert runtime.vault is None
    response = client.post(
        "/v1/phi/reidentify", json={"token": "[SSN:ABCD-EFGH]"}, headers=_headers(runtime, "phi:reidentify")
    )
    assert response.status_code == 404
    assert response.json()["code"] == "phi.vault_disabled"
    assert not (runtime.settings.home / "vault").exists()


def test_an_authorised_client_reads_a_token_and_the_read_is_audited(
    vault_client: TestClient, vault_runtime: Runtime
) -> None:
    ticket = _delivered_ticket(vault_client, vault_runtime)
    token = _subject(ticket, "SSN")
    response = vault_client.post(
        "/v1/phi/reidentify", json={"token": token}, headers=_headers(vault_runtime, "phi:reidentify")
    )
    assert response.status_code == 200
    assert response.json() == {"token": token, "kind": "SSN", "value": CANARY["ssn"]}
    assert response.headers["cache-control"] == "no-store"
    reads = vault_runtime.audit.records(event="phi.reidentified")
    assert [(r.actor, r.outcome, r.details["token"]) for r in reads] == [("analyst", "ok", token)]
    every_audit_record = json.dumps([(r.event, r.actor, r.details) for r in vault_runtime.audit.records()])
    assert find_canaries(every_audit_record) == []


def test_text_tokens_are_in_the_vault_too(vault_client: TestClient, vault_runtime: Runtime) -> None:
    ticket = _delivered_ticket(vault_client, vault_runtime)
    description = str(ticket["description"])
    phone_token = description.split("Call ", 1)[1].split(" ", 1)[0]
    response = vault_client.post(
        "/v1/phi/reidentify",
        json={"token": phone_token},
        headers=_headers(vault_runtime, "phi:reidentify"),
    )
    assert response.status_code == 200
    assert response.json()["value"] == CANARY["phone"]


def test_the_vault_file_holds_no_clear_value(vault_client: TestClient, vault_runtime: Runtime) -> None:
    _delivered_ticket(vault_client, vault_runtime)
    folder = vault_runtime.settings.home / "vault"
    data = b"".join(path.read_bytes() for path in folder.iterdir())
    assert data and find_canaries(data) == []


@pytest.mark.parametrize("scopes", [[], ["events:write"], ["tickets:read", "tickets:sensitive"]])
def test_other_scopes_are_refused_and_the_refusal_audited(
    vault_client: TestClient, vault_runtime: Runtime, scopes: list[str]
) -> None:
    ticket = _delivered_ticket(vault_client, vault_runtime)
    token = _subject(ticket, "SSN")
    response = vault_client.post(
        "/v1/phi/reidentify", json={"token": token}, headers=_headers(vault_runtime, *scopes)
    )
    assert response.status_code == 403
    assert find_canaries(response.text) == []
    assert vault_runtime.audit.records(event="phi.reidentified") == []
    denied = vault_runtime.audit.records(event="scope.denied")
    assert denied and denied[-1].details["required"] == "phi:reidentify"


def test_no_token_no_answer(vault_client: TestClient) -> None:
    response = vault_client.post("/v1/phi/reidentify", json={"token": "[SSN:ABCD-EFGH]"})
    assert response.status_code == 401


def test_unknown_tokens_are_404_and_audited(vault_client: TestClient, vault_runtime: Runtime) -> None:
    response = vault_client.post(
        "/v1/phi/reidentify",
        json={"token": "[SSN:ABCD-EFGH]"},
        headers=_headers(vault_runtime, "phi:reidentify"),
    )
    assert response.status_code == 404
    assert response.json()["code"] == "phi.token_unknown"
    assert [r.outcome for r in vault_runtime.audit.records(event="phi.reidentified")] == ["not_found"]


@pytest.mark.parametrize("body", [{"token": "123-45-6789"}, {"token": "[SSN:ABCD-EFGH]", "x": 1}, {}])
def test_only_a_token_shaped_body_is_accepted(
    vault_client: TestClient, vault_runtime: Runtime, body: dict[str, object]
) -> None:
    response = vault_client.post(
        "/v1/phi/reidentify", json=body, headers=_headers(vault_runtime, "phi:reidentify")
    )
    assert response.status_code == 400
    assert "123-45-6789" not in response.text
