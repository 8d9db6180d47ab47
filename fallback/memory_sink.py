"""`MemorySink`: the in-package test double of `Sink`.

It records deliveries in memory, honours the idempotency contract, and can be told to fail the next
N calls with a transient or permanent error, so tests can drive the worker's retry paths without a
network. It passes the same contract suite as the real sinks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

from fallback.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket


class MemorySink:
    """A `Sink` that keeps delivered tickets in a dict (see the module docstring).

    ``delivered`` maps idempotency keys to tickets in delivery order; ``calls`` lists every key
    passed to ``deliver``, including failed and duplicate calls.
    """

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.delivered: dict[str, SealedTicket] = {}
        self.calls: list[str] = []
        self._remote_ids: dict[str, str] = {}
        self._failures: deque[DeliveryError] = deque()
        self._open = False
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> MemorySink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Mark the sink open. Idempotent; delivered tickets survive close and reopen."""
        self._open = True

    async def aclose(self) -> None:
        """Mark the sink closed. Idempotent."""
        self._open = False

    def fail_next(self, count: int = 1, *, permanent: bool = False, retry_after: float | None = None) -> None:
        """Make the next ``count`` calls to ``deliver`` raise `TransientDeliveryError` (with
        ``retry_after``) or, with ``permanent=True``, `PermanentDeliveryError`."""
        for _ in range(count):
            if permanent:
                self._failures.append(PermanentDeliveryError(f"{self.name}: injected permanent failure"))
            else:
                self._failures.append(
                    TransientDeliveryError(
                        f"{self.name}: injected transient failure", retry_after=retry_after
                    )
                )

    def fail_with(self, error: DeliveryError) -> None:
        """Make the next call to ``deliver`` raise ``error`` (queued after earlier failures)."""
        self._failures.append(error)

    async def deliver(self, ticket: SealedTicket, idempotency_key: str) -> DeliveryReceipt:
        """See `Sink.deliver`. ``remote_id`` is ``"mem-<n>"``, n counting distinct deliveries."""
        if not self._open:
            raise RuntimeError(f"sink {self.name!r} is not open")
        self.calls.append(idempotency_key)
        if self._failures:
            raise self._failures.popleft()
        known = self._remote_ids.get(idempotency_key)
        if known is not None:
            return DeliveryReceipt(remote_id=known, duplicate=True)
        remote_id = f"mem-{len(self.delivered) + 1}"
        self.delivered[idempotency_key] = ticket
        self._remote_ids[idempotency_key] = remote_id
        async with self._changed:
            self._changed.notify_all()
        return DeliveryReceipt(remote_id=remote_id, duplicate=False)

    async def wait_until_delivered(self, count: int) -> None:
        """Return once at least ``count`` distinct tickets were delivered (wrap it in a timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.delivered) >= count)


__all__ = ["MemorySink"]
