"""`GroupIngest`: group commit for concurrent single-record ingest (the HL7 v2 intake's path).

Each connection of the MLLP listener ingests one message at a time; with one fsynced spool, audit
and lifecycle commit per message the gateway is commit-bound. `GroupIngest.ingest` has the contract
of `IngestPipeline.ingest`, but the records that arrive while a group is being committed are
collected and handed together to `IngestPipeline.ingest_group` (one spool transaction, one audit
transaction, one lifecycle transaction for the whole group). Every caller returns only after the
transactions holding its record committed, so "ACK only after a durable commit" still holds; a
failed commit fails every caller of that group (none of them may be acknowledged).
"""

from __future__ import annotations

import asyncio

from adapters.base import SourceRecord
from gateway.pipeline import IngestPipeline, IngestResult, RecordQuarantined

DEFAULT_MAX_GROUP = 256


class GroupIngest:
    """Coalesces concurrent `ingest` calls into groups of at most ``max_group`` records."""

    def __init__(self, pipeline: IngestPipeline, *, max_group: int = DEFAULT_MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._pipeline = pipeline
        self._max = max_group
        self._queue: list[tuple[SourceRecord, asyncio.Future[IngestResult | RecordQuarantined]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        self.groups = 0

    async def ingest(self, record: SourceRecord) -> IngestResult:
        """Same contract as `IngestPipeline.ingest` (without ``ack``): durable when it returns;
        raises `RecordQuarantined` or `fallback.errors.SpoolError`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult | RecordQuarantined] = loop.create_future()
        self._queue.append((record, future))
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush())
        outcome = await future
        if isinstance(outcome, RecordQuarantined):
            raise outcome
        return outcome

    async def _flush(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # let the callers that are ready join this group
                group, self._queue = self._queue[: self._max], self._queue[self._max :]
                self.groups += 1
                try:
                    outcomes = await self._pipeline.ingest_group([record for record, _ in group])
                except Exception as exc:  # noqa: BLE001 - every caller of the group gets the failure
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._flushing = False


__all__ = ["DEFAULT_MAX_GROUP", "GroupIngest"]
