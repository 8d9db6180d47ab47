"""Two ``rcmgw serve`` on ONE PostgreSQL database share the dedup lifecycle: the same problem sent
to both nodes at the same moment is delivered as exactly one ticket (the sibling of
test_delivery_multinode, which sends distinct problems)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from gatewayproc import mint_token, start_gateway, wait_until
from httpfaults import FaultServer
from testkit import canary_event

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
SECRET = "whsec_" + "bGlmZWN5Y2xlLW11bHRpbm9kZS1zZWNyZXQtMTI="


def _token(home: Path, env: dict[str, str]) -> str:
    return mint_token(home, "multinode", "events:write", env=env)


def test_two_gateways_on_one_postgres_open_one_ticket_per_problem(home: Path, postgres) -> None:
    receiver = FaultServer()
    dsn = postgres.create_database("lifecycle_multinode")
    env = {
        "RCMGW_SPOOL__BACKEND": "postgresql",
        "RCMGW_SPOOL__DSN": "env:RCMGW_TEST_PG_DSN",
        "RCMGW_TEST_PG_DSN": dsn,
        "RCMGW_TEST_HOOK_SECRET": SECRET,
        # Only openings are delivered in this test: no group-wait update falls due during it.
        "RCMGW_LIFECYCLE__GROUP_WAIT_SECONDS": "3600",
        "RCMGW_SINKS": json.dumps(
            [
                {
                    "name": "hook",
                    "kind": "webhook",
                    "url": receiver.url,
                    "secrets": ["env:RCMGW_TEST_HOOK_SECRET"],
                }
            ]
        ),
    }
    a = start_gateway(home, **env)
    b = start_gateway(home, **env)  # same home: same keys (pseudonyms, spool cipher) on both nodes
    rounds = 6
    try:
        headers = {"Authorization": f"Bearer {_token(home, env)}"}
        with httpx.Client(timeout=20) as client, ThreadPoolExecutor(max_workers=2) as pool:

            def send(gateway_url: str, event: dict[str, object]) -> httpx.Response:
                return client.post(f"{gateway_url}/v1/events", json=event, headers=headers)

            for r in range(rounds):
                # One problem per round (its own facility), two different inputs of it, one to each
                # node, at the same moment.
                events = [{**canary_event(f"same-{r}-{i}"), "facility": f"FAC-{r}"} for i in range(2)]
                futures = [pool.submit(send, gw.base_url, ev) for gw, ev in zip((a, b), events, strict=True)]
                answers = [future.result() for future in futures]
                assert [answer.status_code for answer in answers] == [202, 202], [x.text for x in answers]
                assert answers[0].json()["ticket_id"] == answers[1].json()["ticket_id"]
        wait_until(lambda: len(set(receiver.received_ids)) == rounds, 60, "one ticket per problem delivered")
        with psycopg.connect(dsn) as conn:
            entries = conn.execute("SELECT COUNT(*) FROM entries").fetchone()
            states = conn.execute("SELECT occurrences FROM lifecycle_state ORDER BY fingerprint").fetchall()
        assert entries is not None and entries[0] == rounds  # nothing else was spooled
        assert [row[0] for row in states] == [2] * rounds  # each node's input counted, once
        assert len(set(receiver.received_ids)) == rounds
    finally:
        a.stop()
        b.stop()
        receiver.stop()
