"""Normalizes generic JSON error events (record type ``json-event``) into drafts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.base import FactValue, SourceRecord
from normalizers.draft import DraftIdentifier, TicketDraft
from normalizers.payload import Code, Financial, Origin, Payer, SourceFormat, SourceInfo
from normalizers.taxonomy import Taxonomy

SUMMARY_LIMIT = 160


def _text(facts: dict[str, FactValue], key: str) -> str | None:
    value = facts.get(key)
    return None if value is None else str(value)


def _money(facts: dict[str, FactValue], key: str) -> Decimal | None:
    value = facts.get(key)
    return value if isinstance(value, Decimal) else None


def _exposure(billed: Decimal | None, paid: Decimal | None) -> Decimal | None:
    if billed is None:
        return None
    return max(billed - (paid or Decimal("0")), Decimal("0"))


def normalize_json_event(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """The draft for one generic JSON event; the category starts as integration/interface and the
    rules refine it."""
    facts = dict(record.facts)
    code_system = _text(facts, "error.code_system") or "UNKNOWN"
    code = _text(facts, "error.code") or "UNKNOWN"
    message = record.texts.get("message", "")
    note = record.texts.get("note", "")
    first_line = " ".join(message.split())[:SUMMARY_LIMIT]
    summary = f"{code_system} {code}: {first_line}" if first_line else f"{code_system} {code}"
    description = "\n\n".join(part for part in (message, note) if part)
    billed, paid = _money(facts, "amounts.billed"), _money(facts, "amounts.paid")
    payer_id, payer_name = _text(facts, "payer.id"), _text(facts, "payer.name")
    occurred = facts.get("occurred_at")
    origin = Origin(str(facts.get("origin") or Origin.SYSTEM_GENERATED.value))
    return TicketDraft(
        source=SourceInfo(
            system=record.source_system,
            instance=_text(facts, "source.instance") or "default",
            module=_text(facts, "source.module"),
            format=SourceFormat.JSON_EVENT,
            control_ids=dict(record.control_ids),
        ),
        received_at=record.received_at or datetime.now(UTC),
        occurred_at=occurred if isinstance(occurred, datetime) else None,
        origin=origin,
        category="integration-interface",
        taxonomy_version=taxonomy.version,
        summary=summary,
        description=description,
        codes=(Code(system=code_system, code=code),),
        payer=Payer(id=payer_id, name=payer_name) if payer_id or payer_name else None,
        facility=_text(facts, "facility"),
        financial=Financial(billed=billed, paid=paid, exposure=_exposure(billed, paid)),
        identifiers=tuple(
            DraftIdentifier(kind=value.kind, field=value.field, value=value.value) for value in record.phi
        ),
        dedup_basis=(
            f"{record.source_system}|{_text(facts, 'source.instance')}|{record.idempotency_id}"
            if record.idempotency_id
            else ""
        ),
        raw_digest_input=record.raw_digest_input,
    )
