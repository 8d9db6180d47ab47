"""The spool interface, `SpoolBackend`, and the values that cross it.

The spool is the durable queue between ingest and delivery. Ingest ``put``s a sealed ticket once,
fanned out to one entry per sink, and acknowledges its source only after ``put`` returns. A delivery
worker per sink ``lease``s due entries, delivers them, and ``settle``s each one.

Entry life cycle::

    put --> PENDING --lease--> LEASED --settle(Delivered)--> DELIVERED
               ^                 |  |
               |                 |  +--settle(DeadLetter)--> DEAD
               +--settle(RetryAt)+
               +--lease expires (picked up again by the next lease)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from fallback.registry import Registry
from normalizers.sealed import SealedTicket

MAX_REASON_CHARS = 200
"""Settlement reasons longer than this are cut when stored."""


class EntryState(StrEnum):
    """Where a spool entry is in its life cycle (see the module docstring)."""

    PENDING = "pending"
    LEASED = "leased"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class PutResult:
    """What ``put`` did: ``created`` is False when the dedup key was already spooled, in which case
    ``entry_ids`` are the existing entries' ids (in sink order of the original put)."""

    created: bool
    entry_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PutRequest:
    """One item of ``put_many``: the same arguments as one ``put``."""

    ticket: SealedTicket
    dedup_key: str
    sinks: Sequence[str]


