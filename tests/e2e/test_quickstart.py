"""The README's promise, end to end with a real gateway process: start, run the printed curl, see a
PHI-free ticket in the outbox; and canary PHI never reaches any channel."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from gatewayproc import start_gateway, wait_until
from testkit import REPO, canary_event, find_canaries

pytestmark = pytest.mark.subprocess


def test_readme_opens_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    first_block = readme.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_printed_curl_creates_a_ticket_within_two_seconds(home: Path) -> None:
    gateway = start_gateway(home)
    try:
        curl = gateway.curl_command()
        result = subprocess.run(
            ["bash", "-c", curl + " -w '\\n%{http_code}'"], capture_output=True, timeout=30, check=True
        )
        body, status = result.stdout.decode().rsplit("\n", 1)
        assert status == "202", body
        ticket_id = json.loads(body)["ticket_id"]
        wait_until(lambda: len(gateway.outbox_lines()) == 1, 2.0, "the ticket in the outbox")
        ticket = json.loads(gateway.outbox_lines()[0])
        assert ticket["id"] == ticket_id
        assert ticket["category"] == "denial-management"
        assert ticket["codes"] == [{"system": "CARC", "code": "97", "description": None}]
        for clear in (
            "Jane",
            "JANE",
            "SAMPLE",
            "Sample",
            "04/12/1961",
            "1961-04-12",
            "E1234567",
            "CLM-000042",
        ):
            assert clear not in gateway.outbox_lines()[0]
        assert {subject["kind"] for subject in ticket["subjects"]} >= {"NAME", "DOB", "MRN", "CLAIM"}

        ingest = next(line.strip() for line in gateway.banner if line.strip().endswith(".json"))
        env = {"RCMGW_HOME": str(home), "PATH": "/usr/bin:/bin"}
        subprocess.run(["bash", "-c", ingest], cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
        wait_until(lambda: len(gateway.outbox_lines()) == 2, 10.0, "the ingested sample in the outbox")
    finally:
        gateway.stop()
    assert (home / "keys" / "dev-issuer.jwk").exists(), (
        "dev keys are generated under RCMGW_HOME on first start"
    )


def test_canary_phi_reaches_no_channel(home: Path) -> None:
    gateway = start_gateway(home)
    responses: list[str] = []
    try:
        token = (
            subprocess.run(
                [
                    str(Path(gateway.process.args[0])),
                    "token",
                    "--client",
                    "canary",
                    "--scope",
                    "events:write",
                ],
                capture_output=True,
                check=True,
                env={"RCMGW_HOME": str(home), "PATH": "/usr/bin:/bin"},
            )
            .stdout.decode()
            .strip()
        )
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=10) as client:
            accepted = client.post("/v1/events", json=canary_event())
            assert accepted.status_code == 202
            responses.append(accepted.text)
            event = canary_event("canary-0002")
            bad_requests = [
                json.dumps({**event, "Zebediah Quixote": "219-09-9999"}).encode(),  # unknown key holding PHI
                json.dumps(
                    {**event, "amounts": {"billed": "219-09-9999"}}
                ).encode(),  # wrong type holding PHI
                json.dumps(event).encode()[:-40],  # truncated JSON
                json.dumps({**event, "note": "QUIXOTE " * 200_000}).encode(),  # oversize
            ]
            for body in bad_requests:
                response = client.post(
                    "/v1/events", content=body, headers={"Content-Type": "application/json"}
                )
                assert response.status_code in (400, 413), response.status_code
                assert response.headers["content-type"].startswith("application/problem+json")
                responses.append(response.text)
            unauthenticated = httpx.post(f"{gateway.base_url}/v1/events", json=canary_event("canary-3"))
            assert unauthenticated.status_code == 401
            responses.append(unauthenticated.text)
        wait_until(lambda: len(gateway.outbox_lines()) == 1, 10.0, "the canary ticket")
    finally:
        _, stderr = gateway.stop()

    ticket = json.loads(gateway.outbox_lines()[0])
    assert ticket["redaction"]["counts"], "the redaction report counts what was replaced"
    channels: dict[str, bytes] = {
        "outbox": gateway.outbox.read_bytes(),
        "stderr": stderr,
        "responses": "\n".join(responses).encode(),
    }
    for path in sorted((home / "spool").iterdir()) + sorted((home / "log").iterdir()):
        channels[str(path.relative_to(home))] = path.read_bytes()
    for path in sorted((home / "quarantine").iterdir()):
        channels[str(path.relative_to(home))] = path.read_bytes()
    assert any(name.endswith(".bin") for name in channels), "rejected bodies are quarantined"
    leaks = {name: found for name, data in channels.items() if (found := find_canaries(data))}
    assert leaks == {}
