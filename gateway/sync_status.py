"""`StatusSync`: applies ticket status reported by a ticketing system (a callback or a poll) to the
gateway: the ticket link's state and times, the fingerprint's lifecycle state, the
time-to-acknowledge / time-to-resolve metrics, the audit log and the write-back.

Remote statuses map (per sink, `gateway.sync_settings`) to ``open``, ``acknowledged``, ``resolved``
or ``reopened``; an ``open``/``acknowledged`` status of a resolved ticket is a reopen. The lifecycle
moves only for the fingerprint's CURRENT ticket: resolved -> the next occurrence opens a new ticket
(which ``follows`` this one), reopened -> occurrences fold into it again.

A write-back is a sealed ticket with ids and codes only (ticket id, remote id, sink, category,
codes, payer id, tier; no text from the source) spooled for the write-back target's own sink, so
it is retried and dead-lettered like any delivery. ``record_settled`` (a delivery worker hook)
records remote ids as deliveries settle.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from fallback.clock import Clock, utc_now
from fallback.spool import Delivered, LeasedEntry, Outcome, SpoolBackend
from gateway.audit import AuditEntry, AuditLog, DetailValue
from gateway.lifecycle_flow import LifecycleGate
from gateway.metrics import GatewayMetrics
from gateway.sync_settings import DEFAULT_STATES, RemoteState, SyncSettings
from gateway.ticket_links import TicketLink, TicketLinks
from normalizers.draft import TicketDraft
from normalizers.lifecycle import TicketState
from normalizers.payload import Code, Lifecycle, LifecycleKind, Payer, SourceFormat, SourceInfo
from normalizers.sealed import SealedTicket
from normalizers.sealing import Sealer

log = logging.getLogger("rcmgw.sync")
RESOLVED = "resolved"


@dataclasses.dataclass(frozen=True, slots=True)
class StatusReport:
    """One remote status observation: which sink, which remote ticket, its status text."""

    sink: str
    remote_id: str
    status: str
    via: str  # "callback" or "poll"
    at: datetime | None = None


def ticket_facts(ticket: SealedTicket) -> dict[str, object]:
    """What a link keeps of a delivered ticket: ids and codes only (no text, no subjects)."""
    p = ticket.payload
    return {
        "category": p.category,
        "taxonomy_version": p.taxonomy_version,
        "payer": p.payer.id if p.payer is not None else None,
        "tier": p.tier,
        "codes": [[c.system, c.code] for c in p.codes][:20],
        "source_system": p.source.system,
    }


class StatusSync:
    """See the module docstring. ``sink_kinds`` maps sink names to their kind (the default shape
    and state mapping); ``notify`` wakes the delivery workers after a write-back is spooled."""

    def __init__(
        self,
        settings: SyncSettings,
        links: TicketLinks,
        *,
        audit: AuditLog,
        metrics: GatewayMetrics,
        spool: SpoolBackend,
        sealer: Sealer,
        sink_kinds: Mapping[str, str],
        gate: LifecycleGate | None = None,
        clock: Clock = utc_now,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.links = links
        self.audit = audit
        self.metrics = metrics
        self.spool = spool
        self.sealer = sealer
        self.sink_kinds = dict(sink_kinds)
        self.gate = gate
        self.clock = clock
        self.notify = notify
        self.writeback_sinks = frozenset(t.name for t in settings.writeback)
        metrics.label_cap = settings.payer_labels

    def shape(self, sink: str) -> str:
        """The callback shape of ``sink``: configured, else its kind, else ``generic``."""
        config = self.settings.sinks.get(sink)
        if config is not None and config.shape is not None:
            return config.shape
        kind = self.sink_kinds.get(sink, "generic")
        return kind if kind in DEFAULT_STATES else "generic"

    def map_state(self, sink: str, status: str) -> RemoteState | None:
        """The gateway state of a remote ``status`` (configured mapping first, then defaults)."""
        key = status.strip().lower()
        config = self.settings.sinks.get(sink)
        if config is not None and key in config.states:
            return config.states[key]
        kind = self.sink_kinds.get(sink, "generic")
        defaults = DEFAULT_STATES.get(kind) or DEFAULT_STATES[self.shape(sink)]
        return defaults.get(key)

    async def apply(self, report: StatusReport) -> str:
        """Apply one status report; returns ``changed``, ``unchanged``, ``unknown`` (no ticket of
        the gateway has that remote id) or ``unmapped`` (the status has no mapping)."""
        at = report.at or self.clock()
        mapped = self.map_state(report.sink, report.status)
        common: dict[str, DetailValue] = {
            "sink": report.sink, "remote_id": report.remote_id[:80], "via": report.via,
            "remote_status": report.status[:64],
        }  # fmt: skip
        if mapped is None:
            entry = AuditEntry("sync.status_unmapped", f"sink:{report.sink}", "ignored", common)
            await self.audit.record_many([entry])
            return "unmapped"
        link = await self.links.by_remote(report.sink, report.remote_id)
        if link is None:
            entry = AuditEntry("sync.unknown_ticket", f"sink:{report.sink}", "ignored", common)
            await self.audit.record_many([entry])
            return "unknown"
        target = _next_state(link.state, mapped)
        if target is None:
            return "unchanged"
        await self.change(
            link, target, at, via=report.via, actor=f"sink:{report.sink}", remote_status=report.status[:64]
        )
        return "changed"

    async def change(
        self,
        link: TicketLink,
        target: str,
        at: datetime,
        *,
        via: str,
        actor: str,
        **details: DetailValue,
    ) -> TicketLink:
        """Move ``link`` to ``target``: times, lifecycle, metrics, audit, write-back."""
        updated = await self.links.set_state(link, target, at)
        lifecycle = await self._move_lifecycle(link, target) if via != "gateway" else "unchanged"
        facts = link.facts
        tier = int(str(facts.get("tier") or 1))
        category = str(facts.get("category") or "unknown")
        payer = None if facts.get("payer") is None else str(facts.get("payer"))
        if target == "acknowledged" and link.acknowledged_at is None:
            seconds = (at - link.created_at).total_seconds()
            self.metrics.ticket_timing("acknowledge", seconds, category, payer, tier)
        if target == RESOLVED:
            self.metrics.ticket_timing(
                "resolve", (at - link.created_at).total_seconds(), category, payer, tier
            )
        fields: dict[str, DetailValue] = {
            **details,
            "sink": link.sink,
            "remote_id": (link.remote_id or "")[:80],
            "via": via,
            "ticket_id": link.ticket_id,
            "fingerprint": link.fingerprint,
            "from_state": link.state,
            "to_state": target,
            "lifecycle": lifecycle,
        }
        await self.audit.record_many([AuditEntry("sync.status_changed", actor, "ok", fields)])
        log.info(
            "ticket status changed",
            extra={"ticket_id": link.ticket_id, "sink": link.sink, "to_state": target, "via": via},
        )
        if via != "gateway":
            await self._write_back(updated, target, at)
        return updated

    async def _move_lifecycle(self, link: TicketLink, target: str) -> str:
        """Resolve or reopen the fingerprint's state when ``link`` is its current ticket."""
        if self.gate is None or target not in (RESOLVED, "reopened"):
            return "unchanged"
        async with self.gate.lock:
            state = await self.gate.store.get(link.fingerprint)
            if state is None or state.ticket_id != link.ticket_id:
                return "not_current"
            if target == RESOLVED and state.state is TicketState.OPEN:
                await self.gate.store.save(
                    dataclasses.replace(state, state=TicketState.RESOLVED, claims=frozenset())
                )
                return "resolved"
            if target == "reopened" and state.state is TicketState.RESOLVED:
                await self.gate.store.save(dataclasses.replace(state, state=TicketState.OPEN))
                return "reopened"
        return "unchanged"

    async def _write_back(self, link: TicketLink, target: str, at: datetime) -> None:
        """Spool one write-back per target that wants ``target`` (ids and codes only)."""
        wanted = [t for t in self.settings.writeback if target in t.on]
        if not wanted:
            return
        facts = link.facts
        codes = tuple(
            Code(system=str(system), code=str(code))
            for system, code in (facts.get("codes") or [])  # type: ignore[attr-defined]
        )
        payer = facts.get("payer")
        draft = TicketDraft(
            source=SourceInfo(
                system="rcm-gateway",
                module="two-way-sync",
                format=SourceFormat.JSON_EVENT,
                control_ids={
                    "ticket_id": link.ticket_id,
                    "sink": link.sink,
                    "remote_id": (link.remote_id or "")[:80] or "none",
                    "status": target,
                },
            ),
            received_at=at,
            category=str(facts.get("category") or "unknown"),
            taxonomy_version=str(facts.get("taxonomy_version") or "1"),
            summary=f"Ticket {link.ticket_id} {target} in {link.sink}",
            codes=codes,
            payer=Payer(id=str(payer)) if payer else None,
            tier=int(str(facts.get("tier") or 1)),
            lifecycle=Lifecycle(
                kind=LifecycleKind.RESOLVE if target == RESOLVED else LifecycleKind.UPDATE,
                of=link.ticket_id,
                reason=f"{target} in {link.sink}",
            ),
            dedup_basis=f"writeback|{link.ticket_id}|{link.sink}|{target}|{int(at.timestamp() * 1e6)}",
            fingerprint_override=link.fingerprint,
        )
        sealed = self.sealer.seal(draft)
        for writeback in wanted:
            put = await self.spool.put(
                sealed.ticket, dedup_key=f"{sealed.dedup_key}|{writeback.name}", sinks=(writeback.name,)
            )
            await self.audit.record(
                "writeback.spooled",
                actor="system",
                target=writeback.name,
                kind=writeback.kind,
                ticket_id=link.ticket_id,
                writeback_id=sealed.ticket.id,
                status=target,
                new_entry=put.created,
            )
        self.notify()

    async def record_settled(self, entry: LeasedEntry, outcome: Outcome) -> None:
        """Delivery worker hook: record the remote id of every delivered ticket; a gateway resolve
        (auto-resolve evidence) delivered to a sink moves that link to resolved."""
        if not isinstance(outcome, Delivered) or entry.sink in self.writeback_sinks:
            return
        ticket = entry.ticket
        mark = ticket.payload.lifecycle
        key = mark.of if mark is not None and mark.of else ticket.id
        now = self.clock()
        await self.links.record_delivery(
            entry.sink, key, fingerprint=ticket.fingerprint, remote_id=outcome.remote_id, at=now,
            facts=ticket_facts(ticket),
        )  # fmt: skip
        if mark is not None and mark.kind is LifecycleKind.RESOLVE:
            link = await self.links.by_ticket(entry.sink, key)
            if link is not None and link.state != RESOLVED:
                await self.change(link, RESOLVED, now, via="gateway", actor="system")


def _next_state(current: str, mapped: RemoteState) -> str | None:
    """The link's next state for a mapped remote status, or None when nothing changes."""
    if current == RESOLVED:
        return "reopened" if mapped in ("open", "acknowledged", "reopened") else None
    if mapped == "reopened":
        return None  # not resolved here: nothing to reopen
    if mapped == "open":
        return None  # still (or again) open: no change recorded
    return None if mapped == current else mapped


__all__ = ["StatusReport", "StatusSync", "ticket_facts"]
