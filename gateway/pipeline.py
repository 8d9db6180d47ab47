"""The ingest loop: record -> normalize -> seal (redact) -> durable spool put -> only then ack.

Failures are routed by class: an input that cannot be normalized or sealed is quarantined
(encrypted) and reported as rejected; a spool that cannot commit raises `SpoolUnavailable`, so the
caller does not acknowledge and the sender retries. Nothing is logged with its payload.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.base import Ack, SourceRecord
from fallback.spool import PutRequest, PutResult, SpoolBackend
from gateway.anomaly_counts import IngestObserver
from gateway.audit import AuditEntry, AuditLog
from gateway.lifecycle_flow import LifecycleGate, Plan
from gateway.lifecycle_pending import PendingStates
from gateway.lifecycle_prefetch import prefetch_states
from gateway.metrics import GatewayMetrics
from gateway.quarantine import Quarantine
from normalizers.draft import TicketDraft
from normalizers.errors import NormalizationError
from normalizers.lifecycle import EVIDENCE_RECORD_TYPES
from normalizers.normalizer import Normalizer
from normalizers.payload import Code, LifecycleKind, Payer
from normalizers.sealing import Sealer, SealResult

log = logging.getLogger("rcmgw.pipeline")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one accepted record."""

    ticket_id: str
    fingerprint: str
    created: bool
    entry_ids: tuple[str, ...]
    action: str = "open"
    resolved: tuple[tuple[str, str], ...] = ()
    """For auto-resolve evidence: ``(ticket_id, fingerprint)`` of every ticket it resolved (one
    piece of evidence may close several tickets of the same claim)."""


class RecordQuarantined(Exception):
    """The record could not be made into a sealed ticket; its raw input is in quarantine."""

    code = "input.quarantined"

    def __init__(self, quarantine_id: str, cause_code: str) -> None:
        super().__init__(f"quarantined as {quarantine_id} ({cause_code})")
        self.quarantine_id = quarantine_id
        self.cause_code = cause_code


