"""Retention: a scheduled job removes what is older than its retention period, unless on legal
hold, and writes what it removed to the audit log (``retention.applied``: counts and ids, no data).

- quarantine: rejected raw inputs (``quarantine_days``, default 90); single items can be held by id.
- audit log: records older than ``audit_days`` (default 2190, six years as HIPAA asks for
  documentation); the chain stays verifiable from a sealed anchor (`AuditLog.purge_before`).
- delivered spool entries: ``delivered_days`` (default 30). The spool owns its purge: when the
  spool backend has ``async purge_delivered(*, older_than: datetime) -> int`` (the delivery area's
  hook) it is called; otherwise the record says ``spool=unsupported`` and nothing is removed.

``legal_hold: true`` stops every removal (the job still runs and records that it held).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from gateway.dataflow import FlowPart
    from gateway.runtime import Runtime

log = logging.getLogger("rcmgw.retention")


class RetentionSettings(BaseModel):
    """The ``retention`` settings section."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run the retention job in this process.")
    interval_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] = Field(
        3600, description="Seconds between retention runs."
    )
    quarantine_days: Annotated[int, Field(ge=1)] = Field(90, description="Keep quarantined inputs this long.")
    audit_days: Annotated[int, Field(ge=365)] = Field(2190, description="Keep audit records this long.")
    delivered_days: Annotated[int, Field(ge=1)] = Field(
        30, description="Keep delivered spool entries this long (needs the spool's purge hook)."
    )
    legal_hold: bool = Field(False, description="Legal hold: remove nothing at all while true.")
    held_quarantine_ids: list[str] = Field(
        default_factory=list, description="Quarantine ids on legal hold (never removed)."
    )


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one run removed."""

    quarantine_removed: int
    audit_removed: int
    spool_removed: int | None
    held: bool


def _quarantined_at(reason_file: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(reason_file.read_text("utf-8"))["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def purge_quarantine(directory: Path, cutoff: datetime, held: set[str]) -> int:
    """Remove quarantined inputs stored before ``cutoff`` (except ``held`` ids); how many."""
    if not directory.is_dir():
        return 0
    removed = 0
    for reason in sorted(directory.glob("*.reason")):
        quarantine_id = reason.stem
        at = _quarantined_at(reason)
        if quarantine_id in held or at is None or at >= cutoff:
            continue
        (directory / f"{quarantine_id}.bin").unlink(missing_ok=True)
        reason.unlink(missing_ok=True)
        removed += 1
    return removed


async def apply_retention(runtime: Runtime, settings: RetentionSettings, now: datetime) -> RetentionReport:
    """One retention pass over ``runtime``'s stores, recorded in the audit log."""
    if settings.legal_hold:
        await runtime.audit.record("retention.applied", actor="system", outcome="held", legal_hold=True)
        return RetentionReport(0, 0, 0, held=True)
    quarantine_removed = await asyncio.to_thread(
        purge_quarantine,
        runtime.settings.quarantine_dir,
        now - timedelta(days=settings.quarantine_days),
        set(settings.held_quarantine_ids),
    )
    audit_removed, last_seq = await asyncio.to_thread(
        runtime.audit.purge_before, now - timedelta(days=settings.audit_days)
    )
    purge = getattr(runtime.spool, "purge_delivered", None)
    spool_removed: int | None = None
    if callable(purge):
        spool_removed = int(await purge(older_than=now - timedelta(days=settings.delivered_days)))
    await runtime.audit.record(
        "retention.applied",
        actor="system",
        quarantine_removed=quarantine_removed,
        audit_removed=audit_removed,
        audit_purged_through_seq=last_seq,
        spool="unsupported" if spool_removed is None else "purged",
        spool_removed=spool_removed,
        held_quarantine_ids=len(settings.held_quarantine_ids),
    )
    log.info(
        "retention applied",
        extra={"quarantine_removed": quarantine_removed, "audit_removed": audit_removed},
    )
    return RetentionReport(quarantine_removed, audit_removed, spool_removed, held=False)


class RetentionService:
    """The scheduled retention job (a `BackgroundService`): runs every ``interval_seconds``."""

    name = "retention"

    def __init__(
        self, settings: RetentionSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self, runtime: Runtime) -> None:
        """Start the periodic task (unless disabled)."""
        if not self.settings.enabled:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(runtime), name="retention")

    async def _run(self, runtime: Runtime) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.interval_seconds)
            if self._stop.is_set():
                return
            try:
                await apply_retention(runtime, self.settings, self.clock())
            except Exception as error:  # noqa: BLE001 - the job must outlive one bad run
                log.error("retention failed", extra={"error_class": type(error).__name__})

    async def stop(self) -> None:
        """Stop the task and wait for it."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    def dataflow_node(self) -> FlowPart:
        """Retention moves no data; it only removes it."""
        from gateway.dataflow import FlowPart

        return FlowPart()
