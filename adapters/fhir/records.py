"""FHIR R4 resources and Bundles -> `SourceRecord`s.

Record types (the normalizer has one builder for all of them, `normalizers.fhir`):

- ``fhir-operation-outcome``: an OperationOutcome: top level, a Bundle entry (``search.mode =
  outcome`` warnings in successful searches), an entry ``response.outcome``, or contained in
  another resource (AuditEvent).
- ``fhir-claim-error``: ClaimResponse, CoverageEligibilityResponse or ExplanationOfBenefit with
  ``outcome = error`` or ``error[]``.
- ``fhir-adjudication``: ExplanationOfBenefit / ClaimResponse whose adjudications carry reasons
  (CARC, RARC, adjudication-reason), a CARIN BB payer status ``denied`` / ``partiallypaid``, or
  ``outcome = partial``.
- ``fhir-resource``: any other resource a search or a vendor sent us (Coverage, Account,
  ChargeItem, Claim, PaymentReconciliation ...), passed to the rules as it is.

Facts are flat and PHI-free: ``fhir.*`` (resource type, id of non-person resources, status,
outcome), ``issue.N.*`` (severity, code, expression, location), ``code.N.*`` (system URL, code,
display, role), amounts and payer. Free text (``details.text``, ``diagnostics``, ``disposition``,
process notes) goes to ``texts`` for redaction. PHI (`adapters.fhir.phi`) goes to ``phi``; a
Bundle's people (included, contained in any entry, or named in its search links) are attached
to every record of that Bundle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from adapters.base import FactValue, PhiValue, SourceRecord
from adapters.fhir.phi import collect_phi

OUTCOME = "fhir-operation-outcome"
CLAIM_ERROR = "fhir-claim-error"
ADJUDICATION = "fhir-adjudication"
RESOURCE = "fhir-resource"
RECORD_TYPES = (OUTCOME, CLAIM_ERROR, ADJUDICATION, RESOURCE)
PAYER_STATUS = frozenset({"denied", "partiallypaid"})
PERSON_ENTRY_TYPES = frozenset({"Patient", "RelatedPerson", "Person", "Coverage", "Account"})
PHI_ID_TYPES = frozenset({"Patient", "RelatedPerson", "Person", "Coverage", "Account"})
MAX_CODES = 40
MAX_ISSUES = 20


def _canonical(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, sort_keys=True, default=str, separators=(",", ":")).encode("utf-8")


def parse_instant(value: object) -> datetime | None:
    """A FHIR instant, dateTime or date as an aware datetime (dates at 00:00 UTC)."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value: object) -> Decimal | None:
    if not isinstance(value, dict):
        return None
    amount = value.get("value")
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | float):
        return None
    try:
        return Decimal(str(amount)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _items(value: object) -> list[Any]:
    """``value`` when it is a JSON array, else nothing (a scalar or object where R4 has an array
    is not iterated: ``"coding": true`` must not raise)."""
    return value if isinstance(value, list) else []


def _codings(concept: object) -> Iterator[dict[str, Any]]:
    if isinstance(concept, dict):
        for coding in _items(concept.get("coding")):
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                yield coding


def _category_codes(adjudication: dict[str, Any]) -> set[str]:
    return {str(coding["code"]) for coding in _codings(adjudication.get("category"))}


class _Builder:
    """Accumulates facts, codes and texts for one record."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        self.facts: dict[str, FactValue] = {}
        self.texts: dict[str, str] = {}
        self.codes: list[tuple[str, str, str, str]] = []

    def code(self, system: object, code: object, display: object, role: str) -> None:
        if not isinstance(code, str) or len(self.codes) >= MAX_CODES:
            return
        entry = (
            str(system) if isinstance(system, str) else "",
            code,
            display if isinstance(display, str) else "",
            role,
        )
        if entry not in self.codes:
            self.codes.append(entry)

    def text(self, key: str, value: object) -> None:
        if isinstance(value, str) and value.strip():
            self.texts[key] = value[:10_000]

    def finish(self) -> dict[str, FactValue]:
        self.facts["code.count"] = len(self.codes)
        for index, (system, code, display, role) in enumerate(self.codes):
            self.facts[f"code.{index}.system"] = system
            self.facts[f"code.{index}.code"] = code
            self.facts[f"code.{index}.display"] = display or None
            self.facts[f"code.{index}.role"] = role
        return self.facts


def _outcome_facts(builder: _Builder, outcome: dict[str, Any]) -> None:
    issues = [issue for issue in _items(outcome.get("issue")) if isinstance(issue, dict)][:MAX_ISSUES]
    builder.facts["issue.count"] = len(issues)
    for index, issue in enumerate(issues):
        builder.facts[f"issue.{index}.severity"] = str(issue.get("severity"))
        builder.facts[f"issue.{index}.code"] = str(issue.get("code"))
        expressions = [item for item in _items(issue.get("expression")) if isinstance(item, str)]
        locations = [item for item in _items(issue.get("location")) if isinstance(item, str)]
        builder.facts[f"issue.{index}.expression"] = ", ".join(expressions)[:200] or None
        builder.facts[f"issue.{index}.location"] = ", ".join(locations)[:200] or None
        builder.code("http://hl7.org/fhir/issue-type", issue.get("code"), None, f"issue.{index}")
        for coding in _codings(issue.get("details")):
            builder.code(coding.get("system"), coding.get("code"), coding.get("display"), f"details.{index}")
        details = issue.get("details")
        builder.text(f"issue.{index}.details", details.get("text") if isinstance(details, dict) else None)
        builder.text(f"issue.{index}.diagnostics", issue.get("diagnostics"))


def _adjudications(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        for adjudication in _items(node.get("adjudication")):
            if isinstance(adjudication, dict):
                yield adjudication
        for key in ("item", "addItem", "detail", "subDetail"):
            stack.extend(_items(node.get(key)))


def _claim_facts(builder: _Builder, resource: dict[str, Any]) -> str:
    """Adjudication, errors and totals of an EOB / ClaimResponse / CoverageEligibilityResponse;
    returns the record type."""
    facts = builder.facts
    outcome = resource.get("outcome")
    billed = paid = None
    for total in _items(resource.get("total")):
        if not isinstance(total, dict):
            continue
        codes = _category_codes(total)
        if "submitted" in codes:
            billed = _money(total.get("amount"))
        if "benefit" in codes or "paid" in codes:
            paid = _money(total.get("amount"))
    payment = resource.get("payment")
    if paid is None and isinstance(payment, dict):
        paid = _money(payment.get("amount"))
    facts["amounts.billed"], facts["amounts.paid"] = billed, paid
    status: str | None = None
    for adjudication in _adjudications(resource):
        categories = _category_codes(adjudication)
        hit = categories & PAYER_STATUS
        if hit:
            status = "denied" if "denied" in hit or status == "denied" else "partiallypaid"
        for coding in _codings(adjudication.get("reason")):
            builder.code(coding.get("system"), coding.get("code"), coding.get("display"), "reason")
    facts["adjudication.status"] = status
    errors = [error for error in _items(resource.get("error")) if isinstance(error, dict)]
    for index, error in enumerate(errors[:MAX_ISSUES]):
        for coding in _codings(error.get("code")):
            builder.code(coding.get("system"), coding.get("code"), coding.get("display"), "error")
        for name in ("itemSequence", "detailSequence", "subDetailSequence"):
            value = error.get(name)
            facts[f"error.{index}.{name}"] = (
                value if isinstance(value, int) and not isinstance(value, bool) else None
            )
    facts["error.count"] = len(errors)
    builder.text("disposition", resource.get("disposition"))
    for index, note in enumerate(_items(resource.get("processNote"))):
        if isinstance(note, dict):
            builder.text(f"processNote.{index}", note.get("text"))
    if outcome == "error" or errors:
        builder.code("http://hl7.org/fhir/remittance-outcome", outcome or "error", None, "outcome")
        return CLAIM_ERROR
    has_reason = any(role == "reason" for *_, role in builder.codes)
    if status or has_reason or outcome == "partial":
        if not has_reason:
            builder.code("http://hl7.org/fhir/remittance-outcome", status or outcome, None, "outcome")
        return ADJUDICATION
    return RESOURCE


def _payer(builder: _Builder, resource: dict[str, Any]) -> None:
    for key in ("insurer", "payor", "paymentIssuer"):
        value = resource.get(key)
        value = value[0] if isinstance(value, list) and value else value
        if not isinstance(value, dict):
            continue
        identifier = value.get("identifier")
        payer_id = identifier.get("value") if isinstance(identifier, dict) else value.get("reference")
        if isinstance(payer_id, str) and not payer_id.startswith(("Patient/", "RelatedPerson/")):
            builder.facts["payer.id"] = payer_id[:64]
        if isinstance(value.get("display"), str):
            builder.facts["payer.name"] = value["display"][:200]
        return


def _generic_facts(builder: _Builder, resource: dict[str, Any]) -> None:
    for key in ("code", "type", "reason", "category"):
        concepts = resource.get(key)
        for concept in concepts if isinstance(concepts, list) else [concepts]:
            for coding in _codings(concept):
                builder.code(coding.get("system"), coding.get("code"), coding.get("display"), key)
    builder.text("description", resource.get("description"))


def _record(
    resource: dict[str, Any],
    *,
    vendor: str,
    instance: str,
    received_at: datetime,
    extra_phi: list[PhiValue],
    origin: str,
    context: dict[str, Any] | None = None,
) -> SourceRecord:
    """One record for ``resource`` (an OperationOutcome taken from ``context`` when given)."""
    resource_type = str(resource.get("resourceType"))
    owner = context or resource
    owner_type = str(owner.get("resourceType"))
    builder = _Builder(resource)
    facts = builder.facts
    raw_meta = owner.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    facts.update(
        {
            "source.instance": instance,
            "source.module": owner_type,
            "fhir.vendor": vendor,
            "fhir.origin": origin,
            "fhir.resource_type": resource_type,
            "fhir.status": owner.get("status") if isinstance(owner.get("status"), str) else None,
            "fhir.outcome": owner.get("outcome") if isinstance(owner.get("outcome"), str) else None,
            "fhir.use": owner.get("use") if isinstance(owner.get("use"), str) else None,
            "occurred_at": parse_instant(meta.get("lastUpdated"))
            or parse_instant(owner.get("created"))
            or parse_instant(owner.get("recorded")),
        }
    )
    if resource_type == "OperationOutcome":
        record_type = OUTCOME
        _outcome_facts(builder, resource)
    elif resource_type in ("ExplanationOfBenefit", "ClaimResponse", "CoverageEligibilityResponse"):
        record_type = _claim_facts(builder, resource)
    else:
        record_type = RESOURCE
        _generic_facts(builder, resource)
        if resource_type in ("PaymentReconciliation", "Claim"):
            _claim_facts(builder, resource)
            builder.codes = [code for code in builder.codes if code[3] != "outcome"]
    _payer(builder, owner)
    phi = [*collect_phi(owner), *extra_phi]
    control_ids: dict[str, str] = {}
    resource_id = owner.get("id")
    has_id = isinstance(resource_id, str) and owner_type not in PHI_ID_TYPES
    if has_id:
        control_ids["fhir_resource"] = f"{owner_type}/{resource_id}"[:80]
        version = meta.get("versionId")
        if isinstance(version, str):
            control_ids["fhir_version"] = version[:80]
    raw = _canonical(resource if context is None else {"context": owner.get("id"), "outcome": resource})
    version_key = meta.get("versionId") or meta.get("lastUpdated") or ""
    idempotency = None
    if has_id:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        idempotency = f"{owner_type}/{resource_id}|{version_key}|{resource_type}|{digest}"
    return SourceRecord(
        record_type=record_type,
        source_system=vendor,
        source_format="fhir",
        facts=builder.finish(),
        phi=tuple(phi),
        texts=builder.texts,
        control_ids=control_ids,
        received_at=received_at,
        idempotency_id=idempotency,
        raw_digest_input=raw,
    )


def records_from_resource(
    resource: dict[str, Any],
    *,
    vendor: str,
    instance: str,
    received_at: datetime | None = None,
    origin: str = "push",
) -> list[SourceRecord]:
    """Records for one validated resource or Bundle (see the module docstring)."""
    now = received_at or datetime.now(UTC)
    common = {"vendor": vendor, "instance": instance, "received_at": now, "origin": origin}
    if resource.get("resourceType") != "Bundle":
        return _for_resource(resource, [], common)
    entries = [entry for entry in _items(resource.get("entry")) if isinstance(entry, dict)]
    people: list[PhiValue] = _search_link_identifiers(resource)
    for entry in entries:  # every entry's people (contained or included) protect every record
        item = entry.get("resource")
        if isinstance(item, dict):
            people += collect_phi(item)
    records: list[SourceRecord] = []
    for entry in entries:
        item = entry.get("resource")
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if isinstance(item, dict):
            if mode == "include" or (
                item.get("resourceType") in PERSON_ENTRY_TYPES - {"Coverage", "Account"}
            ):
                continue
            records += _for_resource(item, people, {**common, "origin": f"{origin}:{mode or 'entry'}"})
        response = entry.get("response")
        outcome = response.get("outcome") if isinstance(response, dict) else None
        if isinstance(outcome, dict):
            records += _for_resource(outcome, people, {**common, "origin": f"{origin}:response"})
    return records


def _search_link_identifiers(bundle: dict[str, Any]) -> list[PhiValue]:
    """Identifier values in the Bundle's own search links (``patient.identifier=system|value``)."""
    found: list[PhiValue] = []
    for link in _items(bundle.get("link")):
        url = link.get("url") if isinstance(link, dict) else None
        if not isinstance(url, str):
            continue
        for name, value in parse_qsl(urlsplit(url).query):
            if name.split(":")[0].endswith("identifier") and value:
                found.append(PhiValue("MRN", "Bundle.link.identifier", value.rsplit("|", 1)[-1]))
    return found


def _for_resource(
    resource: dict[str, Any], people: list[PhiValue], common: dict[str, Any]
) -> list[SourceRecord]:
    contained_outcomes = [
        item
        for item in _items(resource.get("contained"))
        if isinstance(item, dict) and item.get("resourceType") == "OperationOutcome"
    ]
    if (
        resource.get("resourceType") not in ("OperationOutcome", "ClaimResponse", "ExplanationOfBenefit")
        and contained_outcomes
    ):
        return [
            _record(outcome, extra_phi=people, context=resource, **common) for outcome in contained_outcomes
        ]
    return [_record(resource, extra_phi=people, **common)]


def high_water(resource: dict[str, Any]) -> datetime | None:
    """The latest ``meta.lastUpdated`` among a Bundle's match entries (or the resource's own)."""
    if resource.get("resourceType") != "Bundle":
        meta = resource.get("meta")
        return parse_instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None
    latest: datetime | None = None
    for entry in _items(resource.get("entry")):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        if (entry.get("search") or {}).get("mode") in ("outcome", "include"):
            continue
        meta = entry["resource"].get("meta")
        moment = parse_instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return latest