class IngestPipeline:
    """Turns records into spooled, sealed tickets."""

    def __init__(
        self,
        normalizer: Normalizer,
        sealer: Sealer,
        *,
        spool: SpoolBackend,
        sinks: Sequence[str],
        quarantine: Quarantine,
        audit: AuditLog,
        on_spooled: Callable[[], None] = lambda: None,
        lifecycle: LifecycleGate | None = None,
        metrics: GatewayMetrics | None = None,
        observer: IngestObserver | None = None,
    ) -> None:
        self.observer = observer
        """Told about every committed ticket-worthy record (anomaly counts); None: not counted."""
        self._normalizer = normalizer
        self._sealer = sealer
        self._spool = spool
        self._sinks = tuple(sinks)
        self._quarantine = quarantine
        self._audit = audit
        self._on_spooled = on_spooled
        self._lifecycle = lifecycle
        self._metrics = metrics or GatewayMetrics()

    @property
    def lifecycle(self) -> LifecycleGate | None:
        """The dedup lifecycle gate, or None when the lifecycle is off."""
        return self._lifecycle

    @property
    def resolves_from_evidence(self) -> bool:
        """Whether auto-resolve evidence records (`normalizers.lifecycle.EVIDENCE_RECORD_TYPES`)
        may be ingested: only with the dedup lifecycle on (without it they would become tickets)."""
        return self._lifecycle is not None

    async def ingest(self, record: SourceRecord, ack: Ack | None = None) -> IngestResult:
        """Normalize, seal and durably spool ``record``; await ``ack`` only after the commit.

        Raises `RecordQuarantined` when normalization or sealing fails (the raw input is kept
        encrypted) and `fallback.errors.SpoolUnavailable` when the spool cannot commit.
        """
        try:
            draft = self._normalizer.normalize(record)
            if self._lifecycle is not None:
                result = await self._ingest_lifecycle(record, self._lifecycle, draft, ack)
                self._observe(
                    record, draft.category, draft.payer, draft.codes, opened=result.action == "open"
                )
                return result
            sealed = self._sealer.seal(draft, record)
        except NormalizationError as error:
            raise await self._quarantine_record(record, error) from error
        result = await self._spool_and_ack(record, sealed, ack)
        if result.created:  # a redelivered duplicate is not a new occurrence
            self._observe(record, draft.category, draft.payer, draft.codes, opened=True)
        return result

    def _observe(
        self, record: SourceRecord, category: str, payer: Payer | None, codes: Sequence[Code], *, opened: bool
    ) -> None:
        """Tell the observer about a committed record (evidence records are not problems)."""
        if self.observer is not None and record.record_type not in EVIDENCE_RECORD_TYPES:
            self.observer.ticket(category, payer.id if payer else None, codes, opened=opened)

    async def spool_draft(self, draft: TicketDraft, record: SourceRecord) -> IngestResult:
        """Seal and spool a draft the gateway made itself (an anomaly meta-ticket) through the
        normal path: sealing (redaction, post-redaction rules), spool put (idempotent on the
        draft's dedup key), audit. Not counted by the observer. Raises `RecordQuarantined` when it
        cannot be sealed."""
        try:
            sealed = self._sealer.seal(draft, record)
        except NormalizationError as error:
            raise await self._quarantine_record(record, error) from error
        return await self._spool_and_ack(record, sealed, None)

    async def _spool_and_ack(self, record: SourceRecord, sealed: SealResult, ack: Ack | None) -> IngestResult:
        put = await self._put(record, sealed)
        self._metrics.spooled(record.source_format, put.created, (sealed.ticket,) if put.created else ())
        if put.created:
            self._on_spooled()
        if ack is not None:
            await ack()
        return IngestResult(
            ticket_id=sealed.ticket.id,
            fingerprint=sealed.ticket.fingerprint,
            created=put.created,
            entry_ids=put.entry_ids,
        )

    async def _put(self, record: SourceRecord, sealed: SealResult, lifecycle: str | None = None) -> PutResult:
        """Durably spool one sealed ticket, then log and audit it (ids and codes only)."""
        put = await self._spool.put(sealed.ticket, dedup_key=sealed.dedup_key, sinks=self._sinks)
        log.info(
            "ticket spooled",
            extra={
                "ticket_id": sealed.ticket.id,
                "fingerprint": sealed.ticket.fingerprint,
                "new_ticket": put.created,
                "record_type": record.record_type,
                "category": sealed.ticket.payload.category,
                "control_ids": dict(record.control_ids),
            },
        )
        await self._audit.record_many([_spooled_entry(record, sealed, put, lifecycle)])
        return put

    async def ingest_group(self, records: Sequence[SourceRecord]) -> list[IngestResult | RecordQuarantined]:
        """`ingest` for records from CONCURRENT callers (`gateway.group_ingest`): every sealed
        ticket goes into ONE spool transaction, every ``input.spooled`` audit record (one per
        ticket, as `ingest` writes them) into ONE audit transaction and, with the dedup lifecycle
        on, every state into ONE lifecycle transaction, in that order (the order `ingest` uses, so
        a crash in between re-runs the same decisions on redelivery). Returns one outcome per
        record, in order, only after all commits; `fallback.errors.SpoolError` propagates (then
        none of the group may be acknowledged). With the lifecycle on, the group holds its lock and
        plans each record seeing the states planned before it in the group."""
        outcomes: list[IngestResult | RecordQuarantined | None] = [None] * len(records)
        if self._lifecycle is None:
            prepared = self.seal_many(records)
            plans: list[tuple[int, Plan]] = []
            for index, (record, item) in enumerate(zip(records, prepared, strict=True)):
                if isinstance(item, NormalizationError):
                    outcomes[index] = await self._quarantine_record(record, item)
                else:
                    plans.append((index, Plan(None, item.ticket.id, item.ticket.fingerprint, (item,))))
            await self._commit_group(records, plans, outcomes)
            for index, plan in plans:
                payload = plan.deliveries[0].ticket.payload
                result = outcomes[index]
                if isinstance(result, IngestResult) and result.created:
                    self._observe(records[index], payload.category, payload.payer, payload.codes, opened=True)
        else:
            async with self._lifecycle.lock:
                pending = PendingStates(self._lifecycle.store)
                gate = LifecycleGate(
                    pending,
                    self._lifecycle.policy,
                    clock=self._lifecycle.clock,
                    cipher=self._lifecycle.cipher,
                )
                plans = []
                drafts: dict[int, TicketDraft] = {}
                for index, record in enumerate(records):
                    try:
                        drafts[index] = self._normalizer.normalize(record)
                    except NormalizationError as error:
                        outcomes[index] = await self._quarantine_record(record, error)
                claims = {index: self._sealer.claim_tokens(draft) for index, draft in drafts.items()}
                await prefetch_states(pending, records, drafts, self._sealer, self._lifecycle, claims=claims)
                for index, draft in drafts.items():
                    record = records[index]
                    try:
                        plan = await gate.plan(record, draft, self._sealer, claims=claims[index])
                    except NormalizationError as error:
                        outcomes[index] = await self._quarantine_record(record, error)
                        continue
                    pending.stage(plan.saves)
                    plans.append((index, plan))
                await self._commit_group(records, plans, outcomes)
                await pending.commit()
            for index, plan in plans:
                draft = drafts[index]
                opened = plan.action is not None and plan.action.value == "open"
                self._observe(records[index], draft.category, draft.payer, draft.codes, opened=opened)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _commit_group(
        self,
        records: Sequence[SourceRecord],
        plans: Sequence[tuple[int, Plan]],
        outcomes: list[IngestResult | RecordQuarantined | None],
    ) -> None:
        """Spool every delivery of ``plans`` in one transaction, audit them in one, fill outcomes."""
        flat = [(index, plan, sealed) for index, plan in plans for sealed in plan.deliveries]
        requests = [PutRequest(sealed.ticket, sealed.dedup_key, self._sinks) for _, _, sealed in flat]
        puts = await self._spool.put_many(requests)
        entries: list[AuditEntry] = []
        created_any = False
        by_index: dict[int, tuple[bool, tuple[str, ...]]] = {}
        resolved: dict[int, tuple[tuple[str, str], ...]] = {}
        for (index, plan, sealed), put in zip(flat, puts, strict=True):
            record = records[index]
            action = plan.action.value if plan.action else None
            log.info(
                "ticket spooled",
                extra={
                    "ticket_id": sealed.ticket.id,
                    "fingerprint": sealed.ticket.fingerprint,
                    "new_ticket": put.created,
                    "record_type": record.record_type,
                    "category": sealed.ticket.payload.category,
                    "control_ids": dict(record.control_ids),
                },
            )
            entries.append(_spooled_entry(record, sealed, put, action))
            created, ids = by_index.get(index, (False, ()))
            by_index[index] = (created or put.created, (*ids, *put.entry_ids))
            mark = sealed.ticket.payload.lifecycle
            if mark is not None and mark.kind is LifecycleKind.RESOLVE and mark.of:
                resolved[index] = (*resolved.get(index, ()), (mark.of, sealed.ticket.fingerprint))
            if put.created:
                self._metrics.redacted(sealed.ticket)
            created_any = created_any or put.created
        if entries:
            await self._audit.record_many(entries)
        for index, plan in plans:
            created, ids = by_index.get(index, (False, ()))
            self._metrics.spooled(records[index].source_format, created)
            outcomes[index] = IngestResult(
                ticket_id=plan.ticket_id,
                fingerprint=plan.fingerprint,
                created=created,
                entry_ids=ids,
                action=plan.action.value if plan.action else ("open" if self._lifecycle is None else "none"),
                resolved=resolved.get(index, ()),
            )
        if created_any:
            self._on_spooled()

    async def _ingest_lifecycle(
        self, record: SourceRecord, lifecycle: LifecycleGate, draft: TicketDraft, ack: Ack | None
    ) -> IngestResult:
        """The dedup lifecycle path: plan, spool each delivery, durably save the state, then ack.
        An absorbed occurrence spools nothing, but its count is committed before the ack."""
        async with lifecycle.lock:
            plan: Plan = await lifecycle.plan(record, draft, self._sealer)
            action = plan.action.value if plan.action else "none"
            created = False
            entry_ids: tuple[str, ...] = ()
            resolved: tuple[tuple[str, str], ...] = ()
            for sealed in plan.deliveries:
                put = await self._put(record, sealed, action)
                created, entry_ids = created or put.created, (*entry_ids, *put.entry_ids)
                if put.created:
                    self._metrics.redacted(sealed.ticket)
                mark = sealed.ticket.payload.lifecycle
                if mark is not None and mark.kind is LifecycleKind.RESOLVE and mark.of:
                    resolved = (*resolved, (mark.of, sealed.ticket.fingerprint))
            await lifecycle.commit(plan)
        self._metrics.spooled(record.source_format, created)
        log.debug(
            "lifecycle decision",
            extra={
                "ticket_id": plan.ticket_id,
                "fingerprint": plan.fingerprint,
                "lifecycle": action,
                "record_type": record.record_type,
                "deliveries": len(plan.deliveries),
            },
        )
        if created:
            self._on_spooled()
        if ack is not None:
            await ack()
        return IngestResult(
            ticket_id=plan.ticket_id,
            fingerprint=plan.fingerprint,
            created=created,
            entry_ids=entry_ids,
            action=action,
            resolved=resolved,
        )

    async def flush_lifecycle(self, *, limit: int = 500) -> int:
        """Deliver the group-wait updates that are due with no further input
        (`gateway.lifecycle_flusher`); returns how many were spooled. Each is planned, spooled and
        its state saved under the lifecycle lock, like an input. `SpoolError` propagates."""
        if self._lifecycle is None:
            return 0
        from gateway.lifecycle_flusher import flush_due

        return await flush_due(
            self._lifecycle, self._spool, self._sinks, self._audit, self._on_spooled, limit=limit
        )

    def seal_many(self, records: Sequence[SourceRecord]) -> list[SealResult | NormalizationError]:
        """Normalize and seal each record (CPU only, no I/O; safe to run in a worker thread)."""
        sealed: list[SealResult | NormalizationError] = []
        for record in records:
            try:
                sealed.append(self._sealer.seal(self._normalizer.normalize(record), record))
            except NormalizationError as error:
                sealed.append(error)
        return sealed

    async def ingest_many(
        self, records: Sequence[SourceRecord], *, source: str
    ) -> list[IngestResult | RecordQuarantined]:
        """`ingest` for a batch: normalize and seal in a worker thread, then spool every sealed
        ticket with ONE durable commit (`SpoolBackend.put_many`). Returns one outcome per record, in
        order: an `IngestResult`, or the `RecordQuarantined` of a record that could not be sealed
        (its raw input is quarantined). `fallback.errors.SpoolUnavailable` propagates: then nothing
        of the batch may be acknowledged. ``source`` names the batch in the audit log.

        With the dedup lifecycle on, the batch goes through `ingest_group` instead: the lifecycle
        decides per fingerprint, in order, whether a record opens, updates or resolves a ticket,
        and the batch still costs one spool, one audit and one lifecycle commit."""
        if self._lifecycle is not None:
            return await self.ingest_group(records)
        prepared = await asyncio.to_thread(self.seal_many, records)
        outcomes: list[IngestResult | RecordQuarantined | None] = [None] * len(records)
        requests: list[PutRequest] = []
        placed: list[tuple[int, SealResult]] = []
        for index, (record, item) in enumerate(zip(records, prepared, strict=True)):
            if isinstance(item, NormalizationError):
                outcomes[index] = await self._quarantine_record(record, item)
            else:
                requests.append(PutRequest(item.ticket, item.dedup_key, self._sinks))
                placed.append((index, item))
        puts = await self._spool.put_many(requests)
        created = 0
        for (index, item), put in zip(placed, puts, strict=True):
            created += put.created
            if put.created:
                payload = item.ticket.payload
                self._observe(records[index], payload.category, payload.payer, payload.codes, opened=True)
            new = (item.ticket,) if put.created else ()
            self._metrics.spooled(records[index].source_format, put.created, new)
            outcomes[index] = IngestResult(
                ticket_id=item.ticket.id,
                fingerprint=item.ticket.fingerprint,
                created=put.created,
                entry_ids=put.entry_ids,
            )
        types = Counter(records[index].record_type for index, _ in placed)
        log.info(
            "tickets spooled",
            extra={
                "source": source,
                "tickets": len(placed),
                "new_tickets": created,
                "types": dict(types),
                # the batch's first and last inputs (ISA13/GS06/ST02 for X12): ids only
                "first_control_ids": dict(records[placed[0][0]].control_ids) if placed else {},
                "last_control_ids": dict(records[placed[-1][0]].control_ids) if placed else {},
            },
        )
        if placed:
            await self._audit.record(
                "input.spooled",
                actor=records[0].source_system,
                source=source,
                tickets=len(placed),
                new_tickets=created,
                first_ticket_id=placed[0][1].ticket.id,
                last_ticket_id=placed[-1][1].ticket.id,
            )
        if created:
            self._on_spooled()
        return [outcome for outcome in outcomes if outcome is not None]

    async def _ingest_or_quarantined(self, record: SourceRecord) -> IngestResult | RecordQuarantined:
        try:
            return await self.ingest(record)
        except RecordQuarantined as quarantined:
            return quarantined

    async def _quarantine_record(self, record: SourceRecord, error: NormalizationError) -> RecordQuarantined:
        receipt = self._quarantine.put(
            record.raw_digest_input,
            source=record.source_system,
            code=error.code,
            reason=f"{type(error).__name__}: {error}",
        )
        log.warning(
            "record quarantined",
            extra={
                "quarantine_id": receipt.quarantine_id,
                "code": error.code,
                "record_type": record.record_type,
                "error_class": type(error).__name__,
                "control_ids": dict(record.control_ids),
            },
        )
        await self._audit.record(
            "input.quarantined",
            actor=record.source_system,
            outcome="rejected",
            record_type=record.record_type,
            code=error.code,
            quarantine_id=receipt.quarantine_id,
        )
        self._metrics.record(record.source_format, "quarantined")
        quarantined = RecordQuarantined(receipt.quarantine_id, error.code)
        quarantined.__cause__ = error
        return quarantined


def _spooled_entry(
    record: SourceRecord, sealed: SealResult, put: PutResult, lifecycle: str | None
) -> AuditEntry:
    """The ``input.spooled`` audit record of one spooled ticket (ids and codes only)."""
    report = sealed.ticket.payload.redaction
    details: dict[str, str | int | bool | None] = {
        "record_type": record.record_type,
        "ticket_id": sealed.ticket.id,
        "fingerprint": sealed.ticket.fingerprint,
        "new_ticket": put.created,
        "redacted": sum(report.counts.values()),
        "policy": report.policy_version,
    }
    if lifecycle:
        details["lifecycle"] = lifecycle
    details.update({f"control.{key}": value for key, value in record.control_ids.items()})
    return AuditEntry("input.spooled", record.source_system, "ok", details)
