"""Fail closed through the real wiring: a redaction exception quarantines the record (422 + id);
nothing is spooled or delivered, and no clear value reaches the answer, the logs or the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from testkit import canary_event, find_canaries

import gateway.runtime
from fallback.sqlite_spool import SqliteSpool
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from redaction import DetectorRegistry, default_detector_registry
from redaction.testing import FailingDetector


def _registry_with_a_failing_detector() -> DetectorRegistry:
    registry = default_detector_registry()
    registry.register(FailingDetector("boom"))
    return registry


@pytest.fixture
def failing_client(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Runtime]]:
    monkeypatch.setattr(gateway.runtime, "default_detector_registry", _registry_with_a_failing_detector)
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
        yield client, runtime


async def _spool_depth(settings: Settings, runtime: Runtime) -> int:
    spool = SqliteSpool(settings.spool_file, runtime.spool._cipher)  # type: ignore[attr-defined]
    await spool.open()
    try:
        return sum(sum(states.values()) for states in (await spool.depth()).values())
    finally:
        await spool.aclose()


def test_a_redaction_exception_quarantines_the_record_and_spools_nothing(
    failing_client: tuple[TestClient, Runtime], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client, runtime = failing_client
    headers = {"Authorization": f"Bearer {runtime.issuer.mint('writer', ['events:write'])}"}
    response = client.post("/v1/events", json=canary_event(), headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "input.quarantined"
    quarantine_id = body["quarantine_id"]
    assert (settings.quarantine_dir / f"{quarantine_id}.bin").exists()
    assert json.loads(runtime.quarantine.read(quarantine_id))["event_id"] == "canary-0001"
    assert asyncio.run(_spool_depth(settings, runtime)) == 0
    assert not settings.outbox_file.exists() or settings.outbox_file.read_text() == ""
    audit = [(r.event, r.outcome, r.details) for r in runtime.audit.records()]
    assert ("input.quarantined", "rejected") in [(event, outcome) for event, outcome, _ in audit]
    channels = {
        "response": response.text,
        "logs": caplog.text,
        "audit": json.dumps([r.details for r in runtime.audit.records()]),
        "reason": (settings.quarantine_dir / f"{quarantine_id}.reason").read_text(),
    }
    assert {name: found for name, text in channels.items() if (found := find_canaries(text))} == {}
