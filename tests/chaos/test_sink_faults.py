"""Sink faults under a real ``rcmgw serve`` (the worker-level cases, with a test clock, are in
tests/fallback/test_delivery_faults.py):

- a webhook that answers 500, 429 with Retry-After, stalls past the timeout, or resets the
  connection, in a seeded random order: every acknowledged ticket arrives, the receiver's
  idempotency key (``webhook-id``) never names a second ticket;
- a webhook behind TLS with an untrusted certificate: each attempt fails as a transient error, the
  entry is dead-lettered after ``spool.max_attempts``, nothing arrives; once the operator trusts the
  certificate and replays the dead letters, every ticket arrives exactly once.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pytest
from chaoskit import TlsReceiver, self_signed_cert
from gatewayproc import RCMGW, mint_token, start_gateway, wait_until
from httpfaults import Drop, FaultServer, Ok, Stall, Status
from testkit import canary_event, find_canaries

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
SECRET = "whsec_" + "Y2hhb3Mtc2luay1mYXVsdHMtc2VjcmV0LTEyMzQ1Ng=="


def _env(url: str, **extra: str) -> dict[str, str]:
    sink = {
        "name": "hook",
        "kind": "webhook",
        "url": url,
        "secrets": ["env:RCMGW_TEST_HOOK_SECRET"],
        "timeout_seconds": 0.5,
        # The breaker would hold the sink for 30 s after a burst of faults; it has its own tests.
        "circuit_breaker": False,
    }
    return {
        "RCMGW_SINKS": json.dumps([sink]),
        "RCMGW_TEST_HOOK_SECRET": SECRET,
        "RCMGW_SPOOL__SCHEDULE_SECONDS": "[0.1]",
        "RCMGW_LIFECYCLE__ENABLED": "false",  # one ticket per event: the count is exact
        **extra,
    }


def _post(base_url: str, home: Path, env: dict[str, str], prefix: str, n: int) -> set[str]:
    token = mint_token(home, "sink-faults", "events:write", env=env)
    accepted: set[str] = set()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token.strip()}"}) as client:
        for i in range(n):
            response = client.post("/v1/events", json=canary_event(f"{prefix}-{i:03d}", distinct=True))
            assert response.status_code == 202, response.text
            accepted.add(response.json()["ticket_id"])
    return accepted


def _states(home: Path) -> list[tuple[str, int, str | None]]:
    with sqlite3.connect(home / "spool" / "spool.db") as db:
        return [tuple(row) for row in db.execute("SELECT state, attempts, last_error FROM entries")]


def test_random_500_429_stalls_and_resets_lose_nothing(home: Path, chaos_seed: int, chaos_size: int) -> None:
    rng = random.Random(chaos_seed)
    server = FaultServer()
    faults = [Status(500), Status(503), Status(429, retry_after="1"), Stall(2), Drop(), Ok()]
    server.push(*(rng.choice(faults) for _ in range(40 * chaos_size)))
    env = _env(server.url)
    gateway = start_gateway(home, **env)
    try:
        accepted = _post(gateway.base_url, home, env, "flaky", 15 * chaos_size)
        wait_until(lambda: accepted <= set(server.received_ids), 90, f"every ticket (seed {chaos_seed})")
        wait_until(lambda: {s for s, _, _ in _states(home)} == {"delivered"}, 30, "every entry settled")
    finally:
        out, err = gateway.stop()
        server.stop()
    assert set(server.received_ids) == accepted  # nothing lost, nothing that was not accepted
    # A repeat is a retry after a lost answer (a stall past the timeout): the same idempotency key,
    # answered ``duplicate`` by the receiver, never a second ticket.
    repeats = {key: n for key, n in Counter(server.received_ids).items() if n > 1}
    assert set(repeats) <= accepted
    bodies = b"".join(request.body for request in server.requests)
    assert find_canaries(bodies + out + err + (home / "log" / "gateway.log").read_bytes()) == []


def test_untrusted_tls_dead_letters_then_replay_after_trust_delivers_once(tmp_path: Path, home: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    receiver = TlsReceiver(cert, key)
    env = _env(receiver.url, RCMGW_SPOOL__MAX_ATTEMPTS="3")
    try:
        gateway = start_gateway(home, **env)
        try:
            accepted = _post(gateway.base_url, home, env, "tls", 5)
            wait_until(
                lambda: [s for s, _, _ in _states(home)] == ["dead"] * 5, 60, "every entry dead-lettered"
            )
            ready = httpx.get(f"{gateway.base_url}/readyz", timeout=10)
        finally:
            gateway.stop()
        assert ready.status_code == 200  # a failing sink is not a spool problem: keep accepting
        assert receiver.received_ids == [] and receiver.failed_handshakes >= 3
        for _, attempts, last_error in _states(home):
            assert attempts == 3
            assert last_error is not None
            assert last_error.startswith("attempts_exhausted:delivery.transient"), last_error
            assert "certificate" not in last_error.lower()  # codes and class names only

        # The operator installs the certificate as trusted and replays the dead letters.
        replay = subprocess.run(
            [str(RCMGW), "spool", "replay", "--all-dead", "--actor", "oncall", "--json"],
            capture_output=True,
            check=True,
            env={"RCMGW_HOME": str(home), "PATH": "/usr/bin:/bin", **env},
        )
        assert json.loads(replay.stdout)["selected"] == 5
        trusted = start_gateway(home, **env, SSL_CERT_FILE=str(cert))
        try:
            wait_until(lambda: set(receiver.received_ids) == accepted, 60, "every ticket after the replay")
        finally:
            trusted.stop()
    finally:
        receiver.stop()
    assert sorted(receiver.received_ids) == sorted(accepted)  # exactly once each
    assert {s for s, _, _ in _states(home)} == {"delivered"}
