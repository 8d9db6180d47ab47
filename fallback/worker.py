"""`DeliveryWorker`: moves entries of one sink from the spool to that sink.

One worker per sink. Each round leases a batch of due entries, delivers them one by one in order,
and settles each: `Delivered`; on `TransientDeliveryError` (or any unexpected exception, which is
treated as transient) whatever the `RetryPolicy` decides; on `PermanentDeliveryError` a `DeadLetter`.
A failing entry never blocks the others and a failing sink never stops the loop. If the worker dies
mid-batch, the leases expire and the entries come back on their own; the sink's idempotency makes
the repeated delivery harmless.

Logs carry the entry id, ticket id, sink, outcome and error class name, never ticket content or an
exception's message (a remote's error text can echo PHI back).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

from fallback.clock import Clock, require_aware, utc_now
from fallback.errors import (
    LeaseLost,
    PermanentDeliveryError,
    SpoolError,
    TransientDeliveryError,
)
from fallback.retry import RetryPolicy
from fallback.sink import Sink
from fallback.spool import DeadLetter, Delivered, LeasedEntry, Outcome, RetryAt, SpoolBackend

logger = logging.getLogger(__name__)


class DeliveryWorker:
    """Delivers ``sink``'s entries from ``spool`` (see the module docstring).

    ``owner`` identifies this worker in leases (unique per process and sink, e.g.
    ``"host-1:pid:jira"``). ``lease_for`` must exceed the time a batch of ``batch_size`` deliveries
    can take, or entries are leased twice (harmless, but wasteful). The spool and the sink are
    opened and closed by the caller.
    """

    def __init__(
        self,
        spool: SpoolBackend,
        sink: Sink,
        *,
        policy: RetryPolicy,
        owner: str,
        batch_size: int = 50,
        lease_for: timedelta = timedelta(seconds=60),
        poll_interval: float = 0.25,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._spool = spool
        self._sink = sink
        self._policy = policy
        self._owner = owner
        self._batch_size = batch_size
        self._lease_for = lease_for
        self._poll_interval = poll_interval
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not crypto
        self._wake = asyncio.Event()

    @property
    def sink_name(self) -> str:
        """The name of the sink this worker delivers to."""
        return self._sink.name

    def notify(self) -> None:
        """Wake the loop now instead of at the next poll (the ingest path calls it after a put)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Lease one batch, deliver and settle every entry; return how many were processed.

        Raises `SpoolError` when the lease itself fails; settlement errors are logged per entry
        (an unsettled entry comes back when its lease expires).
        """
        entries = await self._spool.lease(
            self._sink.name, owner=self._owner, limit=self._batch_size, lease_for=self._lease_for
        )
        for entry in entries:
            outcome = await self._attempt(entry)
            await self._settle(entry, outcome)
        return len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop `run_once` until ``stop`` is set. After a round that found nothing (or failed), wait
        up to ``poll_interval`` seconds, returning early on `notify` or ``stop``."""
        while not stop.is_set():
            self._wake.clear()  # a notify() during the round below makes the wait return at once
            try:
                processed = await self.run_once()
            except SpoolError as exc:
                logger.error(
                    "spool lease failed",
                    extra={"sink": self._sink.name, "code": exc.code, "error_class": type(exc).__name__},
                )
                processed = 0
            except Exception as exc:  # noqa: BLE001 - the loop must survive a bug in one round
                logger.error(
                    "delivery round failed",
                    extra={"sink": self._sink.name, "error_class": type(exc).__name__},
                )
                processed = 0
            if processed == 0:
                await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _attempt(self, entry: LeasedEntry) -> Outcome:
        # Leases count as attempts, so an entry whose delivery keeps killing the process (its lease
        # expires unsettled) still runs out of attempts instead of looping forever.
        if entry.attempts >= self._policy.max_attempts:
            return DeadLetter(reason="attempts_exhausted:unsettled_leases")
        attempts = entry.attempts + 1
        try:
            receipt = await self._sink.deliver(entry.ticket, entry.ticket.id)
        except TransientDeliveryError as exc:
            reason = f"{exc.code}:{type(exc).__name__}"
            return self._policy.decide(
                attempts, entry.created_at, self._now(), exc.retry_after, self._rng, reason=reason
            )
        except PermanentDeliveryError as exc:
            return DeadLetter(reason=f"{exc.code}:{type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - an unknown failure is retried, never lost
            reason = f"unexpected:{type(exc).__name__}"
            logger.warning(
                "sink raised an unexpected exception",
                extra={**self._ids(entry), "error_class": type(exc).__name__},
            )
            return self._policy.decide(
                attempts, entry.created_at, self._now(), None, self._rng, reason=reason
            )
        return Delivered(remote_id=receipt.remote_id)

    async def _settle(self, entry: LeasedEntry, outcome: Outcome) -> None:
        fields = {**self._ids(entry), "outcome": _outcome_name(outcome), "attempt": entry.attempts + 1}
        if isinstance(outcome, RetryAt | DeadLetter):
            fields["reason"] = outcome.reason
        try:
            await self._spool.settle(entry.entry_id, owner=self._owner, outcome=outcome)
        except LeaseLost:
            logger.warning("lease lost before settlement", extra=fields)
            return
        except SpoolError as exc:
            logger.error("settlement failed", extra={**fields, "code": exc.code})
            return
        level = logging.WARNING if isinstance(outcome, DeadLetter) else logging.INFO
        logger.log(level, "delivery settled", extra=fields)

    def _ids(self, entry: LeasedEntry) -> dict[str, object]:
        return {"entry_id": entry.entry_id, "ticket_id": entry.ticket.id, "sink": entry.sink}

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")


def _outcome_name(outcome: Outcome) -> str:
    if isinstance(outcome, Delivered):
        return "delivered"
    if isinstance(outcome, RetryAt):
        return "retry"
    return "dead_letter"


__all__ = ["DeliveryWorker"]
