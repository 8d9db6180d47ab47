"""Retention: old quarantine items and audit records are removed (held ones kept), legal hold
stops everything, the spool's purge hook is called when present, and each run is audited."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.retention import RetentionService, RetentionSettings, apply_retention
from gateway.runtime import Runtime
from gateway.settings import Settings

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def _quarantine(runtime: Runtime, quarantine_id: str, at: datetime) -> None:
    directory = runtime.settings.quarantine_dir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{quarantine_id}.bin").write_bytes(b"k\nciphertext")
    (directory / f"{quarantine_id}.reason").write_text(json.dumps({"at": at.isoformat(), "code": "x"}))


def _run(runtime: Runtime, settings: RetentionSettings) -> None:
    async def go() -> None:
        await runtime.spool.open()
        runtime.audit.open()
        try:
            await apply_retention(runtime, settings, NOW)
        finally:
            await runtime.spool.aclose()

    asyncio.run(go())


def test_old_items_are_removed_held_ones_kept_and_the_run_is_audited(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    _quarantine(runtime, "q_old", NOW - timedelta(days=91))
    _quarantine(runtime, "q_held", NOW - timedelta(days=400))
    _quarantine(runtime, "q_new", NOW - timedelta(days=5))
    _run(runtime, RetentionSettings(held_quarantine_ids=["q_held"]))
    left = sorted(p.name for p in runtime.settings.quarantine_dir.iterdir())
    assert left == ["q_held.bin", "q_held.reason", "q_new.bin", "q_new.reason"]
    record = runtime.audit.records(event="retention.applied")[0]
    assert record.details["quarantine_removed"] == 1 and record.details["spool"] == "unsupported"
    assert runtime.audit.verify().ok


def test_legal_hold_removes_nothing(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    _quarantine(runtime, "q_old", NOW - timedelta(days=900))
    _run(runtime, RetentionSettings(legal_hold=True))
    assert (runtime.settings.quarantine_dir / "q_old.bin").exists()
    assert runtime.audit.records(event="retention.applied")[0].outcome == "held"


def test_spool_purge_hook_is_called(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    calls: list[datetime] = []

    async def purge_delivered(*, older_than: datetime) -> int:
        calls.append(older_than)
        return 7

    runtime.spool.purge_delivered = purge_delivered  # type: ignore[attr-defined]
    _run(runtime, RetentionSettings(delivered_days=30))
    assert calls == [NOW - timedelta(days=30)]
    details = runtime.audit.records(event="retention.applied")[0].details
    assert details["spool_removed"] == 7 and details["spool"] == "purged"


def test_retention_is_a_background_service_of_the_runtime(settings: Settings, home: Path) -> None:
    runtime = Runtime.build(settings)
    services = [s for s in runtime.services if isinstance(s, RetentionService)]
    assert len(services) == 1 and services[0].settings == settings.retention

    async def start_and_stop() -> None:
        await services[0].start(runtime)
        await services[0].stop()

    asyncio.run(start_and_stop())
