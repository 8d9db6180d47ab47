"""The group-wait flusher as a running gateway service: a lone repeat absorbed into an open ticket
is delivered as an update after its window with no further input, and on shutdown what is due is
spooled durably before the spool closes."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gatewayproc import wait_until
from testkit import canary_event, find_canaries

from adapters.json_event import parse_event
from fallback.cipher import PayloadCipher
from fallback.clock import utc_now
from fallback.sqlite_spool import SqliteSpool
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings


def _outbox(settings: Settings) -> list[dict[str, object]]:
    path = settings.outbox_file
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _kinds(tickets: list[dict[str, object]]) -> list[str]:
    return [str(t["lifecycle"]["kind"]) for t in tickets if isinstance(t.get("lifecycle"), dict)]  # type: ignore[index]


def test_a_lone_absorbed_repeat_is_delivered_after_its_window_without_further_input(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCMGW_LIFECYCLE__GROUP_WAIT_SECONDS", "0.5")
    monkeypatch.setenv("RCMGW_LIFECYCLE__FLUSH_INTERVAL_SECONDS", "0.05")
    short = get_settings(home=home, delivery_poll_interval=0.05)
    runtime = Runtime.build(short)
    headers = {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
    with TestClient(create_app(short, runtime), raise_server_exceptions=False) as client:
        first = client.post("/v1/events", json=canary_event("lone-1"), headers=headers)
        repeat = client.post("/v1/events", json=canary_event("lone-2"), headers=headers)
        assert first.status_code == repeat.status_code == 202
        wait_until(lambda: _kinds(_outbox(short)) == ["open"], 20, "the opening ticket delivered")
        # No further input: the flusher delivers the repeat's update once the window has passed.
        wait_until(lambda: _kinds(_outbox(short)) == ["open", "update"], 20, "the flushed update")
        opened, update = _outbox(short)
        assert update["lifecycle"] == {**update["lifecycle"], "of": opened["id"], "occurrences": 2}  # type: ignore[dict-item]
        assert update["fingerprint"] == opened["fingerprint"] and update["id"] != opened["id"]
        assert not find_canaries(short.outbox_file.read_bytes())
        flushed = runtime.audit.records(event="lifecycle.flushed")
        assert [r.details["ticket_id"] for r in flushed] == [update["id"]]


def test_shutdown_spools_every_due_update_durably(
    settings: Settings, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCMGW_LIFECYCLE__FLUSH_INTERVAL_SECONDS", "3600")  # only the shutdown pass flushes
    runtime = Runtime.build(get_settings(home=home))
    gate = runtime.pipeline.lifecycle
    assert gate is not None
    now = utc_now()
    gate.clock = lambda: now

    async def body() -> None:
        await runtime.start(delivery=False)
        await runtime.start_services()
        for n in (1, 2):
            await runtime.pipeline.ingest(parse_event(json.dumps(canary_event(f"down-{n}")).encode()))
        assert await _depth(settings, runtime) == 1  # the opening only; the repeat was absorbed
        nonlocal now
        now = now + timedelta(seconds=31)  # the group-wait window has passed, no further input
        await runtime.stop()
        assert await _depth(settings, runtime) == 2  # the update was spooled before the spool closed

    asyncio.run(body())


async def _depth(settings: Settings, runtime: Runtime) -> int:
    spool = SqliteSpool(
        settings.spool_file, PayloadCipher(runtime.keys.spool_keys, runtime.keys.spool_active)
    )
    await spool.open()
    try:
        return sum(sum(states.values()) for states in (await spool.depth()).values())
    finally:
        await spool.aclose()
