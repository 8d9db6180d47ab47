"""End to end: a real ``rcmgw serve`` polls a fake FHIR server process over loopback HTTP, through
the real pipeline, to the file sink; the client assertion verifies against the gateway's own
public JWK Set; the cursor is committed; canary PHI reaches no channel."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fhirkit import canary_claim_response, corpus, epic_warning, searchset, stamped
from gatewayproc import start_gateway, wait_until
from joserfc import jwt
from joserfc.jwk import KeySet
from testkit import find_canaries

pytestmark = [pytest.mark.subprocess, pytest.mark.corpus]
FAKE = Path(__file__).with_name("fake_fhir_server.py")


@pytest.fixture
def fake_fhir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    page1 = searchset(
        [
            stamped(corpus("hapifhir__claimresponse-example-2.json"), "2026-11-19T10:00:00Z"),
            canary_claim_response("CR-E2E"),
        ],
        next_url="{BASE}/fhir/ClaimResponse?page=2",
        outcomes=[epic_warning("4118", "Some results were filtered")],
    )
    page2 = searchset(
        [stamped(corpus("herophilus__explanationofbenefit-example-2.json"), "2026-11-21T08:15:00Z")]
    )
    eob = searchset([stamped(corpus("hapifhir__claimresponse-example.json"), "2026-11-18T00:00:00Z")])
    routes = {
        "/fhir/ClaimResponse": page1,
        "/fhir/ClaimResponse?page=2": page2,
        "/fhir/ExplanationOfBenefit": eob,
    }
    routes_file, requests_file = tmp_path / "routes.json", tmp_path / "requests.jsonl"
    routes_file.write_text(json.dumps(routes), "utf-8")
    process = subprocess.Popen(
        [sys.executable, str(FAKE), str(routes_file), str(requests_file)], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    port = process.stdout.readline().decode().split()[1]
    try:
        yield f"http://127.0.0.1:{port}", requests_file
    finally:
        process.terminate()
        process.wait(timeout=10)


def _config(tmp_path: Path, base: str) -> Path:
    config = {
        "fhir": {
            "instances": [
                {
                    "name": "fake-epic",
                    "vendor": "epic",
                    "base_url": f"{base}/fhir",
                    "client_id": "e2e-backend-app",
                    "token_url": f"{base}/oauth2/token",
                    "searches": [
                        {"resource": "ClaimResponse", "params": {"outcome": "error"}},
                        {"resource": "ExplanationOfBenefit", "params": {"outcome": "partial"}},
                    ],
                    "interval_seconds": 0.5,
                    "peak_interval_seconds": 0.5,
                    "jitter": 0,
                    "start_from": "2026-01-01T00:00:00Z",
                }
            ]
        }
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(json.dumps(config), "utf-8")  # JSON is valid YAML
    return path


def test_the_gateway_polls_a_fake_fhir_server_to_the_file_sink(
    tmp_path: Path, home: Path, fake_fhir: tuple[str, Path]
) -> None:
    base, requests_file = fake_fhir
    gateway = start_gateway(home, RCMGW_CONFIG=str(_config(tmp_path, base)))
    try:
        wait_until(lambda: len(gateway.outbox_lines()) >= 5, 30, "five FHIR tickets in the outbox")
        cursors = home / "fhir" / "cursors.db"
        wait_until(lambda: cursors.exists() and _cursor_count(cursors) == 2, 10, "both cursors committed")
        wait_until(
            lambda: "gt2026-11-21T08:15:00Z" in requests_file.read_text("utf-8"),
            10,
            "a poll from the new cursor",
        )
        jwks = httpx.get(f"{gateway.base_url}/.well-known/jwks.json", timeout=10).json()
        requests = [json.loads(line) for line in requests_file.read_text("utf-8").splitlines()]
    finally:
        _, stderr = gateway.stop()
    tickets = [json.loads(line) for line in gateway.outbox_lines()]
    categories = sorted(ticket["category"] for ticket in tickets)
    assert categories == [
        "claims-processing",
        "claims-processing",
        "claims-processing",
        "denial-management",
        "integration-interface",
    ]
    assert all(
        ticket["source"]["format"] == "fhir" and ticket["source"]["instance"] == "fake-epic"
        for ticket in tickets
    )
    assert len({ticket["id"] for ticket in tickets}) == 5  # repeated polls made no duplicates
    # the cursor is the newest lastUpdated seen, committed after the batch
    with sqlite3.connect(cursors) as db:
        marks = dict(db.execute("SELECT search, high_water FROM fhir_cursor").fetchall())
    assert marks["ClaimResponse?outcome=error"].startswith("2026-11-21T08:15:00")
    later = [r for r in requests if r["path"] == "/fhir/ClaimResponse" and r["query"].get("_lastUpdated")]
    assert later[0]["query"]["_lastUpdated"] == ["gt2026-01-01T00:00:00Z"]
    assert any(r["query"]["_lastUpdated"] == ["gt2026-11-21T08:15:00Z"] for r in later[1:])
    # the assertion the fake received verifies against the gateway's public JWK Set
    token_requests = [r for r in requests if r["path"] == "/oauth2/token"]
    assert len(token_requests) == 1  # cached across polls
    assertion = token_requests[0]["form"]["client_assertion"][0]
    claims = jwt.decode(assertion, KeySet.import_key_set(jwks), algorithms=["RS384"]).claims
    assert claims["iss"] == claims["sub"] == "e2e-backend-app"
    assert claims["aud"] == f"{base}/oauth2/token"
    # no canary on any channel
    assert find_canaries("\n".join(gateway.outbox_lines())) == []
    assert find_canaries(stderr) == []
    log_file = home / "log" / "gateway.log"
    assert find_canaries(log_file.read_bytes() if log_file.exists() else b"") == []


def _cursor_count(path: Path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT count(*) FROM fhir_cursor").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
