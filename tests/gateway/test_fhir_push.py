"""``POST /v1/adapters/{epic,cerner}`` and ``GET /.well-known/jwks.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fhirkit import canary_claim_response, canary_outcome, corpus_files, epic_warning, searchset
from gatewayproc import wait_until
from testkit import find_canaries

from gateway.runtime import Runtime

FHIR_JSON = {"Content-Type": "application/fhir+json"}
INVALID = {
    "hapifhir__failing-json-file.json": ("input.fhir_null", "_active.extension"),
    "hapifhir__entities-from-cerner.json": ("input.fhir_element", "text.status"),
}


def _outbox(runtime: Runtime) -> str:
    path = runtime.settings.outbox_file
    return path.read_text("utf-8") if path.exists() else ""


def test_a_pushed_canary_bundle_is_spooled_and_no_phi_leaks(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": canary_claim_response()}, {"resource": canary_outcome()}],
    }
    response = client.post(
        "/v1/adapters/epic", content=json.dumps(bundle), headers={**writer_headers, **FHIR_JSON}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert len(body["tickets"]) == 2 and body["quarantined"] == []
    assert find_canaries(response.text) == []
    wait_until(lambda: _outbox(runtime).count("\n") >= 2, 10, "two delivered tickets")
    outbox = _outbox(runtime)
    assert find_canaries(outbox) == []
    assert find_canaries(caplog.text) == []
    assert (
        find_canaries(runtime.settings.log_path.read_bytes() if runtime.settings.log_path.exists() else b"")
        == []
    )
    tickets = [json.loads(line) for line in outbox.splitlines()]
    by_category = {ticket["category"]: ticket for ticket in tickets}
    claim = by_category["claims-processing"]
    assert claim["codes"][0] == {"system": "FHIR-ADJ-ERROR", "code": "a002", "description": None}
    assert claim["source"]["format"] == "fhir" and claim["source"]["system"] == "epic"
    assert {subject["kind"] for subject in claim["subjects"]} >= {"MRN", "CLAIM", "DOB"}
    outcome = by_category["eligibility-registration"]  # expression Coverage.beneficiary
    assert outcome["codes"][0]["system"] == "FHIR-ISSUE"
    assert "[NAME:" in outcome["description"]  # diagnostics redacted, not dropped


def test_the_same_resource_twice_is_one_ticket(client: TestClient, writer_headers: dict[str, str]) -> None:
    body = json.dumps(canary_claim_response("CR-DUP"))
    first = client.post("/v1/adapters/cerner", content=body, headers={**writer_headers, **FHIR_JSON})
    second = client.post("/v1/adapters/cerner", content=body, headers={**writer_headers, **FHIR_JSON})
    assert first.status_code == second.status_code == 202
    assert first.json()["tickets"][0]["ticket_id"] == second.json()["tickets"][0]["ticket_id"]
    assert second.json()["tickets"][0]["duplicate"] is True


def test_a_search_bundle_with_an_epic_warning_becomes_a_low_priority_ticket(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    response = client.post(
        "/v1/adapters/epic",
        content=json.dumps(searchset([], outcomes=[epic_warning("4118", "Some data was filtered")])),
        headers={**writer_headers, **FHIR_JSON},
    )
    assert response.status_code == 202
    wait_until(lambda: "EPIC" in _outbox(runtime), 10, "the Epic warning ticket")
    ticket = json.loads(_outbox(runtime).splitlines()[0])
    assert ticket["codes"][0]["system"] == "EPIC" and ticket["codes"][0]["code"] == "4118"
    assert ticket["priority"] == "low" and "search-outcome" in ticket["tags"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<html><body>not json</body></html>", "input.fhir_json"),
        (b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error"', "input.fhir_json"),
        (b'{"issue": [{"severity": "error"}]}', "input.fhir_resource"),
        (b'{"resourceType": "OperationOutcome", "issue": [{"code": "invalid"}]}', "input.fhir_element"),
    ],
    ids=["html", "truncated", "no-resource-type", "issue-without-severity"],
)
def test_bad_bodies_get_a_specific_4xx_and_are_quarantined(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str], body: bytes, code: str
) -> None:
    response = client.post("/v1/adapters/epic", content=body, headers={**writer_headers, **FHIR_JSON})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == code and problem["problems"]
    assert runtime.quarantine.read(problem["quarantine_id"]) == body


def test_push_requires_events_write(client: TestClient, runtime: Runtime) -> None:
    body = json.dumps(canary_outcome())
    assert client.post("/v1/adapters/epic", content=body).status_code == 401
    reader = {"Authorization": f"Bearer {runtime.issuer.mint('reader', ['tickets:read'])}"}
    assert client.post("/v1/adapters/cerner", content=body, headers=reader).status_code == 403


def test_the_jwk_set_is_public_and_holds_only_public_keys(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert {key["alg"] for key in keys} == {"RS384", "ES384"}
    assert all(key["use"] == "sig" and key["kid"] for key in keys)
    assert not any(private in key for key in keys for private in ("d", "p", "q", "dp", "dq", "qi"))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: path.name)
def test_every_fhir_corpus_file_is_accepted_or_rejected_specifically(
    client: TestClient, writer_headers: dict[str, str], path: Path
) -> None:
    response = client.post(
        "/v1/adapters/epic", content=path.read_bytes(), headers={**writer_headers, **FHIR_JSON}
    )
    if path.name in INVALID:
        code, field = INVALID[path.name]
        assert response.status_code == 400
        problem = response.json()
        assert problem["code"] == code
        assert field in [item["field"] for item in problem["problems"]]
        return
    assert response.status_code == 202, response.text
    assert len(response.json()["tickets"]) >= 1


@pytest.mark.corpus
def test_the_corpus_has_its_nineteen_files() -> None:
    names = {path.name for path in corpus_files()}
    assert len(names) == 19 and set(INVALID) <= names
