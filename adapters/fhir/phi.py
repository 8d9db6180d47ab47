"""Which FHIR values identify a person: collected into `PhiValue`s for the redactor.

- References to Patient, RelatedPerson, Person, Coverage and Account resources.
- Identifiers of those resources and of claims (Claim, ClaimResponse, ExplanationOfBenefit,
  ChargeItem); typed by ``Identifier.type`` (MR -> MRN, MB/SN -> MEMBER, SS -> SSN, AN -> ACCT).
- Names, birth dates, addresses and telecoms of people (Patient, RelatedPerson, Person,
  Practitioner and AuditEvent agents), contained or included in the same Bundle.
- Coverage.subscriberId, Account.name.

Organizational identifiers (insurer, provider, requestor, facility) are business ids, not PHI.
"""

from __future__ import annotations

from typing import Any

from adapters.base import PhiValue

PERSON_TYPES = frozenset({"Patient", "RelatedPerson", "Person", "Practitioner"})
SUBJECT_REFERENCE_TYPES = ("Patient/", "RelatedPerson/", "Person/", "Coverage/", "Account/")
IDENTIFIER_KIND_BY_RESOURCE = {
    "Patient": "MRN",
    "RelatedPerson": "ID",
    "Person": "ID",
    "Coverage": "MEMBER",
    "Account": "ACCT",
    "Claim": "CLAIM",
    "ClaimResponse": "CLAIM",
    "ExplanationOfBenefit": "CLAIM",
    "ChargeItem": "ACCT",
    "CoverageEligibilityResponse": "CLAIM",
    "CoverageEligibilityRequest": "CLAIM",
}
IDENTIFIER_KIND_BY_TYPE = {"MR": "MRN", "MB": "MEMBER", "SN": "MEMBER", "SS": "SSN", "AN": "ACCT", "PN": "ID"}
ORGANIZATIONAL_KEYS = frozenset(
    {
        "insurer",
        "provider",
        "requestor",
        "organization",
        "facility",
        "paymentIssuer",
        "payor",
        "observer",
        "performer",
        "managingOrganization",
        "owner",
        "enterer",
        "source",
        "issuer",
        "careTeam",
        "payee",
    }
)
TELECOM_KIND = {"phone": "PHONE", "fax": "FAX", "email": "EMAIL", "sms": "PHONE", "url": "URL"}


def _identifier_kind(identifier: dict[str, Any], resource_type: str) -> str:
    system = identifier.get("system")
    if isinstance(system, str) and system.endswith("us-ssn"):
        return "SSN"
    kind = identifier.get("type")
    for coding in _as_list(kind.get("coding") if isinstance(kind, dict) else None):
        if isinstance(coding, dict) and coding.get("code") in IDENTIFIER_KIND_BY_TYPE:
            return IDENTIFIER_KIND_BY_TYPE[str(coding["code"])]
    return IDENTIFIER_KIND_BY_RESOURCE.get(resource_type, "ID")


def _name_values(name: object) -> list[str]:
    if not isinstance(name, dict):
        return [name] if isinstance(name, str) and name.strip() else []
    values: list[str] = []
    if isinstance(name.get("text"), str):
        values.append(name["text"])
    parts = [part for part in _as_list(name.get("given")) if isinstance(part, str)]
    if isinstance(name.get("family"), str):
        values.append(name["family"])
        parts.append(name["family"])
    values += [part for part in parts if len(part) > 1]
    if len(parts) > 1:
        values.append(" ".join(parts))
    return values


def _address_values(address: object) -> list[tuple[str, str]]:
    if not isinstance(address, dict):
        return []
    values: list[tuple[str, str]] = []
    lines = [line for line in _as_list(address.get("line")) if isinstance(line, str)]
    values += [("ADDR", line) for line in lines]
    if isinstance(address.get("text"), str):
        values.append(("ADDR", address["text"]))
    if isinstance(address.get("postalCode"), str):
        values.append(("ZIP", address["postalCode"]))
    if isinstance(address.get("city"), str) and lines:
        values.append(("ADDR", ", ".join([*lines, address["city"]])))
    return values


