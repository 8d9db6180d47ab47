"""`MemorySpool`: the in-package test double of `SpoolBackend`.

It keeps entries in a dict and passes the same contract suite as the real backends. It is NOT
durable: everything is lost when the process ends. Use it in tests and throwaway dev runs only.
Tickets are kept as `SealedTicket` objects (no encryption is needed in memory).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType

from fallback.clock import Clock, require_aware, utc_now
from fallback.errors import LeaseLost, SpoolUnavailable
from fallback.search_meta import meta_matches, search_meta
from fallback.spool import (
    DeadLetter,
    Delivered,
    EntryInfo,
    EntryState,
    LeasedEntry,
    Outcome,
    PutRequest,
    PutResult,
    RetryAt,
    Settlement,
    short_reason,
    validate_lease,
    validate_put,
)
from fallback.spool_admin import PurgeResult, SpoolQuery, validate_purge_states
from normalizers.sealed import SealedTicket


@dataclass(slots=True)
class _Entry:
    seq: int
    info: EntryInfo
    ticket: SealedTicket
    hold: bool = False


class MemorySpool:
    """A non-durable `SpoolBackend` for tests (see the module docstring). ``clock`` supplies time."""

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._by_dedup_key: dict[str, tuple[str, ...]] = {}
        self._seq = 0
        self._open = False
        self._disabled: dict[str, str] = {}

    async def __aenter__(self) -> MemorySpool:
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
        """Mark the spool open; entries from before an ``aclose`` are kept (same object)."""
        self._open = True

    async def aclose(self) -> None:
        """Mark the spool closed. Idempotent."""
        self._open = False

    async def put(self, ticket: SealedTicket, *, dedup_key: str, sinks: Sequence[str]) -> PutResult:
        """See `SpoolBackend.put`."""
        names = validate_put(dedup_key, sinks)
        self._require_open()
        existing = self._by_dedup_key.get(dedup_key)
        if existing is not None:
            return PutResult(created=False, entry_ids=existing)
        now = self._now()
        ids: list[str] = []
        for sink in names:
            entry_id = "ent_" + secrets.token_hex(16)
            self._seq += 1
            info = EntryInfo(
                entry_id=entry_id,
                sink=sink,
                ticket_id=ticket.id,
                fingerprint=ticket.fingerprint,
                state=EntryState.PENDING,
                attempts=0,
                created_at=now,
                updated_at=now,
                next_attempt_at=now,
                last_error=None,
                remote_id=None,
            )
            self._entries[entry_id] = _Entry(seq=self._seq, info=info, ticket=ticket)
            ids.append(entry_id)
        self._by_dedup_key[dedup_key] = tuple(ids)
        return PutResult(created=True, entry_ids=tuple(ids))

    async def put_many(self, items: Sequence[PutRequest]) -> list[PutResult]:
        """See `SpoolBackend.put_many` (validated first, then applied one after the other)."""
        for item in items:
            validate_put(item.dedup_key, item.sinks)
        self._require_open()
        return [await self.put(item.ticket, dedup_key=item.dedup_key, sinks=item.sinks) for item in items]

    async def lease(self, sink: str, *, owner: str, limit: int, lease_for: timedelta) -> list[LeasedEntry]:
        """See `SpoolBackend.lease`."""
        validate_lease(owner, limit, lease_for)
        self._require_open()
        now = self._now()
        due = sorted(
            (e for e in self._entries.values() if e.info.sink == sink and _is_due(e.info, now)),
            key=lambda e: (e.info.created_at, e.seq),
        )[:limit]
        return self._lease_entries(due, owner, now, now + lease_for)

    async def settle_many(self, settlements: Sequence[Settlement], *, owner: str) -> list[str]:
        """See `SpoolBackend.settle_many` (validated first, like one transaction)."""
        self._require_open()
        for _, outcome in settlements:
            if isinstance(outcome, RetryAt):
                require_aware(outcome.when, "RetryAt.when")
        lost: list[str] = []
        for entry_id, outcome in settlements:
            try:
                await self.settle(entry_id, owner=owner, outcome=outcome)
            except LeaseLost:
                lost.append(entry_id)
        return lost

    async def settle(self, entry_id: str, *, owner: str, outcome: Outcome) -> None:
        """See `SpoolBackend.settle`."""
        self._require_open()
        now = self._now()
        entry = self._entries.get(entry_id)
        info = entry.info if entry is not None else None
        if (
            entry is None
            or info is None
            or info.state is not EntryState.LEASED
            or info.lease_owner != owner
            or info.lease_expires_at is None
            or info.lease_expires_at <= now
        ):
            raise LeaseLost(f"entry {entry_id} is not leased by {owner!r}")
        cleared = replace(info, updated_at=now, lease_owner=None, lease_expires_at=None)
        if isinstance(outcome, Delivered):
            entry.info = replace(
                cleared, state=EntryState.DELIVERED, next_attempt_at=None, remote_id=outcome.remote_id
            )
        elif isinstance(outcome, RetryAt):
            when = require_aware(outcome.when, "RetryAt.when")
            entry.info = replace(
                cleared,
                state=EntryState.PENDING,
                next_attempt_at=when,
                last_error=short_reason(outcome.reason),
            )
        elif isinstance(outcome, DeadLetter):
            entry.info = replace(
                cleared,
                state=EntryState.DEAD,
                next_attempt_at=None,
                last_error=short_reason(outcome.reason),
            )
        else:  # pragma: no cover - exhaustiveness guard for callers without a type checker
            raise TypeError(f"unknown settlement outcome {type(outcome).__name__}")

    async def get(self, entry_id: str) -> EntryInfo | None:
        """See `SpoolBackend.get`."""
        self._require_open()
        entry = self._entries.get(entry_id)
        return entry.info if entry is not None else None

    async def list_entries(
        self, *, state: EntryState | None = None, sink: str | None = None, limit: int = 100
    ) -> list[EntryInfo]:
        """See `SpoolBackend.list_entries`."""
        self._require_open()
        chosen = [
            e
            for e in self._entries.values()
            if (state is None or e.info.state is state) and (sink is None or e.info.sink == sink)
        ]
        chosen.sort(key=lambda e: (e.info.created_at, e.seq))
        return [e.info for e in chosen[: max(limit, 0)]]

    async def depth(self) -> dict[str, dict[str, int]]:
        """See `SpoolBackend.depth`."""
        self._require_open()
        counts: dict[str, dict[str, int]] = {}
        for entry in self._entries.values():
            per_state = counts.setdefault(entry.info.sink, {s.value: 0 for s in EntryState})
            per_state[entry.info.state.value] += 1
        return counts

    async def check_writable(self) -> None:
        """See `SpoolBackend.check_writable`: only checks that the spool is open."""
        self._require_open()

    # -- SpoolAdmin ------------------------------------------------------------------------------

    async def find(self, query: SpoolQuery) -> list[EntryInfo]:
        """See `SpoolAdmin.find`."""
        self._require_open()
        chosen = [e for e in self._ordered() if _matches(e, query)]
        return [e.info for e in chosen[: max(query.limit, 0)]]

    async def read_ticket(self, entry_id: str) -> SealedTicket | None:
        """See `SpoolAdmin.read_ticket`."""
        self._require_open()
        entry = self._entries.get(entry_id)
        return entry.ticket if entry is not None else None

    async def requeue(self, entry_ids: Sequence[str]) -> list[str]:
        """See `SpoolAdmin.requeue`."""
        self._require_open()
        now = self._now()
        done: list[str] = []
        for entry in self._known(entry_ids):
            if entry.info.state in (EntryState.DEAD, EntryState.DELIVERED):
                entry.info = replace(
                    entry.info,
                    state=EntryState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                done.append(entry.info.entry_id)
        return done

    async def set_legal_hold(self, entry_ids: Sequence[str], hold: bool) -> int:
        """See `SpoolAdmin.set_legal_hold`."""
        self._require_open()
        changed = 0
        for entry in self._known(entry_ids):
            if entry.hold != hold:
                entry.hold = hold
                changed += 1
        return changed

    async def purge(
        self, before: datetime, states: Sequence[EntryState] = (EntryState.DELIVERED,)
    ) -> PurgeResult:
        """See `SpoolAdmin.purge`."""
        values = validate_purge_states(states)
        self._require_open()
        doomed = [
            e.info.entry_id
            for e in self._entries.values()
            if e.info.state.value in values and e.info.updated_at < before and not e.hold
        ]
        for entry_id in doomed:
            del self._entries[entry_id]
        live = {e.info.entry_id for e in self._entries.values()}
        payloads = 0
        for key, ids in list(self._by_dedup_key.items()):
            if not live.intersection(ids):
                del self._by_dedup_key[key]
                payloads += 1
        return PurgeResult(entries=len(doomed), payloads=payloads, bytes_freed=0)

    async def lease_after(
        self, sink: str, *, owner: str, after: int, limit: int, lease_for: timedelta
    ) -> list[LeasedEntry]:
        """See `SpoolAdmin.lease_after`."""
        validate_lease(owner, limit, lease_for)
        self._require_open()
        now = self._now()
        expires = now + lease_for
        due = sorted(
            (
                e
                for e in self._entries.values()
                if e.info.sink == sink and e.seq > after and _is_due(e.info, now)
            ),
            key=lambda e: e.seq,
        )[:limit]
        return self._lease_entries(due, owner, now, expires)

    def _lease_entries(
        self, due: Sequence[_Entry], owner: str, now: datetime, expires: datetime
    ) -> list[LeasedEntry]:
        """Mark ``due`` LEASED by ``owner`` until ``expires`` (one more attempt each)."""
        leased: list[LeasedEntry] = []
        for entry in due:
            before = entry.info.attempts
            entry.info = replace(
                entry.info,
                state=EntryState.LEASED,
                attempts=before + 1,
                updated_at=now,
                lease_owner=owner,
                lease_expires_at=expires,
            )
            leased.append(
                LeasedEntry(
                    entry_id=entry.info.entry_id,
                    sink=entry.info.sink,
                    ticket=entry.ticket,
                    attempts=before,
                    created_at=entry.info.created_at,
                    lease_expires_at=expires,
                    seq=entry.seq,
                )
            )
        return leased

    async def acknowledge(self, sink: str, entry_ids: Sequence[str]) -> list[str]:
        """See `SpoolAdmin.acknowledge`."""
        self._require_open()
        now = self._now()
        done: list[str] = []
        for entry in self._known(entry_ids):
            if entry.info.sink == sink and entry.info.state in (EntryState.PENDING, EntryState.LEASED):
                entry.info = replace(
                    entry.info,
                    state=EntryState.DELIVERED,
                    next_attempt_at=None,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                done.append(entry.info.entry_id)
        return done

    async def oldest_unsettled(self) -> dict[str, datetime]:
        """See `SpoolAdmin.oldest_unsettled`."""
        self._require_open()
        oldest: dict[str, datetime] = {}
        for e in self._entries.values():
            if e.info.state in (EntryState.PENDING, EntryState.LEASED):
                current = oldest.get(e.info.sink)
                if current is None or e.info.created_at < current:
                    oldest[e.info.sink] = e.info.created_at
        return oldest

    async def set_sink_disabled(self, sink: str, reason: str | None) -> None:
        """See `SpoolAdmin.set_sink_disabled`."""
        self._require_open()
        if reason is None:
            self._disabled.pop(sink, None)
        else:
            self._disabled[sink] = short_reason(reason)

    async def disabled_sinks(self) -> dict[str, str]:
        """See `SpoolAdmin.disabled_sinks`."""
        self._require_open()
        return dict(self._disabled)

    def _ordered(self) -> list[_Entry]:
        return sorted(self._entries.values(), key=lambda e: (e.info.created_at, e.seq))

    def _known(self, entry_ids: Iterable[str]) -> list[_Entry]:
        return [self._entries[eid] for eid in dict.fromkeys(entry_ids) if eid in self._entries]

    def _require_open(self) -> None:
        if not self._open:
            raise SpoolUnavailable("spool is not open")

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")


def _matches(entry: _Entry, query: SpoolQuery) -> bool:
    info = entry.info
    return (
        (query.state is None or info.state is query.state)
        and (query.sink is None or info.sink == query.sink)
        and (query.category is None or entry.ticket.payload.category == query.category)
        and (query.since is None or info.created_at >= query.since)
        and (query.until is None or info.created_at < query.until)
        and meta_matches(
            search_meta(entry.ticket),
            fingerprint=query.fingerprint,
            payer=query.payer,
            code=query.code,
        )
    )


def _is_due(info: EntryInfo, now: datetime) -> bool:
    if info.state is EntryState.PENDING:
        return info.next_attempt_at is not None and info.next_attempt_at <= now
    if info.state is EntryState.LEASED:
        return info.lease_expires_at is not None and info.lease_expires_at <= now
    return False


__all__ = ["MemorySpool"]
