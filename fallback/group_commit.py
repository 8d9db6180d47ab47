"""Group commit for the SQLite spool: many concurrent ``put`` calls, one fsynced transaction.

`SqliteSpool.put` commits (and fsyncs) once per ticket. Under concurrent ingest, `CommitBatcher`
queues the puts that arrive while a commit is in flight and writes them all in the next single
transaction via `SqliteSpool.put_batch`; every caller's ``put`` returns only after the transaction
holding its ticket committed, so "acknowledge only after a durable commit" still holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from fallback.spool import PutResult
from normalizers.sealed import SealedTicket

PutItem = tuple[SealedTicket, str, Sequence[str]]


class BatchPutter(Protocol):
    """A spool that can put several tickets in one transaction."""

    async def put_batch(self, items: Sequence[PutItem]) -> list[PutResult]:
        """Put every item in ONE durable transaction; results in order."""
        ...


class CommitBatcher:
    """Coalesces concurrent puts into group commits of at most ``max_batch`` tickets."""

    def __init__(self, spool: BatchPutter, *, max_batch: int = 512) -> None:
        self._spool = spool
        self._max = max_batch
        self._queue: list[tuple[PutItem, asyncio.Future[PutResult]]] = []
        self._flushing = False

    async def put(self, ticket: SealedTicket, *, dedup_key: str, sinks: Sequence[str]) -> PutResult:
        """Same contract as `SpoolBackend.put` (durable when it returns)."""
        future: asyncio.Future[PutResult] = asyncio.get_running_loop().create_future()
        self._queue.append(((ticket, dedup_key, tuple(sinks)), future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # let the callers that are ready join this batch
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                try:
                    results = await self._spool.put_batch([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing = False


__all__ = ["BatchPutter", "CommitBatcher", "PutItem"]