def _person_values(resource: dict[str, Any], field: str) -> list[PhiValue]:
    found: list[PhiValue] = []
    names = resource.get("name")
    for name in names if isinstance(names, list) else [names]:
        found += [PhiValue("NAME", f"{field}.name", value) for value in _name_values(name)]
    if isinstance(resource.get("birthDate"), str):
        found.append(PhiValue("DOB", f"{field}.birthDate", resource["birthDate"]))
    for address in _as_list(resource.get("address")):
        found += [PhiValue(kind, f"{field}.address", value) for kind, value in _address_values(address)]
    for telecom in _as_list(resource.get("telecom")):
        if isinstance(telecom, dict) and isinstance(telecom.get("value"), str):
            kind = TELECOM_KIND.get(str(telecom.get("system")), "PHONE")
            found.append(PhiValue(kind, f"{field}.telecom", telecom["value"]))
    return found


def collect_phi(resource: dict[str, Any], field: str = "") -> list[PhiValue]:
    """Every PHI value in ``resource``, contained resources included."""
    resource_type = str(resource.get("resourceType", ""))
    prefix = field or resource_type
    found: list[PhiValue] = []
    if resource_type in PERSON_TYPES:
        found += _person_values(resource, prefix)
        if isinstance(resource.get("id"), str) and resource_type != "Practitioner":
            found.append(PhiValue("ID", f"{prefix}.id", f"{resource_type}/{resource['id']}"))
    if resource_type in ("Patient", "Coverage", "Account") and isinstance(resource.get("id"), str):
        found.append(PhiValue("ID", f"{prefix}.id", str(resource["id"])))
    if resource_type == "Coverage" and isinstance(resource.get("subscriberId"), str):
        found.append(PhiValue("MEMBER", f"{prefix}.subscriberId", resource["subscriberId"]))
    if resource_type == "Account" and isinstance(resource.get("name"), str):
        found.append(PhiValue("NAME", f"{prefix}.name", resource["name"]))
    if resource_type == "AuditEvent":
        for agent in _as_list(resource.get("agent")):
            if isinstance(agent, dict):
                found += _person_values({"name": agent.get("name")}, f"{prefix}.agent")
                if isinstance(agent.get("altId"), str):
                    found.append(PhiValue("ID", f"{prefix}.agent.altId", agent["altId"]))
    for identifier in _as_list(resource.get("identifier")):
        marked = resource_type in IDENTIFIER_KIND_BY_RESOURCE or resource_type in PERSON_TYPES
        if marked and isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            kind = _identifier_kind(identifier, resource_type)
            found.append(PhiValue(kind, f"{prefix}.identifier", identifier["value"]))
    found += _references(resource, prefix)
    for index, contained in enumerate(_as_list(resource.get("contained"))):
        if isinstance(contained, dict):
            found += collect_phi(contained, f"{prefix}.contained[{index}]")
    return found


def _as_list(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _references(value: object, field: str, depth: int = 0) -> list[PhiValue]:
    """References to people and their coverage/accounts, and identifiers inside references to
    them, anywhere below ``value`` (organizational branches skipped)."""
    if depth > 20:
        return []
    found: list[PhiValue] = []
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str) and any(part in reference for part in SUBJECT_REFERENCE_TYPES):
            found.append(PhiValue("ID", f"{field}.reference", reference))
        for name, item in value.items():
            if name in ORGANIZATIONAL_KEYS or name in ("contained", "identifier", "text"):
                continue
            if name in ("patient", "subject", "beneficiary", "subscriber", "policyHolder", "guarantor"):
                ident = item.get("identifier") if isinstance(item, dict) else None
                if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                    found.append(PhiValue("MRN", f"{field}.{name}.identifier", ident["value"]))
            if isinstance(item, dict | list):
                found += _references(item, f"{field}.{name}", depth + 1)
    elif isinstance(value, list):
        for item in value:
            found += _references(item, field, depth + 1)
    return found
