"""Normalizes FHIR records (``fhir-*`` record types from `adapters.fhir.records`) into drafts.

- OperationOutcome issues: severity -> priority, issue type and ``details`` codings -> codes (the
  Epic OID code system recognised as ``EPIC``), ``expression`` / ``location`` name the element and
  refine the category. ``diagnostics`` and ``details.text`` are free text and go through
  redaction like every other text.
- CARIN Blue Button adjudication: CARC / RARC ``reason`` codings and a ``denied`` /
  ``partiallypaid`` payer status -> denial-management, with billed, paid and exposure.
- ClaimResponse.error (and outcome ``error``) -> claims-processing; a CoverageEligibilityResponse
  error -> eligibility-registration.
- Upstream status records (an instance down since when, and its recovery) -> integration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from adapters.base import FactValue, SourceRecord
from normalizers.draft import DraftIdentifier, TicketDraft
from normalizers.payload import Code, Financial, Payer, Priority, SourceFormat, SourceInfo
from normalizers.taxonomy import Taxonomy

RECORD_TYPES = (
    "fhir-operation-outcome",
    "fhir-claim-error",
    "fhir-adjudication",
    "fhir-resource",
    "fhir-upstream-status",
)
EPIC_OID_PREFIX = "urn:oid:1.2.840.114350."
SYSTEM_LABELS: dict[str, str] = {
    "https://x12.org/codes/claim-adjustment-reason-codes": "CARC",
    "http://x12.org/codes/claim-adjustment-reason-codes": "CARC",
    "https://x12.org/codes/remittance-advice-remark-codes": "RARC",
    "http://x12.org/codes/remittance-advice-remark-codes": "RARC",
    "http://hl7.org/fhir/issue-type": "FHIR-ISSUE",
    "http://terminology.hl7.org/CodeSystem/adjudication-reason": "FHIR-ADJ-REASON",
    "http://terminology.hl7.org/CodeSystem/adjudication-error": "FHIR-ADJ-ERROR",
    "http://hl7.org/fhir/remittance-outcome": "FHIR-OUTCOME",
    "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBPayerAdjudicationStatus": "C4BB-STATUS",
    "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication": "C4BB-ADJUDICATION",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://terminology.hl7.org/CodeSystem/v3-ActReason": "V3-ACTREASON",
}
SEVERITY_RANK = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
SEVERITY_PRIORITY = {
    "fatal": Priority.HIGH,
    "error": Priority.NORMAL,
    "warning": Priority.LOW,
    "information": Priority.LOW,
}
CATEGORY_BY_RESOURCE = {
    "Coverage": "eligibility-registration",
    "CoverageEligibilityResponse": "eligibility-registration",
    "CoverageEligibilityRequest": "eligibility-registration",
    "Patient": "eligibility-registration",
    "Account": "patient-billing",
    "ChargeItem": "charge-capture",
    "Claim": "claims-processing",
    "ClaimResponse": "claims-processing",
    "ExplanationOfBenefit": "payment-posting",
    "PaymentReconciliation": "payment-posting",
}
FALLBACK = "integration-interface"
SUMMARY_LIMIT = 160


@dataclass(frozen=True, slots=True)
class _Common:
    source: SourceInfo
    received_at: datetime
    identifiers: tuple[DraftIdentifier, ...]
    dedup_basis: str


def system_label(system: str) -> str:
    """A short code-system name for a FHIR system URI (``CARC``, ``EPIC``, ``FHIR-ADJ-ERROR``)."""
    if system in SYSTEM_LABELS:
        return SYSTEM_LABELS[system]
    if system.startswith(EPIC_OID_PREFIX):
        return "EPIC"
    if not system:
        return "FHIR-LOCAL"
    tail = system.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]
    return (tail or system)[:64]


def _text(facts: Mapping[str, FactValue], key: str) -> str | None:
    value = facts.get(key)
    return None if value is None or value == "" else str(value)


def _int(facts: Mapping[str, FactValue], key: str) -> int:
    value = facts.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _money(facts: Mapping[str, FactValue], key: str) -> Decimal | None:
    value = facts.get(key)
    return value if isinstance(value, Decimal) else None


def _codes(facts: Mapping[str, FactValue], issue_expressions: dict[str, str]) -> list[tuple[str, Code]]:
    found: list[tuple[str, Code]] = []
    for index in range(_int(facts, "code.count")):
        system = _text(facts, f"code.{index}.system") or ""
        code = _text(facts, f"code.{index}.code") or "unknown"
        role = _text(facts, f"code.{index}.role") or ""
        description = _text(facts, f"code.{index}.display")
        where = (
            issue_expressions.get(role.split(".")[-1]) if role.startswith(("issue.", "details.")) else None
        )
        if where and role.startswith("issue."):
            description = f"at {where}"
        found.append((role, Code(system=system_label(system), code=code[:64], description=description)))
    return found


def _issues(facts: Mapping[str, FactValue]) -> list[dict[str, str]]:
    issues = []
    for index in range(_int(facts, "issue.count")):
        issues.append(
            {
                "index": str(index),
                "severity": _text(facts, f"issue.{index}.severity") or "error",
                "code": _text(facts, f"issue.{index}.code") or "unknown",
                "where": _text(facts, f"issue.{index}.expression")
                or _text(facts, f"issue.{index}.location")
                or "",
            }
        )
    return issues


def _category_for_expression(where: str) -> str | None:
    head = where.split(".", 1)[0].rsplit("/", maxsplit=1)[-1].removeprefix("f:")
    return CATEGORY_BY_RESOURCE.get(head)


def _upstream_draft(record: SourceRecord, taxonomy: Taxonomy, base: _Common) -> TicketDraft:
    facts = record.facts
    state = _text(facts, "upstream.state") or "down"
    since = facts.get("upstream.since")
    since_text = since.isoformat() if isinstance(since, datetime) else "unknown"
    instance = _text(facts, "source.instance") or "default"
    error = _text(facts, "upstream.error_code") or "unknown"
    host = _text(facts, "upstream.host") or "?"
    if state == "resolved":
        until = facts.get("upstream.until")
        until_text = until.isoformat() if isinstance(until, datetime) else "now"
        summary = f"RESOLVED: FHIR upstream {instance} ({record.source_system}, {host}) is reachable again"
        description = f"Down since {since_text}, reachable again at {until_text}. Last error: {error}."
        priority, tags = Priority.NORMAL, ("fhir", "upstream-outage", "resolved")
    else:
        summary = f"FHIR upstream {instance} ({record.source_system}, {host}) unreachable since {since_text}"
        description = (
            f"Polling {host} has failed since {since_text} (last error: {error}). The gateway keeps "
            "polling with backoff; a RESOLVED update follows when it recovers."
        )
        priority, tags = Priority.HIGH, ("fhir", "upstream-outage", "down")
    return TicketDraft(
        source=base.source,
        received_at=base.received_at,
        identifiers=base.identifiers,
        dedup_basis=base.dedup_basis,
        raw_digest_input=record.raw_digest_input,
        category=FALLBACK,
        taxonomy_version=taxonomy.version,
        summary=summary,
        description=description,
        codes=(Code(system="RCMGW", code="upstream-down", description=error),),
        priority=priority,
        tags=tags,
        occurred_at=since if isinstance(since, datetime) else None,
    )


@dataclass
class _Shape:
    """What a record-type branch decides: headline, lead text, category, priority, lines, tags."""

    headline: str
    first_text: str
    category: str
    priority: Priority = Priority.NORMAL
    lines: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _outcome_shape(record: SourceRecord, coded: list[tuple[str, Code]]) -> _Shape:
    issues = sorted(_issues(record.facts), key=lambda issue: SEVERITY_RANK.get(issue["severity"], 9))
    order = {issue["index"]: rank for rank, issue in enumerate(issues)}
    coded.sort(key=lambda item: (order.get(item[0].split(".")[-1], 99), not item[0].startswith("details")))
    worst = issues[0] if issues else {"severity": "error", "code": "unknown", "where": "", "index": "0"}
    where = f" at {worst['where']}" if worst["where"] else ""
    shape = _Shape(
        headline=f"FHIR {worst['severity']} {worst['code']}{where}",
        first_text=record.texts.get(f"issue.{worst['index']}.details", ""),
        category=_category_for_expression(worst["where"]) or FALLBACK,
        priority=SEVERITY_PRIORITY.get(worst["severity"], Priority.NORMAL),
        tags=[worst["severity"]],
    )
    if (_text(record.facts, "fhir.origin") or "").endswith(":outcome"):
        shape.tags.append("search-outcome")
    for issue in issues:
        index = issue["index"]
        detail = record.texts.get(f"issue.{index}.details", "")
        line = f"{issue['severity']} {issue['code']} {issue['where']}".rstrip()
        shape.lines.append(line + (f": {detail}" if detail else ""))
        diagnostics = record.texts.get(f"issue.{index}.diagnostics")
        if diagnostics:
            shape.lines.append(f"  diagnostics: {diagnostics}")
    return shape


def _claim_error_shape(record: SourceRecord, coded: list[tuple[str, Code]], resource_type: str) -> _Shape:
    facts = record.facts
    coded.sort(key=lambda item: item[0] != "error")
    errors = [code.code for role, code in coded if role == "error"]
    eligibility = resource_type.startswith("CoverageEligibility")
    shape = _Shape(
        headline=f"{resource_type} error" + (f": {', '.join(errors[:5])}" if errors else ""),
        first_text=record.texts.get("disposition", ""),
        category="eligibility-registration" if eligibility else "claims-processing",
    )
    for index in range(_int(facts, "error.count")):
        places = []
        for name, label in (
            ("itemSequence", "item"),
            ("detailSequence", "detail"),
            ("subDetailSequence", "sub-detail"),
        ):
            value = facts.get(f"error.{index}.{name}")
            if value is not None:
                places.append(f"{label} {value}")
        shape.lines.append(f"error {index + 1}" + (f": {' '.join(places)}" if places else ""))
    return shape


def _adjudication_shape(record: SourceRecord, coded: list[tuple[str, Code]], resource_type: str) -> _Shape:
    rank = {"CARC": 0, "RARC": 1}
    coded.sort(key=lambda item: (item[0] != "reason", rank.get(item[1].system, 2)))
    status = _text(record.facts, "adjudication.status") or _text(record.facts, "fhir.outcome") or "adjusted"
    reasons = [f"{code.system} {code.code}" for role, code in coded if role == "reason"]
    return _Shape(
        headline=f"{resource_type} {status}" + (f": {', '.join(reasons[:5])}" if reasons else ""),
        first_text=record.texts.get("disposition", ""),
        category="denial-management",
        tags=[status],
    )


def _resource_shape(record: SourceRecord, resource_type: str) -> _Shape:
    status = _text(record.facts, "fhir.status") or _text(record.facts, "fhir.outcome") or "received"
    category = CATEGORY_BY_RESOURCE.get(resource_type, FALLBACK)
    return _Shape(
        headline=f"{resource_type} {status}",
        first_text=record.texts.get("disposition", "") or record.texts.get("description", ""),
        category=category,
        priority=Priority.LOW if category == FALLBACK else Priority.NORMAL,
    )


def _common(record: SourceRecord) -> _Common:
    instance = _text(record.facts, "source.instance") or "default"
    resource_type = _text(record.facts, "fhir.resource_type") or "Resource"
    return _Common(
        source=SourceInfo(
            system=record.source_system,
            instance=instance,
            module=_text(record.facts, "source.module") or resource_type,
            format=SourceFormat.FHIR,
            control_ids=dict(record.control_ids),
        ),
        received_at=record.received_at or datetime.now(UTC),
        identifiers=tuple(
            DraftIdentifier(kind=item.kind, field=item.field, value=item.value, subject=item.kind != "NAME")
            for item in record.phi
        ),
        dedup_basis=f"fhir|{record.source_system}|{instance}|{record.idempotency_id}"
        if record.idempotency_id
        else "",
    )


def normalize_fhir(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """The draft for one FHIR record; see the module docstring for the mapping."""
    facts = record.facts
    base = _common(record)
    if record.record_type == "fhir-upstream-status":
        return _upstream_draft(record, taxonomy, base)
    resource_type = _text(facts, "fhir.resource_type") or "Resource"
    expressions = {issue["index"]: issue["where"] for issue in _issues(facts) if issue["where"]}
    coded = _codes(facts, expressions)
    if record.record_type == "fhir-operation-outcome":
        shape = _outcome_shape(record, coded)
    elif record.record_type == "fhir-claim-error":
        shape = _claim_error_shape(record, coded, resource_type)
    elif record.record_type == "fhir-adjudication":
        shape = _adjudication_shape(record, coded, resource_type)
    else:
        shape = _resource_shape(record, resource_type)
    codes = tuple(code for _, code in coded) or (Code(system="FHIR-RESOURCE", code=resource_type[:64]),)
    free = ("disposition", "processNote", "description")
    texts = [text for key, text in record.texts.items() if key.startswith(free)]
    first_line = " ".join(shape.first_text.split())[:SUMMARY_LIMIT]
    billed, paid = _money(facts, "amounts.billed"), _money(facts, "amounts.paid")
    exposure = max(billed - (paid or Decimal("0")), Decimal("0")) if billed is not None else None
    payer_id, payer_name = _text(facts, "payer.id"), _text(facts, "payer.name")
    occurred = facts.get("occurred_at")
    tags = ["fhir", record.source_system, *shape.tags]
    return TicketDraft(
        source=base.source,
        received_at=base.received_at,
        identifiers=base.identifiers,
        dedup_basis=base.dedup_basis,
        raw_digest_input=record.raw_digest_input,
        occurred_at=occurred if isinstance(occurred, datetime) else None,
        category=shape.category,
        taxonomy_version=taxonomy.version,
        summary=f"{shape.headline}: {first_line}" if first_line else shape.headline,
        description="\n".join([*shape.lines, *texts]),
        codes=codes,
        payer=Payer(id=payer_id, name=payer_name) if payer_id or payer_name else None,
        financial=Financial(billed=billed, paid=paid, exposure=exposure),
        priority=shape.priority,
        tags=tuple(dict.fromkeys(tag[:64] for tag in tags)),
    )
