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
from fallback.spool import PutRequest, SpoolBackend
from gateway.audit import SqliteAuditLog
from gateway.quarantine import Quarantine
from normalizers.errors import NormalizationError
from normalizers.normalizer import Normalizer
from normalizers.sealing import Sealer, SealResult

log = logging.getLogger("rcmgw.pipeline")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one accepted record."""

    ticket_id: str
    fingerprint: str
    created: bool
    entry_ids: tuple[str, ...]


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
        audit: SqliteAuditLog,
        on_spooled: Callable[[], None] = lambda: None,
    ) -> None:
        self._normalizer = normalizer
        self._sealer = sealer
        self._spool = spool
        self._sinks = tuple(sinks)
        self._quarantine = quarantine
        self._audit = audit
        self._on_spooled = on_spooled

    async def ingest(self, record: SourceRecord, ack: Ack | None = None) -> IngestResult:
        """Normalize, seal and durably spool ``record``; await ``ack`` only after the commit.

        Raises `RecordQuarantined` when normalization or sealing fails (the raw input is kept
        encrypted) and `fallback.errors.SpoolUnavailable` when the spool cannot commit.
        """
        try:
            draft = self._normalizer.normalize(record)
            sealed = self._sealer.seal(draft)
        except NormalizationError as error:
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
            raise RecordQuarantined(receipt.quarantine_id, error.code) from error
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
        report = sealed.ticket.payload.redaction
        await self._audit.record(
            "input.spooled",
            actor=record.source_system,
            record_type=record.record_type,
            ticket_id=sealed.ticket.id,
            fingerprint=sealed.ticket.fingerprint,
            new_ticket=put.created,
            redacted=sum(report.counts.values()),
            policy=report.policy_version,
            **{f"control.{key}": value for key, value in record.control_ids.items()},
        )
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

    def seal_many(self, records: Sequence[SourceRecord]) -> list[SealResult | NormalizationError]:
        """Normalize and seal each record (CPU only, no I/O; safe to run in a worker thread)."""
        sealed: list[SealResult | NormalizationError] = []
        for record in records:
            try:
                sealed.append(self._sealer.seal(self._normalizer.normalize(record)))
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
        of the batch may be acknowledged. ``source`` names the batch in the audit log."""
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
            outcomes[index] = IngestResult(
                ticket_id=item.ticket.id,
                fingerprint=item.ticket.fingerprint,
                created=put.created,
                entry_ids=put.entry_ids,
            )
        types = Counter(records[index].record_type for index, _ in placed)
        log.info(
            "tickets spooled",
            extra={"source": source, "tickets": len(placed), "new_tickets": created, "types": dict(types)},
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
        quarantined = RecordQuarantined(receipt.quarantine_id, error.code)
        quarantined.__cause__ = error
        return quarantined
