"""Nothing acknowledged is lost: kill -9 right after a 202, restart, the ticket is delivered once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from gatewayproc import mint_token, start_gateway, wait_until
from testkit import canary_event

pytestmark = pytest.mark.subprocess


def _token(home: Path) -> str:
    return mint_token(home, "crash-test", "events:write")


def test_kill9_right_after_202_then_restart_delivers(home: Path) -> None:
    # Delivery off in the first process, so the ticket can only reach the outbox from the spool.
    first = start_gateway(home, RCMGW_DELIVERY_ENABLED="false")
    headers = {"Authorization": f"Bearer {_token(home)}"}
    response = httpx.post(
        f"{first.base_url}/v1/events", json=canary_event("crash-1"), headers=headers, timeout=10
    )
    assert response.status_code == 202
    first.kill9()
    assert first.outbox_lines() == []

    second = start_gateway(home)
    try:
        wait_until(lambda: len(second.outbox_lines()) == 1, 10.0, "delivery after restart")
        assert json.loads(second.outbox_lines()[0])["id"] == response.json()["ticket_id"]
    finally:
        second.stop()


def test_kill9_under_load_loses_nothing_and_duplicates_nothing(home: Path) -> None:
    first = start_gateway(home)
    headers = {"Authorization": f"Bearer {_token(home)}"}
    accepted: set[str] = set()
    with httpx.Client(base_url=first.base_url, headers=headers, timeout=10) as client:
        for index in range(40):
            response = client.post("/v1/events", json=canary_event(f"load-{index}", distinct=True))
            assert response.status_code == 202
            accepted.add(response.json()["ticket_id"])
    first.kill9()

    second = start_gateway(home)
    try:
        wait_until(lambda: len(second.outbox_lines()) >= len(accepted), 15.0, "every accepted ticket")
        # Resending after the crash is what a sender does when unsure; it must not duplicate.
        with httpx.Client(base_url=second.base_url, headers=headers, timeout=10) as client:
            again = client.post("/v1/events", json=canary_event("load-0", distinct=True))
            assert again.status_code == 202 and again.json()["duplicate"] is True
    finally:
        second.stop()
    delivered = [json.loads(line)["id"] for line in second.outbox_lines()]
    assert len(accepted) == 40
    assert sorted(delivered) == sorted(accepted)
