"""The delivery interface, `Sink`, and its receipt.

A sink hands a sealed ticket to one downstream system (Jira, ServiceNow, Zendesk, a webhook, a file).
The delivery worker calls it; the spool makes sure every ticket is offered until it is delivered or
dead-lettered, which means a sink *will* see the same ticket more than once (a crash between
``deliver`` and ``settle``, an expired lease). Idempotency is therefore part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fallback.registry import Registry
from normalizers.sealed import SealedTicket


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """What a sink reports for an accepted ticket: the id it has downstream (None when the system
    gives none) and whether this idempotency key had already been delivered (``duplicate``)."""

    remote_id: str | None
    duplicate: bool = False


@runtime_checkable
class Sink(Protocol):
    """A downstream system that accepts sealed tickets.

    Contract, checked for every sink by ``tests/fallback/test_sink_contract.py``:

    * ``name`` is the sink's configured name; the spool keys entries by it.
    * ``open()`` connects (idempotent); ``deliver`` may only be called between ``open()`` and
      ``aclose()`` (RuntimeError otherwise: a wiring bug, not a delivery failure). ``aclose()`` is
      idempotent.
    * ``deliver(ticket, idempotency_key)`` is idempotent on ``idempotency_key``: delivering the same
      key twice creates ONE ticket downstream, and the second call returns a receipt with
      ``duplicate=True`` (and the same ``remote_id`` when the sink can tell it). The worker passes
      ``ticket.id`` as the key.
    * Failures say what to do next: `TransientDeliveryError` (try later, optionally no sooner than
      ``retry_after`` seconds) or `PermanentDeliveryError` (dead letter). Third-party exceptions are
      translated into one of these, raised ``from`` the original.
    * Exception messages and logs carry ids, codes and HTTP statuses only: never ticket content and
      never the remote's error text (it can echo PHI back).
    """

    name: str

    async def open(self) -> None:
        """Prepare to deliver (connect, authenticate, index what was already delivered)."""
        ...

    async def deliver(self, ticket: SealedTicket, idempotency_key: str) -> DeliveryReceipt:
        """Deliver ``ticket`` once per ``idempotency_key`` (see the class docstring)."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


class SinkRegistry(Registry[Sink]):
    """Sinks by configuration name, e.g. ``registry.register("file", FileSink)``."""

    kind = "sink"


__all__ = ["DeliveryReceipt", "Sink", "SinkRegistry"]
