"""`SpoolAdmin`: what operators and pulling clients do with a spool, beside the delivery loop.

Every backend implements it next to `SpoolBackend` (the contract suite checks both):

* ``find(query)``: entries matching a `SpoolQuery` (state, sink, category, created between
  ``since`` and ``until``; fingerprint prefix, payer id, code from the clear search metadata of
  `fallback.search_meta`), oldest first: metadata only.
* ``read_ticket(entry_id)``: the sealed (PHI-free) ticket of an entry, as it is delivered.
* ``requeue(entry_ids)``: replay. DEAD and DELIVERED entries go back to PENDING, due now, with
  their attempt count reset; PENDING and LEASED entries are left alone (they are on their way).
  Returns the ids that were requeued. A replayed entry reaches its sink with the same ticket id,
  so an idempotent sink does not create a second ticket.
* ``set_legal_hold(entry_ids, hold)``: a held entry is never purged. Returns how many changed.
* ``purge(before, states)``: delete entries in ``states`` (default: DELIVERED) last updated before
  ``before`` and not on hold, then their payloads when no entry refers to them any more, and give
  the space back to the file system (SQLite incremental vacuum; PostgreSQL leaves it to autovacuum
  and reports the rows). Returns a `PurgeResult`.
* ``lease_after(sink, owner=, after=, limit=, lease_for=)``: the pull API's lease, in spool order
  (``LeasedEntry.seq``) after the cursor ``after``.
* ``acknowledge(sink, entry_ids)``: the pull API's ack. PENDING or LEASED entries of ``sink`` become
  DELIVERED whoever holds the lease; returns the ids acknowledged now.
* ``oldest_unsettled()``: sink -> created_at of its oldest PENDING or LEASED entry.
* ``set_sink_disabled(sink, reason)`` / ``disabled_sinks()``: a sink disabled (after a 410, or by an
  operator) is skipped by every worker on every node until re-enabled (``reason=None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from fallback.spool import EntryInfo, EntryState, LeasedEntry
from normalizers.sealed import SealedTicket


@dataclass(frozen=True, slots=True)
class SpoolQuery:
    """Filters for `SpoolAdmin.find`; None means "any". ``since``/``until`` bound ``created_at``
    (``since`` inclusive, ``until`` exclusive)."""

    state: EntryState | None = None
    sink: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    fingerprint: str | None = None
    """A fingerprint or its prefix."""
    payer: str | None = None
    """A payer id."""
    code: str | None = None
    """A code the payload carries, bare (``"45"``, any system) or with its system (``"CARC:45"``)."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge removed: entries and payload rows, and the bytes the file gave back (SQLite;
    0 where the backend reclaims space itself)."""

    entries: int
    payloads: int
    bytes_freed: int


@runtime_checkable
class SpoolAdmin(Protocol):
    """Operator and pull operations (see the module docstring)."""

    async def find(self, query: SpoolQuery) -> list[EntryInfo]:
        """Entries matching ``query``, oldest first."""
        ...

    async def read_ticket(self, entry_id: str) -> SealedTicket | None:
        """The entry's sealed ticket, or None for an unknown entry."""
        ...

    async def requeue(self, entry_ids: Sequence[str]) -> list[str]:
        """Replay DEAD/DELIVERED entries; return those requeued."""
        ...

    async def set_legal_hold(self, entry_ids: Sequence[str], hold: bool) -> int:
        """Set or clear the legal hold; return how many entries changed."""
        ...

    async def purge(
        self, before: datetime, states: Sequence[EntryState] = (EntryState.DELIVERED,)
    ) -> PurgeResult:
        """Delete settled entries older than ``before`` that are not held."""
        ...

    async def lease_after(
        self, sink: str, *, owner: str, after: int, limit: int, lease_for: timedelta
    ) -> list[LeasedEntry]:
        """Lease due entries of ``sink`` with ``seq > after``, in ``seq`` order."""
        ...

    async def acknowledge(self, sink: str, entry_ids: Sequence[str]) -> list[str]:
        """Mark unsettled entries of ``sink`` DELIVERED; return the ids acknowledged now."""
        ...

    async def oldest_unsettled(self) -> dict[str, datetime]:
        """sink -> created_at of its oldest unsettled entry."""
        ...

    async def set_sink_disabled(self, sink: str, reason: str | None) -> None:
        """Disable ``sink`` with a short ``reason`` code, or re-enable it (None)."""
        ...

    async def disabled_sinks(self) -> dict[str, str]:
        """sink -> reason, for every disabled sink."""
        ...


SINK_DISABLED_PREFIX = "sink_disabled:"
"""Key prefix of the disabled-sink flags in the backends' ``spool_meta`` table."""

PURGEABLE_STATES = (EntryState.DELIVERED, EntryState.DEAD)
"""States an operator may purge; PENDING and LEASED entries are never purged."""


def validate_purge_states(states: Sequence[EntryState]) -> tuple[str, ...]:
    """The state values to purge; ValueError for none or for an unsettled state."""
    chosen = tuple(EntryState(s) for s in states)
    if not chosen or any(s not in PURGEABLE_STATES for s in chosen):
        raise ValueError("purge takes delivered and/or dead states only")
    return tuple(s.value for s in chosen)


__all__ = [
    "PURGEABLE_STATES",
    "SINK_DISABLED_PREFIX",
    "PurgeResult",
    "SpoolAdmin",
    "SpoolQuery",
    "validate_purge_states",
]
