"""`DeliveryWorker`: moves entries of one sink from the spool to that sink.

One worker per sink. Each round leases a batch of due entries, delivers them (one by one in
order, or up to ``concurrency`` at a time) and settles the whole batch in one spool transaction
(``settle_many``: one durable commit; a backend without it is settled entry by entry). Outcomes:
`Delivered`; on `TransientDeliveryError` (or any unexpected exception, which is treated as
transient) whatever the `RetryPolicy` decides; on `PermanentDeliveryError` a `DeadLetter`.
A failing entry never blocks the others and a failing sink never stops the loop. If the worker dies
mid-batch, the leases expire and the entries come back on their own; the sink's idempotency makes
the repeated delivery harmless.

Sink health (optional, per worker): a `CircuitBreaker` stops leasing while the sink keeps failing
(transient failures only); it is asked again before each send of a batch, and once it opens no
further send starts: the rest of the batch goes back to PENDING at the half-open time. A
`RateLimiter` spaces the sends (each send takes a token, whatever the concurrency). A `SinkGone`
(HTTP 410) disables the sink in the spool (every node stops), puts the entry back, and stops the
rest of the batch; a disabled sink is skipped until an operator re-enables it. ``on_settled``
(e.g. the gateway's audit log) is awaited after every settlement with the entry and its outcome;
``on_settled_batch`` once per round with every settled (entry, outcome), in order, so a durable
hook can commit a whole batch at once (the gateway's audit log does: one transaction per batch).

Logs carry the entry id, ticket id, sink, outcome and error class name, never ticket content or an
exception's message (a remote's error text can echo PHI back).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from fallback.circuit import CircuitBreaker, RateLimiter
from fallback.clock import Clock, require_aware, utc_now
from fallback.errors import (
    DeliveryError,
    LeaseLost,
    PermanentDeliveryError,
    SinkGone,
    SpoolError,
    TransientDeliveryError,
)
from fallback.retry import RetryPolicy
from fallback.sink import Sink
from fallback.spool import DeadLetter, Delivered, LeasedEntry, Outcome, RetryAt, SpoolBackend

logger = logging.getLogger(__name__)

SettledHook = Callable[[LeasedEntry, Outcome], Awaitable[None]]
"""Called after each settlement (the gateway audits deliveries, retries and dead letters)."""

SettledBatchHook = Callable[[Sequence[tuple[LeasedEntry, Outcome]]], Awaitable[None]]
"""Called once per round with the round's settlements, in order (one durable write per batch)."""


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
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
        on_settled: SettledHook | None = None,
        on_settled_batch: SettledBatchHook | None = None,
        half_open_after: timedelta = timedelta(seconds=30),
        concurrency: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
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
        self._breaker = breaker
        self._limiter = limiter
        self._on_settled = on_settled
        self._on_settled_batch = on_settled_batch
        self._half_open_after = half_open_after
        self._concurrency = concurrency

    @property
    def sink_name(self) -> str:
        """The name of the sink this worker delivers to."""
        return self._sink.name

    @property
    def circuit_state(self) -> str | None:
        """The circuit breaker's state (``closed``/``open``/``half_open``), None without one."""
        return None if self._breaker is None else self._breaker.state.value

    def notify(self) -> None:
        """Wake the loop now instead of at the next poll (the ingest path calls it after a put)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Lease one batch, deliver and settle every entry; return how many were processed.

        Raises `SpoolError` when the lease itself fails; settlement errors are logged per entry
        (an unsettled entry comes back when its lease expires).
        """
        if await self._disabled():
            return 0
        limit = self._batch_size
        if self._breaker is not None:
            if not self._breaker.allow():
                return 0
            if self._breaker.state.value != "closed":
                limit = 1  # the half-open trial
        entries = await self._spool.lease(
            self._sink.name, owner=self._owner, limit=limit, lease_for=self._lease_for
        )
        if not entries and self._breaker is not None and self._breaker.state.value != "closed":
            self._breaker.record(True)  # nothing to try: do not leave the trial hanging
        outcomes: list[Outcome | None] = [None] * len(entries)
        stopped: str | None = None

        async def one(index: int, entry: LeasedEntry) -> None:
            nonlocal stopped
            if stopped is None and index > 0 and self._breaker is not None and not self._breaker.allow():
                stopped = "circuit_open"
            if stopped is None and self._limiter is not None:
                await self._limiter.acquire()
            if stopped is not None:  # also when it stopped while this one waited
                wait = self._half_open_after if stopped == "circuit_open" else timedelta(0)
                outcomes[index] = RetryAt(when=self._now() + wait, reason=stopped)
                return
            outcome = await self._attempt(entry)
            gone = outcome.reason if isinstance(outcome, RetryAt) else ""
            if gone.startswith(SinkGone.code) and stopped != SinkGone.code:
                stopped = SinkGone.code
                await self._disable(gone)
            outcomes[index] = outcome

        # ``concurrency`` lanes take the entries in order, one at a time each: at most that many
        # sends in flight, and one task per lane rather than per entry.
        queue = iter(enumerate(entries))

        async def lane() -> None:
            for index, entry in queue:
                await one(index, entry)

        if self._concurrency == 1:
            await lane()
        else:
            await asyncio.gather(*(lane() for _ in range(min(self._concurrency, len(entries)))))
        await self._settle_all(entries, [o for o in outcomes if o is not None])
        return len(entries)

    async def _disabled(self) -> bool:
        disabled_sinks = getattr(self._spool, "disabled_sinks", None)
        if disabled_sinks is None:
            return False
        return self._sink.name in await disabled_sinks()

    async def _disable(self, reason: str) -> None:
        setter = getattr(self._spool, "set_sink_disabled", None)
        if setter is not None:
            await setter(self._sink.name, reason)
        logger.error("sink disabled by the remote (410 Gone)", extra={"sink": self._sink.name})

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
            self._health(False)
            return self._policy.decide(
                attempts, entry.created_at, self._now(), exc.retry_after, self._rng, reason=_reason(exc)
            )
        except SinkGone as exc:
            self._health(True)
            return RetryAt(when=self._now(), reason=_reason(exc))
        except PermanentDeliveryError as exc:
            self._health(True)
            return DeadLetter(reason=_reason(exc))
        except Exception as exc:  # noqa: BLE001 - an unknown failure is retried, never lost
            self._health(False)
            reason = f"unexpected:{type(exc).__name__}"
            logger.warning(
                "sink raised an unexpected exception",
                extra={**self._ids(entry), "error_class": type(exc).__name__},
            )
            return self._policy.decide(
                attempts, entry.created_at, self._now(), None, self._rng, reason=reason
            )
        self._health(True)
        return Delivered(remote_id=receipt.remote_id)

    def _health(self, success: bool) -> None:
        if self._breaker is not None:
            self._breaker.record(success)

    async def _settle_all(self, entries: list[LeasedEntry], outcomes: list[Outcome]) -> None:
        """Settle a batch in one spool transaction (`settle_many`) when the backend offers it, then
        hand the settled ones to ``on_settled_batch``."""
        pairs = list(zip(entries, outcomes, strict=True))
        settle_many = getattr(self._spool, "settle_many", None)
        done: list[tuple[LeasedEntry, Outcome]] = []
        if settle_many is None or len(entries) == 1:
            for entry, outcome in pairs:
                if await self._settle(entry, outcome):
                    done.append((entry, outcome))
        else:
            try:
                lost = set(await settle_many([(e.entry_id, o) for e, o in pairs], owner=self._owner))
            except SpoolError as exc:
                for entry, outcome in pairs:
                    logger.error(
                        "settlement failed", extra={**self._fields(entry, outcome), "code": exc.code}
                    )
                return
            for entry, outcome in pairs:
                if entry.entry_id in lost:
                    logger.warning("lease lost before settlement", extra=self._fields(entry, outcome))
                else:
                    await self._settled(entry, outcome)
                    done.append((entry, outcome))
        if self._on_settled_batch is not None and done:
            try:
                await self._on_settled_batch(done)
            except Exception as exc:  # noqa: BLE001 - a failing hook must not stop delivery
                logger.error(
                    "settlement hook failed",
                    extra={"sink": self._sink.name, "entries": len(done), "error_class": type(exc).__name__},
                )

    async def _settle(self, entry: LeasedEntry, outcome: Outcome) -> bool:
        fields = self._fields(entry, outcome)
        try:
            await self._spool.settle(entry.entry_id, owner=self._owner, outcome=outcome)
        except LeaseLost:
            logger.warning("lease lost before settlement", extra=fields)
            return False
        except SpoolError as exc:
            logger.error("settlement failed", extra={**fields, "code": exc.code})
            return False
        await self._settled(entry, outcome)
        return True

    async def _settled(self, entry: LeasedEntry, outcome: Outcome) -> None:
        fields = self._fields(entry, outcome)
        level = logging.WARNING if isinstance(outcome, DeadLetter) else logging.INFO
        logger.log(level, "delivery settled", extra=fields)
        if self._on_settled is not None:
            try:
                await self._on_settled(entry, outcome)
            except Exception as exc:  # noqa: BLE001 - a failing hook must not stop delivery
                logger.error("settlement hook failed", extra={**fields, "error_class": type(exc).__name__})

    def _fields(self, entry: LeasedEntry, outcome: Outcome) -> dict[str, object]:
        fields = {**self._ids(entry), "outcome": _outcome_name(outcome), "attempt": entry.attempts + 1}
        if isinstance(outcome, RetryAt | DeadLetter):
            fields["reason"] = outcome.reason
        return fields

    def _ids(self, entry: LeasedEntry) -> dict[str, object]:
        return {"entry_id": entry.entry_id, "ticket_id": entry.ticket.id, "sink": entry.sink}

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")


def _reason(exc: DeliveryError) -> str:
    reason = f"{exc.code}:{type(exc).__name__}"
    return reason if exc.status is None else f"{reason}:http_{exc.status}"


def _outcome_name(outcome: Outcome) -> str:
    if isinstance(outcome, Delivered):
        return "delivered"
    if isinstance(outcome, RetryAt):
        return "retry"
    return "dead_letter"


__all__ = ["DeliveryWorker"]
