"""FHIR test helpers (importable as ``fhirkit``): instances, Bundles, a canary resource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testkit import CANARY, CORPUS, REPO

from adapters.fhir.config import FhirInstance


def _corpus_root() -> Path:
    """``testkit.CORPUS``, or the first ``shared/corpus`` above the repository (a git worktree
    lives one level deeper than the main checkout)."""
    if CORPUS.is_dir():
        return CORPUS
    for parent in REPO.parents:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared" / "corpus"
    return CORPUS


FHIR_CORPUS = _corpus_root() / "fhir"
EPIC_BASE = "https://fhir.epic.test/api/FHIR/R4"
EPIC_TOKEN = "https://fhir.epic.test/oauth2/token"
CERNER_BASE = "https://fhir-ehr.cerner.test/r4/tenant-1"
CERNER_TOKEN = "https://authorization.cerner.test/tenants/tenant-1/protocols/oauth2/profiles/smart-v1/token"
EPIC_OID = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"


def epic_instance(**overrides: Any) -> FhirInstance:
    values: dict[str, Any] = {
        "name": "epic-prod",
        "vendor": "epic",
        "base_url": EPIC_BASE,
        "client_id": "0f6a1c3e-backend-app",
        "token_url": EPIC_TOKEN,
        "searches": [{"resource": "ClaimResponse", "params": {"outcome": "error"}}],
        "interval_seconds": 60,
        "peak_interval_seconds": 600,
        "jitter": 0.1,
        "outage_after_seconds": 300,
    }
    values.update(overrides)
    return FhirInstance.model_validate(values)


def cerner_instance(**overrides: Any) -> FhirInstance:
    values: dict[str, Any] = {
        "name": "cerner-prod",
        "vendor": "cerner",
        "base_url": CERNER_BASE,
        "client_id": "system-account-1",
        "auth": "client_secret_basic",
        "client_secret_env": "CERNER_SECRET",
        "searches": [{"resource": "ChargeItem", "params": {"status": "billable"}}],
    }
    values.update(overrides)
    return FhirInstance.model_validate(values)


def corpus(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FHIR_CORPUS / name).read_text("utf-8"))
    return data


def searchset(
    resources: list[dict[str, Any]],
    *,
    next_url: str | None = None,
    outcomes: list[dict[str, Any]] = (),  # type: ignore[assignment]
    self_url: str = "https://fhir.test/search",
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    entries: list[dict[str, Any]] = [{"resource": item, "search": {"mode": "match"}} for item in resources]
    entries += [{"resource": item, "search": {"mode": "outcome"}} for item in outcomes]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": links,
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def stamped(resource: dict[str, Any], last_updated: str, resource_id: str | None = None) -> dict[str, Any]:
    copy = json.loads(json.dumps(resource))
    copy.setdefault("meta", {})["lastUpdated"] = last_updated
    if resource_id:
        copy["id"] = resource_id
    return copy


def error_claim_response(resource_id: str = "R3501") -> dict[str, Any]:
    """A ClaimResponse with outcome error and an adjudication-error code (like the spec example)."""
    return {
        "resourceType": "ClaimResponse",
        "id": resource_id,
        "status": "active",
        "use": "claim",
        "patient": {"reference": "Patient/1"},
        "created": "2026-11-16",
        "insurer": {"identifier": {"system": "http://www.jurisdiction.org/insurers", "value": "555123"}},
        "outcome": "error",
        "disposition": "Claim could not be processed",
        "error": [
            {
                "itemSequence": 3,
                "detailSequence": 2,
                "code": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/adjudication-error", "code": "a002"}
                    ]
                },
            }
        ],
    }


def epic_warning(code: str = "4101", text: str = "Resource request returns no results.") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "informational",
                "details": {"coding": [{"system": EPIC_OID, "code": code, "display": text}], "text": text},
            }
        ],
    }


def canary_claim_response(resource_id: str = "CR-CANARY-1") -> dict[str, Any]:
    """A ClaimResponse with an error, a contained canary patient and canary PHI in free text."""
    return {
        "resourceType": "ClaimResponse",
        "id": resource_id,
        "meta": {"lastUpdated": "2026-11-20T10:00:00Z", "versionId": "1"},
        "contained": [
            {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [
                    {"type": {"coding": [{"code": "MR"}]}, "system": "urn:oid:1.2.3", "value": CANARY["mrn"]}
                ],
                "name": [{"family": "Quixote", "given": ["Zebediah"]}],
                "birthDate": CANARY["dob_structured"],
                "telecom": [
                    {"system": "phone", "value": CANARY["phone"]},
                    {"system": "email", "value": CANARY["email"]},
                ],
                "address": [{"line": ["12 Canary Wharf Lane"], "city": "Springfield", "postalCode": "01103"}],
            }
        ],
        "identifier": [{"system": "http://hospital.test/claim", "value": CANARY["claim"]}],
        "status": "active",
        "use": "claim",
        "patient": {"reference": "#p1"},
        "created": "2026-11-20",
        "insurer": {
            "identifier": {"system": "http://payers.test", "value": "87726"},
            "display": "Example Plan",
        },
        "outcome": "error",
        "disposition": (
            f"Claim {CANARY['claim']} for {CANARY['name_text']} (DOB {CANARY['dob_text']}) could not be "
            f"processed; call {CANARY['phone']} or write to {CANARY['email']}, chart {CANARY['mrn']}."
        ),
        "error": [
            {
                "itemSequence": 1,
                "code": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/adjudication-error", "code": "a002"}
                    ]
                },
            }
        ],
    }


def canary_outcome() -> dict[str, Any]:
    """An OperationOutcome whose diagnostics and details quote canary PHI."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "processing",
                "details": {"text": f"Patient {CANARY['name_text']} MRN {CANARY['mrn']} not eligible"},
                "diagnostics": (
                    f"lookup failed for {CANARY['name_structured']} born {CANARY['dob_structured']}"
                ),
                "expression": ["Coverage.beneficiary"],
            }
        ],
    }


def corpus_files() -> list[Path]:
    return sorted(FHIR_CORPUS.glob("*.json"))
