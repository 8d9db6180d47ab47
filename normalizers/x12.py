"""Drafts for X12 records: 835 claims, PLB and unbalanced remittances, 277CA rejections, 999/997
and TA1 rejections. `register_x12` adds the builders to a `Normalizer`.

Categories: 835 denials (claims and service lines) -> denial-management; unbalanced 835 and PLB ->
payment-posting (unbalanced is high priority, critical past `CRITICAL_IMBALANCE`); 277CA
rejections -> claims-processing; 999/997/TA1 -> integration-interface. The first code of each
draft is the one the fingerprint keys on (a CARC, ``category:status:entity`` of a 277 STC, the
most specific 999 error, the TA1 note), so the same problem from the same payer and sender groups
onto one fingerprint on every re-read. A service line's first code is ``835-LINE``
``<group>-<CARC>@<qualifier>:<procedure>`` (``CO-97@HC:99213``), so its fingerprint includes the
procedure code: the same denial of the same procedure groups onto one ticket across claims, and
differs from the claim-level denial of the same CARC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from adapters.base import FactValue, SourceRecord
from normalizers.draft import DraftIdentifier, TicketDraft
from normalizers.payload import Code, Financial, Payer, Priority, SourceFormat, SourceInfo
from normalizers.taxonomy import Taxonomy
from normalizers.x12_codes import describe, label

CRITICAL_IMBALANCE = Decimal("10000")
SUBJECT_KINDS = frozenset({"CLAIM", "ACCT", "MEMBER", "MRN"})
CHILD_PREFIX = "child."


def _text(facts: dict[str, FactValue], key: str) -> str:
    value = facts.get(key)
    return "" if value is None else str(value)


def _money(facts: dict[str, FactValue], key: str) -> Decimal | None:
    value = facts.get(key)
    return value if isinstance(value, Decimal) else None


def _code(system: str, table: str, code: str) -> Code:
    return Code(system=system, code=code[:64], description=describe(table, code))


def _base(
    record: SourceRecord,
    taxonomy: Taxonomy,
    *,
    category: str,
    summary: str,
    codes: list[Code],
    description: str,
    financial: Financial | None = None,
    priority: Priority = Priority.NORMAL,
) -> TicketDraft:
    facts = dict(record.facts)
    payer_id, payer_name = _text(facts, "payer.id"), _text(facts, "payer.name")
    identifiers = tuple(
        DraftIdentifier(
            kind=item.kind, field=item.field, value=item.value, subject=item.kind in SUBJECT_KINDS
        )
        for item in record.phi
        if not item.field.startswith(CHILD_PREFIX)
    )
    children = tuple(
        DraftIdentifier(kind=item.kind, field=item.field, value=item.value)
        for item in record.phi
        if item.field.startswith(CHILD_PREFIX)
    )
    return TicketDraft(
        source=SourceInfo(
            system=record.source_system,
            instance=(_text(facts, "x12.sender") or "default")[:200],
            module=_text(facts, "x12.set_id") or None,
            format=SourceFormat.X12,
            control_ids={key: value[:80] for key, value in record.control_ids.items() if value},
        ),
        received_at=record.received_at or datetime.now(UTC),
        category=category,
        taxonomy_version=taxonomy.version,
        summary=summary[:300],
        description=description,
        codes=tuple(codes),
        payer=Payer(id=payer_id[:64] or None, name=payer_name[:200] or None)
        if payer_id or payer_name
        else None,
        financial=financial or Financial(),
        priority=priority,
        tags=("x12", record.record_type),
        identifiers=identifiers,
        evidence=record.texts.get("evidence", ""),
        children=children,
        dedup_basis=f"x12|{record.record_type}|{record.idempotency_id}",
        raw_digest_input=record.raw_digest_input,
    )


def _lines(facts: dict[str, FactValue], keys: tuple[str, ...]) -> str:
    return "\n".join(f"{key}: {facts[key]}" for key in keys if facts.get(key) not in (None, ""))


def normalize_835_claim(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """A denied, reversed or adjusted claim -> denial management."""
    facts = dict(record.facts)
    status, carc, group = (
        _text(facts, "claim.status"),
        _text(facts, "adjustment.carc"),
        _text(facts, "adjustment.group"),
    )
    codes: list[Code] = []
    if carc:
        codes.append(_code("CARC", "carc", carc))
        codes.append(_code("CAS-GROUP", "cas-group", group))
    status_code = _code("835-CLP02", "claim-status-835", status)
    # a reversal is the problem itself, whatever adjustments it carries
    if status == "22":
        codes.insert(0, status_code)
    else:
        codes.append(status_code)
    for remark in _text(facts, "remarks").split():
        qualifier, _, code = remark.partition(":")
        if qualifier == "RX":
            codes.append(_code("NCPDP", "lq-rx", code))
        elif code[:1].isalpha():
            codes.append(_code("RARC", "rarc", code))
    billed, paid = _money(facts, "amount.billed"), _money(facts, "amount.paid")
    exposure = max(billed - (paid or Decimal("0")), Decimal("0")) if billed is not None else None
    what = f"{group}-{carc} {label('carc', carc)}" if carc else "no adjustment codes"
    summary = f"835 claim {label('claim-status-835', status).lower()}: {what}"
    if facts.get("payer.name"):
        summary += f" ({facts['payer.name']})"
    keys = (
        "claim.status",
        "adjustments",
        "remarks",
        "amount.billed",
        "amount.paid",
        "lines",
        "lines.paid_zero",
        "lines.folded",
        "lines.procedures",
        "lines.separate",
    )
    return _base(
        record,
        taxonomy,
        category="denial-management",
        summary=summary,
        codes=codes,
        description=_lines(facts, keys),
        financial=Financial(billed=billed, paid=paid, exposure=exposure),
    )


def normalize_835_line(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """A denied or adjusted service line -> denial management, keyed on CARC and procedure."""
    facts = dict(record.facts)
    status, carc, group = (
        _text(facts, "claim.status"),
        _text(facts, "adjustment.carc"),
        _text(facts, "adjustment.group"),
    )
    procedure = _text(facts, "line.procedure")
    qualifier, _, _ = procedure.partition(":")
    reason = f"{group}-{carc}" if carc else "paid-zero"
    what = f"{reason} {label('carc', carc)}" if carc else "nothing paid, no adjustment codes"
    codes = [
        Code(
            system="835-LINE",
            code=f"{reason}@{procedure}"[:64],
            description=f"{label('carc', carc) if carc else 'Nothing paid'} "
            f"(procedure {procedure or 'unknown'})",
        )
    ]
    if carc:
        codes.append(_code("CARC", "carc", carc))
        codes.append(_code("CAS-GROUP", "cas-group", group))
    if procedure:
        codes.append(
            Code(
                system="PROCEDURE",
                code=procedure[:64],
                description=describe("product-qualifier", qualifier) or "Procedure or service code",
            )
        )
    codes.append(_code("835-CLP02", "claim-status-835", status))
    for remark in _text(facts, "remarks").split():
        remark_qualifier, _, code = remark.partition(":")
        if remark_qualifier == "RX":
            codes.append(_code("NCPDP", "lq-rx", code))
        elif code[:1].isalpha():
            codes.append(_code("RARC", "rarc", code))
    billed, paid = _money(facts, "amount.billed"), _money(facts, "amount.paid")
    exposure = max(billed - (paid or Decimal("0")), Decimal("0")) if billed is not None else None
    summary = f"835 service line {procedure or '(no procedure)'} denied or adjusted: {what}"
    if facts.get("payer.name"):
        summary += f" ({facts['payer.name']})"
    keys = (
        "claim.status",
        "line.ordinal",
        "line.count",
        "line.procedure",
        "line.modifiers",
        "line.units",
        "adjustments",
        "remarks",
        "amount.billed",
        "amount.paid",
    )
    return _base(
        record,
        taxonomy,
        category="denial-management",
        summary=summary,
        codes=codes,
        description=_lines(facts, keys),
        financial=Financial(billed=billed, paid=paid, exposure=exposure),
    )


def normalize_835_plb(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """A provider-level adjustment -> payment posting."""
    facts = dict(record.facts)
    reason = _text(facts, "plb.reason")
    codes = [_code("PLB", "plb-reason", code) for code in dict.fromkeys(_text(facts, "plb.reasons").split())]
    summary = (
        f"835 provider adjustment PLB {reason}: {label('plb-reason', reason)} ({_text(facts, 'plb.total')})"
    )
    return _base(
        record,
        taxonomy,
        category="payment-posting",
        summary=summary,
        codes=codes or [Code(system="PLB", code="unknown")],
        description=_lines(facts, ("plb.reasons", "plb.total", "payment.trace")),
        financial=Financial(paid=_money(facts, "plb.total")),
    )


def normalize_835_unbalanced(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """An 835 that does not balance: auto-posting will fail -> payment posting, high priority."""
    facts = dict(record.facts)
    difference = _money(facts, "balance.difference")
    critical = difference is None or abs(difference) >= CRITICAL_IMBALANCE
    summary = (
        f"835 does not balance: BPR02 {_text(facts, 'balance.bpr02') or 'missing'} vs claims less PLB "
        f"{_text(facts, 'balance.expected')} (difference {difference}, "
        f"{_text(facts, 'balance.claims_unbalanced')} claims out of balance)"
    )
    keys = (*(key for key in facts if key.startswith("balance.")), "payment.trace")
    return _base(
        record,
        taxonomy,
        category="payment-posting",
        summary=summary,
        codes=[Code(system="X12-835", code="unbalanced", description="Remittance does not balance")],
        description=_lines(facts, keys),
        financial=Financial(
            paid=_money(facts, "balance.bpr02"), exposure=abs(difference) if difference else None
        ),
        priority=Priority.CRITICAL if critical else Priority.HIGH,
    )


def normalize_277ca_rejection(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """A claim (or a batch of claims) rejected before adjudication -> claims processing."""
    facts = dict(record.facts)
    category, status, entity = (_text(facts, f"stc.{key}") for key in ("category", "status", "entity"))
    combined = f"{category}:{status}:{entity}".rstrip(":")
    codes = [
        Code(system="277-STC", code=combined, description=describe("claim-status", status)),
        _code("CLAIM-STATUS-CATEGORY", "claim-status-category", category),
    ]
    if status:
        codes.append(_code("CLAIM-STATUS", "claim-status", status))
    if entity:
        codes.append(_code("ENTITY", "entity", entity))
    claims = int(_text(facts, "claims") or "1")
    scope = f"{claims} claims" if claims > 1 else _text(facts, "stc.level") or "claim"
    summary = (
        f"277CA {label('claim-status-category', category)} ({combined}): {label('claim-status', status)}"
        f"{' - ' + label('entity', entity) if entity else ''}; {scope}"
    )
    return _base(
        record,
        taxonomy,
        category="claims-processing",
        summary=summary,
        codes=codes,
        description=_lines(facts, ("stc.level", "claims", "amount.billed")),
        financial=Financial(billed=_money(facts, "amount.billed")),
    )


def normalize_999_rejection(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """A rejected transaction set or functional group -> integration / interface."""
    facts = dict(record.facts)
    ack = _text(facts, "ack.type") or "999"
    codes: list[Code] = []
    if _text(facts, "element.code"):
        codes.append(_code("X12-IK4", "ack-element-error", _text(facts, "element.code")))
    if _text(facts, "segment.code"):
        codes.append(_code("X12-IK3", "ack-segment-error", _text(facts, "segment.code")))
    for code in _text(facts, "ack.set_codes").split():
        codes.append(_code("X12-IK5", "ack-set-error", code))
    for code in _text(facts, "ack.group_codes").split():
        codes.append(_code("X12-AK9", "ack-group-error", code))
    codes.append(_code("X12-ACK", "ack-set-result", _text(facts, "ack.code")))
    if facts.get("ack.level") == "group":
        what = f"group {_text(facts, 'group.functional_id')} {_text(facts, 'group.control')}"
    else:
        what = f"{_text(facts, 'set.id')} set {_text(facts, 'set.control')}"
    where = ""
    if _text(facts, "segment.id"):
        where = f": segment {_text(facts, 'segment.id')} at position {_text(facts, 'segment.position')}"
        if _text(facts, "element.position"):
            where += f", element {_text(facts, 'element.position')}"
    first = codes[0]
    summary = (
        f"{ack} {label('ack-set-result', _text(facts, 'ack.code')).lower()} {what}{where}"
        f" ({first.system.removeprefix('X12-')} {first.code}: {first.description or 'unlisted code'})"
    )
    keys = tuple(
        key for key in facts if key.split(".")[0] in ("ack", "set", "segment", "element", "errors", "group")
    )
    return _base(
        record, taxonomy, category="integration-interface", summary=summary, codes=codes,
        description=_lines(facts, keys),
    )  # fmt: skip


def normalize_ta1_rejection(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """A rejected interchange -> integration / interface."""
    facts = dict(record.facts)
    note = _text(facts, "ta1.note")
    result = label("ack-set-result", _text(facts, "ta1.ack")).lower()
    summary = f"TA1 interchange {_text(facts, 'ta1.control')} {result}: {note} {label('ta1-note', note)}"
    return _base(
        record,
        taxonomy,
        category="integration-interface",
        summary=summary,
        codes=[_code("TA1", "ta1-note", note), _code("X12-ACK", "ack-set-result", _text(facts, "ta1.ack"))],
        description=_lines(facts, ("ta1.control", "ta1.ack", "ta1.note")),
        priority=Priority.HIGH,
    )


_VALIDATION_TABLES = {
    "interchange": ("TA1", "ta1-note"),
    "group": ("X12-AK9", "ack-group-error"),
    "set": ("X12-IK5", "ack-set-error"),
    "segment": ("X12-IK3", "ack-segment-error"),
    "element": ("X12-IK4", "ack-element-error"),
}


def normalize_validation_finding(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """An implementation-guide finding of pyx12 (``rcmgw ingest --validate``) -> integration /
    interface, low priority: the file was readable, but a trading partner may reject it."""
    facts = dict(record.facts)
    level = _text(facts, "validation.level")
    system, table = _VALIDATION_TABLES.get(level, ("X12-IK3", "ack-segment-error"))
    code = _code(system, table, _text(facts, "validation.code"))
    where = f"{level}"
    if _text(facts, "segment.id"):
        where = f"segment {_text(facts, 'segment.id')} ({_text(facts, 'segment.name')[:60]})"
        where += f" at position {_text(facts, 'segment.position')}"
        if _text(facts, "element.position"):
            where += f", element {_text(facts, 'element.position')} ({_text(facts, 'element.name')[:60]})"
    summary = (
        f"X12 {_text(facts, 'x12.set_id') or ''} implementation-guide finding, {where}"
        f" ({system.removeprefix('X12-')} {code.code}: {code.description or 'unlisted code'})"
    )
    keys = tuple(key for key in facts if key.split(".")[0] in ("validation", "segment", "element", "line"))
    return _base(
        record, taxonomy, category="integration-interface", summary=summary, codes=[code],
        description=_lines(facts, keys), priority=Priority.LOW,
    )  # fmt: skip


BUILDERS: dict[str, Callable[[SourceRecord, Taxonomy], TicketDraft]] = {
    "x12-validation-finding": normalize_validation_finding,
    "x12-835-claim": normalize_835_claim,
    "x12-835-line": normalize_835_line,
    "x12-835-plb": normalize_835_plb,
    "x12-835-unbalanced": normalize_835_unbalanced,
    "x12-277ca-rejection": normalize_277ca_rejection,
    "x12-999-rejection": normalize_999_rejection,
    "x12-ta1-rejection": normalize_ta1_rejection,
}


class _Registers(Protocol):
    def register(
        self, record_type: str, builder: Callable[[SourceRecord, Taxonomy], TicketDraft]
    ) -> None: ...


def register_x12(normalizer: _Registers) -> None:
    """Register every X12 builder on ``normalizer``."""
    for record_type, builder in BUILDERS.items():
        normalizer.register(record_type, builder)
