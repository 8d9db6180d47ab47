"""What the console's pages show, gathered from the running gateway: the spool (through
`SpoolBackend` / `SpoolAdmin` and `gateway.spool_ops`), the metrics, the audit log, the lifecycle
store and the registered `AnomalyFeed`. Metadata and PHI-free sealed payloads only.

Every spool read is one indexed query bounded by a page size (`PAGE_SIZE`), so a page costs the
same with 100 or 100,000 entries (see bench/console.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fallback.errors import SpoolError
from fallback.spool import EntryInfo, EntryState
from fallback.spool_admin import SpoolQuery
from gateway import spool_ops
from gateway.audit import AuditRecord, VerifyResult
from gateway.auth.roles import is_sensitive, may_see_ticket
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal
from gateway.console.feeds import AnomalyFeed, AnomalyRow
from gateway.console.render import PAGE_SIZE
from gateway.delivery_wiring import Spool
from gateway.rules_settings import LifecycleService
from gateway.runtime import Runtime
from normalizers.lifecycle import FingerprintState
from normalizers.payload import TicketPayload

TICKET_SCAN = 100
"""How many matching spool entries the ticket search reads (and decrypts, to show them) at most per
page: every filter is answered by the spool's indexes on its clear search metadata
(`fallback.search_meta`), so only matches are read."""


def circuits(runtime: Runtime) -> dict[str, str | None]:
    """Circuit-breaker state per sink worker."""
    return {worker.sink_name: worker.circuit_state for worker in runtime.workers}


def services(runtime: Runtime) -> list[dict[str, str]]:
    """The background services (upstream adapters and helpers) and their state: a service that
    has a ``health() -> str`` method (the FHIR pollers) says it itself; the others show "running"."""
    rows = []
    for service in runtime.services:
        health = getattr(service, "health", None)
        state = str(health()) if callable(health) else "running"
        rows.append({"name": service.name, "kind": type(service).__name__, "state": state})
    return rows


async def overview(runtime: Runtime) -> dict[str, Any]:
    """Per-sink spool status, intake per minute, services and readiness."""
    status = await spool_ops.status(runtime.spool, circuits(runtime))
    try:
        await runtime.spool.check_writable()
        ready = "ready"
    except SpoolError as error:
        ready = f"unavailable ({error.code})"
    return {
        "sinks": status["sinks"],
        "intake": runtime.metrics.intake.rows()[:120],
        "services": services(runtime),
        "ready": ready,
    }


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """The dead letters and retries page filters; ``after`` pages by creation time."""

    state: EntryState | None = EntryState.DEAD
    sink: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self, limit: int = PAGE_SIZE) -> SpoolQuery:
        """The indexed spool query."""
        return SpoolQuery(
            state=self.state,
            sink=self.sink,
            category=self.category,
            since=self.since,
            until=self.until,
            limit=limit,
        )


async def find_indexed(spool: Spool, query: SpoolQuery) -> list[EntryInfo]:
    """`SpoolAdmin.find`, oldest first; without a state or category, one query per state (each
    served by the ``(state, created_at)`` index) merged, instead of one query that sorts every
    entry."""
    if query.state is not None or query.category is not None or _searched(query):
        return await spool.find(query)  # served by the state, category or search indexes
    parts = [await spool.find(replace(query, state=state)) for state in EntryState]
    merged = sorted((info for part in parts for info in part), key=lambda i: (i.created_at, i.entry_id))
    return merged[: query.limit]


def _searched(query: SpoolQuery) -> bool:
    return bool(query.fingerprint) or query.payer is not None or query.code is not None


async def entry_page(runtime: Runtime, filters: EntryFilter) -> tuple[list[EntryInfo], datetime | None]:
    """One page of entries, oldest first, and the ``since`` of the next page (None: last page)."""
    found = await find_indexed(runtime.spool, filters.query(PAGE_SIZE + 1))
    if len(found) <= PAGE_SIZE:
        return found, None
    return found[:PAGE_SIZE], found[PAGE_SIZE].created_at


async def entry_view(runtime: Runtime, principal: Principal, entry_id: str) -> dict[str, Any] | None:
    """An entry's metadata and its sealed payload as delivered (PHI-free), pretty-printed; the
    payload is withheld for a sensitive category without ``tickets:sensitive``."""
    info = await runtime.spool.get(entry_id)
    ticket = await runtime.spool.read_ticket(entry_id) if info is not None else None
    if info is None or ticket is None:
        return None
    payload = ticket.payload
    if is_sensitive(payload.category, payload.tags) and not principal.has(Scope.TICKETS_SENSITIVE.value):
        return {"entry": info, "body": None, "withheld": "sensitive category"}
    body = json.dumps(spool_ops.ticket_json(ticket.body), indent=2, sort_keys=True)
    return {"entry": info, "body": body, "withheld": None}


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """The tickets page filters, all answered by the spool's indexes: fingerprint (or its prefix),
    category, payer id, code (``"45"`` in any system or ``"CARC:45"``) and time."""

    fingerprint: str | None = None
    category: str | None = None
    payer: str | None = None
    code: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def ticket_search(
    runtime: Runtime, principal: Principal, filters: TicketFilter
) -> tuple[list[TicketPayload], int]:
    """The tickets ``principal`` may see matching ``filters`` (one per ticket, first sink's
    entries), and how many matching entries were read."""
    now = datetime.now(UTC)
    query = SpoolQuery(
        sink=next(iter(runtime.sinks), None),
        category=filters.category,
        since=filters.since or now - timedelta(days=1),
        until=filters.until,
        limit=TICKET_SCAN,
        fingerprint=filters.fingerprint,
        payer=filters.payer,
        code=filters.code,
    )
    entries = await find_indexed(runtime.spool, query)
    found: list[TicketPayload] = []
    for info in entries:
        ticket = await runtime.spool.read_ticket(info.entry_id)
        if ticket is None:
            continue
        payload = ticket.payload
        if may_see_ticket(
            principal,
            category=payload.category,
            tags=payload.tags,
            queue=payload.routing.queue,
            tier=payload.tier,
        ):
            found.append(payload)
        if len(found) >= PAGE_SIZE:
            break
    return found, len(entries)


async def occurrence_history(runtime: Runtime, fingerprint: str) -> FingerprintState | None:
    """The lifecycle store's record of ``fingerprint`` (occurrences, first/last seen, state), or
    None when the lifecycle is off or the fingerprint unknown."""
    for service in runtime.services:
        if isinstance(service, LifecycleService):
            return await service.store.get(fingerprint)
    return None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The audit page filters; ``after_seq`` pages."""

    actor: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None


