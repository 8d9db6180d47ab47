"""The group-wait flusher: a `BackgroundService` that delivers, on time, the update owed for
occurrences the dedup lifecycle absorbed, when no further input arrives to trigger it.

Without it a burst folded into an open ticket (`normalizers.lifecycle`: repeats inside
``group_wait`` are absorbed) reached the ticketing side only when the next occurrence of the same
problem arrived after the hold. The flusher polls the lifecycle store every
``lifecycle.flush_interval_seconds`` for states owing an update (``FingerprintState.pending``)
whose hold has passed (`normalizers.lifecycle.due_at`: ``group_wait`` after the opening for the
first update, ``repeat_interval`` after the last delivery for later ones) and, for each, under the
lifecycle lock (a cluster-wide lock on PostgreSQL): re-reads the state, plans the update from the
state's template (`gateway.lifecycle_flow.LifecycleGate.flush_plan`), spools it (idempotent on
its dedup key ``lifecycle|<ticket>|update|<n>``, the same an input-triggered update would use),
audits ``lifecycle.flushed`` and saves the state durably. A crash between spool and save re-plans
the same update number: the put is then a no-op.

On shutdown it runs one last pass before the spool closes, so every update due by then is spooled;
updates not yet due stay in the durable lifecycle state and are flushed by the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from pydantic import ValidationError

from fallback.errors import SpoolCorrupt, SpoolError
from fallback.spool import SpoolBackend
from gateway.audit import AuditLog
from gateway.lifecycle_flow import LifecycleGate

if TYPE_CHECKING:
    from gateway.pipeline import IngestPipeline

log = logging.getLogger("rcmgw.lifecycle")


async def flush_due(
    gate: LifecycleGate,
    spool: SpoolBackend,
    sinks: Sequence[str],
    audit: AuditLog,
    on_spooled: Callable[[], None],
    *,
    limit: int = 500,
) -> int:
    """Spool every group-wait update due now (at most ``limit``); returns how many were new."""
    policy = gate.policy
    horizon = gate.clock() - min(policy.group_wait, policy.repeat_interval)
    flushed = 0
    for candidate in await gate.store.pending(horizon, limit):
        async with gate.lock:
            try:
                plan = await gate.flush_plan(candidate.fingerprint)
            except (SpoolCorrupt, ValidationError) as error:  # one bad template never blocks the rest
                log.warning(
                    "lifecycle template unreadable",
                    extra={"fingerprint": candidate.fingerprint, "error_class": type(error).__name__},
                )
                continue
            if plan is None:
                continue
            for sealed in plan.deliveries:
                put = await spool.put(sealed.ticket, dedup_key=sealed.dedup_key, sinks=sinks)
                mark = sealed.ticket.payload.lifecycle
                await audit.record(
                    "lifecycle.flushed",
                    actor="system",
                    ticket_id=sealed.ticket.id,
                    of=plan.ticket_id,
                    fingerprint=plan.fingerprint,
                    occurrences=mark.occurrences if mark else None,
                    new_ticket=put.created,
                )
                log.info(
                    "lifecycle update flushed",
                    extra={
                        "ticket_id": sealed.ticket.id,
                        "of_ticket": plan.ticket_id,
                        "fingerprint": plan.fingerprint,
                        "new_ticket": put.created,
                    },
                )
                flushed += put.created
            await gate.commit(plan)
    if flushed:
        on_spooled()
    return flushed


class LifecycleFlusher:
    """`BackgroundService` running `IngestPipeline.flush_lifecycle` every ``interval`` seconds
    and once more on stop (see the module docstring)."""

    name = "lifecycle-flusher"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._pipeline: IngestPipeline | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    async def start(self, runtime: object) -> None:
        """Start polling the pipeline of ``runtime`` (a `gateway.runtime.Runtime`)."""
        self._pipeline = getattr(runtime, "pipeline", None)
        if self._pipeline is None:
            return
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self._pass()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)

    async def _pass(self) -> None:
        assert self._pipeline is not None
        try:
            await self._pipeline.flush_lifecycle()
        except SpoolError as error:  # the next pass retries; the states stay owed
            log.warning(
                "lifecycle flush failed", extra={"code": error.code, "error_class": type(error).__name__}
            )
        except Exception as error:  # noqa: BLE001 - one bad pass never ends the service (class only)
            log.error("lifecycle flush crashed", extra={"error_class": type(error).__name__})
        self.passes += 1

    async def stop(self) -> None:
        """Stop polling, then flush what is due once more (before the spool closes)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
            await self._pass()
