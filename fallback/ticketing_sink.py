"""`TicketingSink`: search before create, comment on repeats, the pattern of every ticketing sink.

A subclass says how to ``find`` the remote ticket for a fingerprint (the external-id field),
whether a remote ticket already ``mentions`` a gateway ticket id (its text or comments), and how to
``create``, ``comment`` and ``attach``. `deliver` then is:

* found and already mentions this ticket id -> duplicate (a retry or replay): nothing written;
* found -> a comment records the recurrence (no second ticket);
* found, but the ticket ``follows`` a resolved one (a repeat after resolve) -> create a new one,
  whose text names the old ticket id;
* not found -> create, then attach the redacted evidence excerpt where the backend supports it.

``min_write_interval`` spaces two writes to the same remote ticket (Jira asks for it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from fallback.http_sink import HttpSink
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket


def ticket_text(ticket: SealedTicket) -> str:
    """The PHI-free text body of a ticket: summary, facts, description, ids."""
    p = ticket.payload
    lines = [p.summary, "", f"Category: {p.category}", f"Priority: {p.priority.value}"]
    lines += [f"Queue: {p.routing.queue}", f"Source: {p.source.system} ({p.source.format.value})"]
    if p.codes:
        lines.append("Codes: " + ", ".join(f"{c.system}:{c.code}" for c in p.codes))
    if p.description:
        lines += ["", p.description]
    lines += ["", f"rcm-gateway ticket: {p.id}", f"fingerprint: {p.fingerprint}"]
    if p.lifecycle is not None and p.lifecycle.follows:
        lines.append(f"follows rcm-gateway ticket: {p.lifecycle.follows} (resolved earlier)")
    return "\n".join(lines)


def follows(ticket: SealedTicket) -> str | None:
    """The resolved ticket a new ticket of the same problem follows (a repeat after resolve)."""
    mark = ticket.payload.lifecycle
    return mark.follows if mark is not None else None


def recurrence_text(ticket: SealedTicket) -> str:
    """The comment added when a problem is seen again."""
    return f"Seen again: {ticket.payload.summary}\n\nrcm-gateway ticket: {ticket.id}"


class TicketingSink(HttpSink):
    """See the module docstring."""

    min_write_interval: float = 0.0

    def __init__(self, name: str, base_url: str, **kwargs: Any) -> None:
        super().__init__(name, base_url, **kwargs)
        self._last_write: dict[str, float] = {}

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        found = await self.find(ticket.fingerprint)
        if found is not None:
            if await self.mentions(found, idempotency_key):
                return DeliveryReceipt(remote_id=found, duplicate=True)
            if follows(ticket) is not None:  # the old remote ticket was resolved: a new one links it
                return await self._create(ticket)
            await self._space(found)
            await self.comment(found, ticket)
            return DeliveryReceipt(remote_id=found, duplicate=False)
        return await self._create(ticket)

    async def _create(self, ticket: SealedTicket) -> DeliveryReceipt:
        remote_id = await self.create(ticket)
        if ticket.payload.evidence:
            await self._space(remote_id)
            await self.attach(remote_id, f"evidence-{ticket.id}.txt", ticket.payload.evidence.encode())
        return DeliveryReceipt(remote_id=remote_id, duplicate=False)

    async def _space(self, remote_id: str) -> None:
        if self.min_write_interval <= 0:
            return
        last = self._last_write.get(remote_id)
        now = time.monotonic()
        if last is not None and now - last < self.min_write_interval:
            await asyncio.sleep(self.min_write_interval - (now - last))
        self._last_write[remote_id] = time.monotonic()

    async def find(self, fingerprint: str) -> str | None:
        """The remote id of the ticket holding ``fingerprint``, or None."""
        raise NotImplementedError

    async def mentions(self, remote_id: str, ticket_id: str) -> bool:
        """Does the remote ticket already record ``ticket_id``?"""
        raise NotImplementedError

    async def create(self, ticket: SealedTicket) -> str:
        """Create the remote ticket; return its id."""
        raise NotImplementedError

    async def comment(self, remote_id: str, ticket: SealedTicket) -> None:
        """Record a recurrence on the remote ticket."""
        raise NotImplementedError

    async def attach(self, remote_id: str, filename: str, data: bytes) -> None:
        """Upload an attachment (default: not supported, nothing is sent)."""
        return


__all__ = ["TicketingSink", "follows", "recurrence_text", "ticket_text"]