async def audit_page(runtime: Runtime, filters: AuditFilter) -> tuple[list[AuditRecord], int | None]:
    """One page of audit records (oldest first) and the ``after_seq`` of the next page."""
    records = await asyncio.to_thread(
        runtime.audit.records,
        event=filters.event,
        actor=filters.actor,
        since=filters.since,
        until=filters.until,
        after_seq=filters.after_seq,
        limit=PAGE_SIZE + 1,
    )
    if len(records) <= PAGE_SIZE:
        return records, None
    return records[:PAGE_SIZE], records[PAGE_SIZE - 1].seq


async def verify_audit(runtime: Runtime) -> VerifyResult:
    """Recompute the audit chain (off the event loop)."""
    return await asyncio.to_thread(runtime.audit.verify)


async def anomalies(feed: AnomalyFeed | None) -> Sequence[AnomalyRow] | None:
    """The feed's current anomalies, or None when no feed is registered."""
    return None if feed is None else await feed.current()


__all__ = [
    "TICKET_SCAN",
    "AuditFilter",
    "EntryFilter",
    "TicketFilter",
    "anomalies",
    "audit_page",
    "circuits",
    "entry_page",
    "entry_view",
    "find_indexed",
    "occurrence_history",
    "overview",
    "services",
    "ticket_search",
    "verify_audit",
]
