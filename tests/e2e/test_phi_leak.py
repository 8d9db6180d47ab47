"""Acceptance: canary identifiers fed through every supported format reach no output channel.

Two tables drive the test, so a new format or channel is one line:

- ``SUBMITTERS``: how canary PHI enters the gateway in one format (JSON events over HTTP and through
  ``rcmgw ingest``; X12, HL7 v2, FHIR and plain text through ``rcmgw redact``). Each adds what the
  gateway answered to the harness.
- ``CHANNELS``: where output can be read after the fact: sealed tickets (spool rows, decrypted),
  delivered bodies (the file sink's outbox), logs (captured records and the JSON log file), audit
  records, HTTP answers (good and error bodies), CLI output (stdout and stderr).

Every submitter runs, then every channel is collected and searched for every canary needle.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gatewayproc import wait_until
from testkit import CANARY, canary_event, find_canaries

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings

RCMGW = str(Path(sys.executable).with_name("rcmgw"))
C = CANARY
X12_CANARY = (
    f"ST*835*0001~BPR*I*310*C*ACH~TRN*1*12345*1512345678~CLP*{C['claim']}*4*310*0*310*12*9912345678901~"
    f"NM1*QC*1*QUIXOTE*ZEBEDIAH****MI*{C['mrn']}~DMG*D8*19570314~"
    f"NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*87726~CAS*CO*97*310~"
    f"MIA*0***{C['name_text']} called {C['phone']}~SE*8*0001~"
)
HL7_CANARY = (
    "MSH|^~\\&|EPIC|HOSP|RCM|GW|20240105103000||ADT^A08|MSG0001|P|2.5\r"
    f"PID|1||{C['mrn']}^^^HOSP^MR||QUIXOTE^ZEBEDIAH||19570314|M|||12 MAIN ST^^BOSTON^MA^02115||"
    f"{C['phone']}||||||{C['ssn']}\r"
    f"NTE|1||Zebediah says his SSN is {C['ssn']}, mail {C['email']}\r"
)
FHIR_CANARY = json.dumps(
    {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:mrn", "value": C["mrn"]}],
                    "name": [{"family": "Quixote", "given": ["Zebediah"]}],
                    "birthDate": C["dob_structured"],
                    "telecom": [{"system": "phone", "value": C["phone"]}],
                }
            },
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "error",
                            "code": "processing",
                            "diagnostics": (
                                f"Coverage for ZEBEDIAH QUIXOTE (DOB {C['dob_text']}, SSN {C['ssn']})"
                                f" rejected; email {C['email']}"
                            ),
                        }
                    ],
                }
            },
        ],
    }
)
TEXT_CANARY = str(canary_event()["error"]["message"]) + " Guarantor QUIXOTE, ZEBEDIAH."  # type: ignore[index]


@dataclass
class Harness:
    """A running in-process gateway and everything that was answered to the submitters."""

    settings: Settings
    runtime: Runtime
    client: TestClient
    outputs: dict[str, list[str]] = field(default_factory=dict)

    def add(self, channel: str, text: str | bytes) -> None:
        value = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        self.outputs.setdefault(channel, []).append(value)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.runtime.issuer.mint('leak-test', ['events:write'])}"}

    def cli(self, *args: str, stdin: str = "") -> None:
        env = {"RCMGW_HOME": str(self.settings.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        result = subprocess.run(
            [RCMGW, *args], input=stdin.encode(), capture_output=True, env=env, timeout=120, check=False
        )
        self.add("cli", result.stdout)
        self.add("cli", result.stderr)
        assert result.returncode in (0, 65), result.stderr


def submit_json_http(h: Harness) -> None:
    good = h.client.post("/v1/events", json=canary_event("leak-http", distinct=True), headers=h.headers())
    assert good.status_code == 202
    h.add("http", good.text)
    bad = canary_event("leak-http-bad")
    for body in (
        {**bad, "Zebediah Quixote": C["ssn"]},
        {**bad, "amounts": {"billed": C["ssn"]}},
    ):
        response = h.client.post("/v1/events", json=body, headers=h.headers())
        assert response.status_code in (400, 422), response.status_code
        h.add("http", response.text)
    h.add("http", h.client.post("/v1/events", json=bad).text)  # unauthenticated


def submit_json_cli(h: Harness) -> None:
    path = h.settings.home.parent / "event.json"
    path.write_text(json.dumps(canary_event("leak-cli", distinct=True)))
    h.cli("ingest", "--json", str(path))


def _x12_interchange(body: str) -> str:
    """``body`` (ST..SE segments) inside a valid ISA/GS envelope, with SE01 counted."""
    segments = [segment for segment in body.split("~") if segment]
    segments[-1] = f"SE*{len(segments)}*0001"
    isa = (
        "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240105*1030*^*00501*"
        "000000905*0*P*:"
    )
    gs = "GS*HP*SUBMITTER*RECEIVER*20240105*1030*905*X*005010X221A1"
    return "~".join([isa, gs, *segments, "GE*1*905", "IEA*1*000000905"]) + "~"


def submit_x12_http(h: Harness) -> None:
    body = _x12_interchange(
        "ST*835*0001~BPR*I*310*C*ACH************20240105~TRN*1*12345*1512345678~"
        "N1*PR*EXAMPLE HEALTH PLAN~REF*2U*87726~N1*PE*CLINIC*XX*1234567893~LX*1~"
        f"CLP*{C['claim']}*4*310*0*310*12*9912345678901~CAS*CO*97*310~"
        f"NM1*QC*1*QUIXOTE*ZEBEDIAH****MI*{C['mrn']}~"
        f"MIA*0***{C['name_text']} called {C['phone']}~SE*0*0001~"
    )
    response = h.client.post("/v1/ingest/x12", content=body.encode(), headers=h.headers())
    assert response.status_code == 202, response.text
    h.add("http", response.text)
    broken = body.replace("SE*", "SE*99*X", 1)
    h.add("http", h.client.post("/v1/ingest/x12", content=broken.encode(), headers=h.headers()).text)


def submit_hl7_http(h: Harness) -> None:
    response = h.client.post("/v1/ingest/hl7", content=HL7_CANARY.encode(), headers=h.headers())
    assert response.status_code == 200, response.text
    h.add("http", response.text)


def submit_fhir_http(h: Harness) -> None:
    headers = {**h.headers(), "Content-Type": "application/fhir+json"}
    response = h.client.post("/v1/adapters/epic", content=FHIR_CANARY.encode(), headers=headers)
    assert response.status_code == 202, response.text
    h.add("http", response.text)


def _redact_cli(fmt: str, text: str) -> Callable[[Harness], None]:
    def submit(h: Harness) -> None:
        h.cli("redact", "--format", fmt, stdin=text)
        h.cli("redact", "--format", fmt, "--json", stdin=text)

    return submit


SUBMITTERS: dict[str, Callable[[Harness], None]] = {
    "json-event over HTTP": submit_json_http,
    "json-event through rcmgw ingest": submit_json_cli,
    "x12 over HTTP": submit_x12_http,
    "hl7 over HTTP": submit_hl7_http,
    "fhir pushed over HTTP": submit_fhir_http,
    "text through rcmgw redact": _redact_cli("text", TEXT_CANARY),
    "x12 through rcmgw redact": _redact_cli("x12", X12_CANARY),
    "hl7 through rcmgw redact": _redact_cli("hl7", HL7_CANARY),
    "fhir through rcmgw redact": _redact_cli("fhir", FHIR_CANARY),
}


def collect_spool(h: Harness) -> list[str]:
    cipher = h.runtime.spool._cipher  # type: ignore[attr-defined]
    with sqlite3.connect(h.settings.spool_file) as conn:
        rows = conn.execute("SELECT dedup_key, key_id, blob FROM payloads").fetchall()
    return [cipher.decrypt(k, b, b"rcmgw.spool.v1\x00" + d.encode()).decode() for d, k, b in rows]


def collect_outbox(h: Harness) -> list[str]:
    return [h.settings.outbox_file.read_text("utf-8")]


def collect_logs(h: Harness) -> list[str]:
    files = [p.read_text("utf-8", "replace") for p in sorted((h.settings.home / "log").glob("*"))]
    return [h.outputs.get("caplog", [""])[0], *files]


def collect_audit(h: Harness) -> list[str]:
    return [json.dumps([(r.event, r.actor, r.outcome, r.details) for r in h.runtime.audit.records()])]


CHANNELS: dict[str, Callable[[Harness], list[str]]] = {
    "tickets (spool rows, decrypted)": collect_spool,
    "delivered bodies (file sink)": collect_outbox,
    "logs": collect_logs,
    "audit records": collect_audit,
    "HTTP answers": lambda h: h.outputs.get("http", []),
    "CLI output": lambda h: h.outputs.get("cli", []),
}


@pytest.fixture
def harness(settings: Settings) -> Iterator[Harness]:
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
        yield Harness(settings, runtime, client)


def test_no_canary_reaches_any_channel(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    for name, submit in SUBMITTERS.items():
        submit(harness)
        assert harness.outputs, name
    outbox = harness.settings.outbox_file
    wait_until(lambda: outbox.exists() and len(outbox.read_text().splitlines()) >= 5, 10.0, "deliveries")
    harness.outputs["caplog"] = [caplog.text]
    collected = {name: collect(harness) for name, collect in CHANNELS.items()}
    for name, texts in collected.items():
        assert any(text.strip() for text in texts), f"channel {name!r} collected nothing"
    leaks = {name: found for name, texts in collected.items() if (found := find_canaries("\n".join(texts)))}
    assert leaks == {}
    tickets = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert {ticket["source"]["format"] for ticket in tickets} >= {"json-event", "x12", "hl7v2", "fhir"}
    assert all(
        ticket["redaction"]["counts"] for ticket in tickets if ticket["source"]["format"] == "json-event"
    )
    redacted_x12 = next(text for text in harness.outputs["cli"] if "EXAMPLE HEALTH PLAN" in text)
    for kept in ("CAS*CO*97*310", "PI*87726", "TRN*1*12345*1512345678"):
        assert kept in redacted_x12, f"{kept} is not PHI and must survive"