@dataclass(frozen=True, slots=True)
class LeasedEntry:
    """An entry handed to a worker. ``attempts`` counts the delivery attempts started *before* this
    lease; ``lease_expires_at`` is when the entry becomes leasable by others again."""

    entry_id: str
    sink: str
    ticket: SealedTicket
    attempts: int
    created_at: datetime
    lease_expires_at: datetime
    seq: int = 0
    """The entry's position in spool order (the pull API's cursor); 0 where not tracked."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """Settlement: the sink accepted the ticket (``remote_id`` is its id there, when known)."""

    remote_id: str | None


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Settlement: try again no earlier than ``when`` (aware). ``reason`` is a short code or error
    class name, never payload text."""

    when: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Settlement: stop trying; park the entry for an operator. ``reason`` as for `RetryAt`."""

    reason: str


Outcome = Delivered | RetryAt | DeadLetter
"""Every way an entry can be settled."""

Settlement = tuple[str, Outcome]
"""One item of ``settle_many``: an entry id and its outcome."""


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """An entry as the operators' views show it: metadata only, never the payload.

    ``next_attempt_at`` is set while the entry is PENDING (when it becomes due) and None once it is
    DELIVERED or DEAD; while LEASED it holds the time the entry was due when it was leased.
    """

    entry_id: str
    sink: str
    ticket_id: str
    fingerprint: str
    state: EntryState
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    last_error: str | None
    remote_id: str | None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None


@runtime_checkable
class SpoolBackend(Protocol):
    """A durable, encrypted queue of sealed tickets, one entry per (ticket, sink).

    Contract, shared by every backend and checked by ``tests/fallback/test_spool_contract.py``:

    * ``open()`` before anything else; ``aclose()`` at the end (idempotent). Backends also support
      ``async with``. Using a spool that is not open raises `SpoolUnavailable`.
    * Time comes from the backend's injected clock; every datetime in and out is timezone-aware.
    * ``put(ticket, dedup_key=..., sinks=[...])`` writes one PENDING entry per sink, due now, in ONE
      transaction, and returns only after a durable commit. It is idempotent on ``dedup_key``: a
      second put with a known key creates nothing (whatever its ``sinks``) and returns
      ``created=False`` with the existing entry ids. Raises `SpoolUnavailable` if it cannot commit
      (the caller must then NOT acknowledge its source) and ValueError on an empty dedup key or an
      empty or repeated sink list.
    * ``put_many([PutRequest, ...])`` does what one ``put`` per item would do, in ONE transaction
      with one durable commit (a file's records are acknowledged together); it returns one
      `PutResult` per item, in order. A dedup key repeated inside the batch behaves as if the items
      were put one after the other (the later ones get ``created=False``). Every item is validated
      before anything is written (ValueError: nothing is spooled); an empty batch returns ``[]``.
    * ``lease(sink, owner=..., limit=..., lease_for=...)`` claims up to ``limit`` entries of ``sink``
      that are PENDING and due (``next_attempt_at <= now``) or LEASED with an expired lease, oldest
      ``created_at`` first, and marks them LEASED by ``owner`` until ``now + lease_for``. Leasing
      counts as starting an attempt: the stored ``attempts`` grows by one, and the returned
      `LeasedEntry.attempts` is the count *before* this lease. So a ticket whose delivery crashes
      the worker still uses up attempts. An entry whose stored bytes cannot be decrypted or decoded
      is never returned: it is settled DEAD with reason ``"spool.corrupt"`` and logged by id.
    * ``settle(entry_id, owner=..., outcome=...)`` records the outcome: `Delivered` -> DELIVERED,
      `RetryAt` -> PENDING due at ``when``, `DeadLetter` -> DEAD. Raises `LeaseLost` unless the
      entry is LEASED by ``owner`` and the lease has not expired.
    * ``settle_many([(entry_id, outcome), ...], owner=...)`` settles every entry as ``settle`` would,
      in ONE transaction with one durable commit; an entry whose lease ``owner`` no longer holds is
      skipped (the others are still settled) and its id is returned, in input order. An entry id
      repeated in the batch is settled once (the first) and the repeats are returned as lost. An
      empty batch returns ``[]`` without touching storage.
    * ``get``, ``list_entries`` (oldest first) and ``depth`` (sink -> state -> count, every state
      present for each sink that has entries) are read-only views without payloads.
    * ``check_writable()`` performs a small durable write and raises `SpoolUnavailable` when it
      cannot; the gateway's ``/readyz`` calls it.
    * Errors from the storage layer are translated into `fallback.errors.SpoolError` subclasses and
      carry ids and codes only.
    """

    async def open(self) -> None:
        """Connect and create or migrate the schema. Raises `SpoolUnavailable` when it cannot."""
        ...

    async def put(self, ticket: SealedTicket, *, dedup_key: str, sinks: Sequence[str]) -> PutResult:
        """Durably spool ``ticket`` for each of ``sinks`` (see the class docstring)."""
        ...

    async def put_many(self, items: Sequence[PutRequest]) -> list[PutResult]:
        """Durably spool every item in one transaction (see the class docstring)."""
        ...

    async def lease(self, sink: str, *, owner: str, limit: int, lease_for: timedelta) -> list[LeasedEntry]:
        """Claim due entries of ``sink`` for ``owner`` (see the class docstring)."""
        ...

    async def settle(self, entry_id: str, *, owner: str, outcome: Outcome) -> None:
        """Record the outcome of a leased entry; `LeaseLost` if ``owner`` does not hold it."""
        ...

    async def settle_many(self, settlements: Sequence[Settlement], *, owner: str) -> list[str]:
        """Settle many leased entries in one transaction; the ids whose lease was lost."""
        ...

    async def get(self, entry_id: str) -> EntryInfo | None:
        """The entry's metadata, or None if there is no such entry."""
        ...

    async def list_entries(
        self, *, state: EntryState | None = None, sink: str | None = None, limit: int = 100
    ) -> list[EntryInfo]:
        """Entries matching the filters, oldest first, at most ``limit``."""
        ...

    async def depth(self) -> dict[str, dict[str, int]]:
        """Entry counts: sink -> state value -> count."""
        ...

    async def check_writable(self) -> None:
        """Prove the spool can commit a write now; `SpoolUnavailable` if not."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


class SpoolRegistry(Registry[SpoolBackend]):
    """Spool backends by configuration name, e.g. ``registry.register("sqlite", SqliteSpool)``."""

    kind = "spool backend"


def validate_put(dedup_key: str, sinks: Sequence[str]) -> tuple[str, ...]:
    """Check the arguments of ``put`` the same way in every backend; returns the sinks as a tuple.
    Raises ValueError on an empty dedup key, no sinks, an empty sink name or a repeated sink."""
    if not dedup_key:
        raise ValueError("dedup_key must be non-empty")
    names = tuple(sinks)
    if not names or any(not name for name in names):
        raise ValueError("put needs at least one non-empty sink name")
    if len(set(names)) != len(names):
        raise ValueError("put sinks must not repeat")
    return names


def validate_lease(owner: str, limit: int, lease_for: timedelta) -> None:
    """Check the arguments of ``lease``; ValueError on an empty owner, limit < 1 or a lease <= 0."""
    if not owner:
        raise ValueError("lease owner must be non-empty")
    if limit < 1:
        raise ValueError("lease limit must be at least 1")
    if lease_for <= timedelta(0):
        raise ValueError("lease_for must be positive")


def short_reason(reason: str) -> str:
    """A settlement reason cut to `MAX_REASON_CHARS`."""
    return reason[:MAX_REASON_CHARS]


__all__ = [
    "MAX_REASON_CHARS",
    "DeadLetter",
    "Delivered",
    "EntryInfo",
    "EntryState",
    "LeasedEntry",
    "Outcome",
    "PutRequest",
    "PutResult",
    "RetryAt",
    "Settlement",
    "SpoolBackend",
    "SpoolRegistry",
    "short_reason",
    "validate_lease",
    "validate_put",
]


def entry_info_from_row(row: Sequence[Any], to_time: Callable[[Any], datetime]) -> EntryInfo:
    """An `EntryInfo` from the backends' common entry columns (entry_id, sink, ticket_id,
    fingerprint, state, attempts, created_at, updated_at, next_attempt_at, last_error, remote_id,
    lease_owner, lease_expires_at); ``to_time`` turns a stored time into an aware datetime."""
    (entry_id, sink, ticket_id, fingerprint, state, attempts, created, updated, next_at, error,
     remote_id, lease_owner, lease_expires) = row  # fmt: skip
    settled = state in ("delivered", "dead")
    return EntryInfo(
        entry_id=entry_id,
        sink=sink,
        ticket_id=ticket_id,
        fingerprint=fingerprint,
        state=EntryState(state),
        attempts=attempts,
        created_at=to_time(created),
        updated_at=to_time(updated),
        next_attempt_at=None if settled or next_at is None else to_time(next_at),
        last_error=error,
        remote_id=remote_id,
        lease_owner=lease_owner,
        lease_expires_at=None if lease_expires is None else to_time(lease_expires),
    )
