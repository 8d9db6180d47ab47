"""What ``rcmgw serve`` prints on start: where it listens and how to send a first error."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

SAMPLE_EVENT: dict[str, object] = {
    "event_id": "quickstart-0001",
    "source": {"system": "epic", "instance": "dev", "module": "resolute-hb"},
    "error": {
        "code": "97",
        "code_system": "CARC",
        "message": (
            "Claim denied: service bundled with another procedure. Patient Jane Sample, DOB 04/12/1961."
        ),
    },
    "payer": {"id": "87726", "name": "Example Health Plan"},
    "amounts": {"billed": "1250.00", "paid": "0.00"},
    "patient": {"name": "SAMPLE^JANE", "dob": "1961-04-12", "mrn": "E1234567"},
    "claim": {"id": "CLM-000042"},
}


def quickstart_banner(
    base_url: str,
    token: str,
    outbox: Path,
    sample_file: Path | None,
    *,
    mllp: str | None = None,
    program: str = "rcmgw",
) -> str:
    """The start banner, with a ready curl command (one line) and an ``rcmgw ingest`` example."""
    curl = " ".join(
        [
            "curl -sS -X POST",
            shlex.quote(f"{base_url}/v1/events"),
            "-H",
            shlex.quote(f"Authorization: Bearer {token}"),
            "-H",
            shlex.quote("Content-Type: application/json"),
            "--data",
            shlex.quote(json.dumps(SAMPLE_EVENT, separators=(",", ":"))),
        ]
    )
    lines = [
        f"rcm-gateway listening on {base_url}  (health: {base_url}/healthz)",
        *([f"MLLP (HL7 v2) listening on {mllp}"] if mllp else []),
        "",
        "Send a first error (a dev token with scope events:write is filled in):",
        "",
        f"  {curl}",
        "",
    ]
    if sample_file is not None:
        lines += ["Or ingest a sample file:", "", f"  {program} ingest {sample_file}", ""]
    lines += [
        f"Tickets appear in {outbox}",
        f"Mint other tokens with: {program} token --client NAME --scope SCOPE",
        "",
    ]
    return "\n".join(lines)
