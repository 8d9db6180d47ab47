"""Several gateway processes: two ``rcmgw serve`` on ONE PostgreSQL spool deliver every ticket
exactly once; and kill -9 during delivery to a real Redmine, five times, loses nothing and creates no
duplicate issue."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
from gatewayproc import mint_token, start_gateway, wait_until
from httpfaults import FaultServer
from testkit import canary_event

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
SECRET = "whsec_" + "bXVsdGktbm9kZS1zZWNyZXQtMTIzNDU2Nzg5MA=="


def _token(home: Path, env: dict[str, str]) -> str:
    return mint_token(home, "multinode", "events:write", env=env)


def test_two_gateways_on_one_postgres_spool_deliver_each_ticket_once(home: Path, postgres) -> None:
    receiver = FaultServer()
    dsn = postgres.create_database("multinode")
    env = {
        "RCMGW_SPOOL__BACKEND": "postgresql",
        "RCMGW_SPOOL__DSN": "env:RCMGW_TEST_PG_DSN",
        "RCMGW_TEST_PG_DSN": dsn,
        "RCMGW_TEST_HOOK_SECRET": SECRET,
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
    b = start_gateway(home, **env)  # same home: same keys, so both can decrypt the shared spool
    try:
        headers = {"Authorization": f"Bearer {_token(home, env)}"}
        n = 60
        with httpx.Client(timeout=10) as client:
            for i in range(n):
                gw = a if i % 2 == 0 else b
                r = client.post(
                    f"{gw.base_url}/v1/events",
                    json=canary_event(f"mn-{i:04d}", distinct=True),
                    headers=headers,
                )
                assert r.status_code == 202, r.text
        wait_until(lambda: len(set(receiver.received_ids)) == n, 60, "all tickets delivered")
        counts = Counter(receiver.received_ids)
        assert len(counts) == n and max(counts.values()) == 1  # exactly once, no duplicates
    finally:
        a.stop()
        b.stop()
        receiver.stop()


def test_kill9_during_redmine_delivery_five_times_no_loss_no_duplicates(home: Path, redmine) -> None:
    key_file = home.parent / "redmine.key"
    key_file.write_text(redmine.api_key)
    env = {
        "RCMGW_SINKS": json.dumps(
            [
                {
                    "name": "redmine",
                    "kind": "redmine",
                    "url": redmine.url,
                    "api_key": f"file:{key_file}",
                    "project": redmine.project,
                    "external_id_field": redmine.custom_field_id,
                }
            ]
        ),
        "RCMGW_SPOOL__LEASE_SECONDS": "1",
        "RCMGW_SPOOL__SCHEDULE_SECONDS": "[0.2]",
    }
    run = home.name + str(id(home))
    total = 0
    for cycle in range(5):
        gw = start_gateway(home, **env)
        headers = {"Authorization": f"Bearer {_token(home, env)}"}
        with httpx.Client(timeout=10) as client:
            for i in range(4):
                event = canary_event(f"crash-{run}-{cycle}-{i}", distinct=True)
                r = client.post(f"{gw.base_url}/v1/events", json=event, headers=headers)
                assert r.status_code == 202, r.text
                total += 1
        gw.kill9()  # mid-delivery: some issues created, some entries unsettled
    final = start_gateway(home, **env)
    try:
        spool_db = home / "spool" / "spool.db"

        def all_delivered() -> bool:
            import sqlite3

            with sqlite3.connect(spool_db) as conn:
                (left,) = conn.execute("SELECT COUNT(*) FROM entries WHERE state != 'delivered'").fetchone()
                (n,) = conn.execute("SELECT COUNT(*) FROM entries").fetchone()
            return left == 0 and n > 0

        wait_until(all_delivered, 90, "every spooled ticket delivered")
    finally:
        final.stop()
    import sqlite3

    with sqlite3.connect(home / "spool" / "spool.db") as conn:
        fingerprints = [r[0] for r in conn.execute("SELECT fingerprint FROM payloads")]
    assert fingerprints
    for fingerprint in fingerprints:
        found = httpx.get(
            f"{redmine.url}/issues.json",
            params={
                "project_id": redmine.project,
                f"cf_{redmine.custom_field_id}": fingerprint,
                "status_id": "*",
            },
            headers={"X-Redmine-API-Key": redmine.api_key},
            timeout=30,
        ).json()["total_count"]
        assert found == 1, fingerprint  # every problem reached Redmine, none twice
