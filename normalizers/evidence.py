"""Drafts for evidence records (a 277CA acceptance, an 835 payment): records that never open a
ticket but resolve the ticket their claim's rejection or denial opened. The record contract is in
`normalizers.lifecycle`'s docstring."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.base import SourceRecord
from normalizers.draft import DraftIdentifier, TicketDraft
from normalizers.lifecycle import EVIDENCE_RECORD_TYPES
from normalizers.payload import Code, Financial, Payer, SourceFormat, SourceInfo
from normalizers.taxonomy import Taxonomy


def normalize_evidence(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """The draft of an evidence record: its claim references as identifiers (pseudonymized when
    sealed, which is how the lifecycle matches them), its status code and paid amount."""
    reason = EVIDENCE_RECORD_TYPES.get(record.record_type, record.record_type)
    facts = record.facts
    status = facts.get("status.code")
    paid = facts.get("amounts.paid")
    payer = facts.get("payer.id")
    return TicketDraft(
        source=SourceInfo(
            system=record.source_system,
            format=SourceFormat.X12,
            control_ids=dict(record.control_ids),
        ),
        received_at=record.received_at or datetime.now(UTC),
        category="claims-processing",
        taxonomy_version=taxonomy.version,
        summary=f"Resolved by {reason}",
        codes=(Code(system="EVIDENCE", code=str(status)),) if status is not None else (),
        payer=Payer(id=str(payer)) if payer is not None else None,
        financial=Financial(paid=paid if isinstance(paid, Decimal) else None),
        identifiers=tuple(
            DraftIdentifier(kind=value.kind, field=value.field, value=value.value) for value in record.phi
        ),
        dedup_basis=f"evidence|{record.idempotency_id}" if record.idempotency_id else "",
        raw_digest_input=record.raw_digest_input,
    )
