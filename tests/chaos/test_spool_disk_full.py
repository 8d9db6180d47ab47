"""The spool's disk fills up under a real ``rcmgw serve``: the SQLite spool lives on a size-limited
tmpfs (mounted by the test; needs root). Once a write hits ENOSPC (SQLITE_FULL) the gateway stops
acknowledging (HTTP 503 problem+json ``spool.unavailable``, MLLP AE with ERR 207), /readyz says 503
with the reason ``spool.full``, the log names that code; when space returns (remount larger) it accepts again
and every input it acknowledged, before and after, is delivered once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from chaoskit import dft
from gatewayproc import mint_token, start_gateway, wait_until
from testkit import canary_event, find_canaries

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
SMALL = "1m"  # room for the schema and some tickets (the WAL grows first)


@contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mountpoint``; skipped (failed under CI=true) when it cannot mount."""
    mountpoint.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a size-limited tmpfs (needs root): {result.stderr.decode(errors='replace')}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def _resize(mountpoint: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mountpoint)], check=True, capture_output=True)


def _token(home: Path) -> str:
    return mint_token(home, "diskfull", "events:write")


def _mllp(port: int, control_id: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x0b" + dft(control_id) + b"\x1c\x0d")
        answer = b""
        while not answer.endswith(b"\x1c\x0d"):
            chunk = sock.recv(65536)
            assert chunk, "the listener closed without answering"
            answer += chunk
    return answer


def test_a_full_spool_disk_stops_acknowledging_then_recovers_without_loss(tmp_path: Path, home: Path) -> None:
    with tmpfs(tmp_path / "spoolfs", SMALL) as spoolfs:
        gateway = start_gateway(
            home,
            RCMGW_SPOOL_PATH=str(spoolfs / "spool.db"),
            # one ticket per input, so the count is exact (the lifecycle is covered elsewhere)
            RCMGW_LIFECYCLE__ENABLED="false",
        )
        try:
            headers = {"Authorization": f"Bearer {_token(home)}"}
            accepted: set[str] = set()
            refused: list[httpx.Response] = []
            with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=10) as client:
                for n in range(3000):
                    response = client.post("/v1/events", json=canary_event(f"full-{n:05d}", distinct=True))
                    if response.status_code == 503:
                        refused.append(response)
                        break
                    assert response.status_code == 202, response.text
                    accepted.add(response.json()["ticket_id"])
                assert refused, "the spool never filled up"
                assert len(accepted) > 5, "the spool was full from the start"
                # Full: nothing is acknowledged, on any channel, and the reason is given.
                for n in range(3):
                    again = client.post("/v1/events", json=canary_event(f"refused-{n}", distinct=True))
                    assert again.status_code == 503
                    refused.append(again)
                for response in refused:
                    assert response.headers["content-type"].startswith("application/problem+json")
                    assert response.json()["code"] == "spool.unavailable"
                    assert response.headers["retry-after"] == "5"
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json() == {"status": "unavailable", "reason": "spool.full"}
                assert gateway.mllp_port is not None
                answer = _mllp(gateway.mllp_port, "FULL00001")
                assert b"MSA|AE|FULL00001" in answer and b"spool.unavailable" in answer
                log = home / "log" / "gateway.log"
                entries = [json.loads(line) for line in log.read_text("utf-8").splitlines() if line.strip()]
                unavailable = [e for e in entries if e.get("code") == "spool.full"]
                assert {e["event"] for e in unavailable} >= {
                    "spool unavailable",
                    "spool unavailable; hl7 message not accepted",
                }

                # Space returns: the gateway accepts again without a restart and loses nothing.
                _resize(spoolfs, "64m")
                wait_until(lambda: client.get("/readyz").status_code == 200, 30, "ready again")
                for n in range(5):
                    response = client.post("/v1/events", json=canary_event(f"after-{n}", distinct=True))
                    assert response.status_code == 202, response.text
                    accepted.add(response.json()["ticket_id"])
                assert b"MSA|AA|FULL00002" in _mllp(gateway.mllp_port, "FULL00002")

            def delivered() -> list[str]:
                return [json.loads(line)["id"] for line in gateway.outbox_lines()]

            wait_until(lambda: accepted <= set(delivered()), 60, "every accepted ticket delivered")
        finally:
            out, err = gateway.stop()
    ids = delivered()
    assert len(ids) == len(set(ids)), "a ticket was delivered twice"
    assert len(ids) == len(accepted) + 1  # and the one HL7 message accepted after the recovery
    assert find_canaries(out + err + (home / "log" / "gateway.log").read_bytes()) == []
    assert find_canaries("\n".join(gateway.outbox_lines())) == []
