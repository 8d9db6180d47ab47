"""Dropping harmless vendor notes from successful search Bundles before they become tickets.

Epic adds an OperationOutcome entry (``search.mode = outcome``) to search Bundles, often only to say
"Resource request returns no results" (code 4101 in Epic's OID code system). Such notes are not
revenue-cycle problems. An issue of an outcome entry is dropped when its severity is
``information`` (and the instance's ``ignore_information`` is on) or when its severity is
``information`` or ``warning`` and one of its ``details`` codings matches the instance's
``ignored_outcome_codes`` (``system|code``, or a bare ``code`` for any system). An entry left with
no issue is removed; ``error`` and ``fatal`` issues are never dropped. Top-level OperationOutcomes
(failed requests) and pushed resources are not filtered.
"""

from __future__ import annotations

from typing import Any

from adapters.fhir.config import FhirInstance

IGNORABLE_SEVERITIES = frozenset({"information", "warning"})


def _ignored(issue: dict[str, Any], instance: FhirInstance, codes: frozenset[str]) -> bool:
    severity = issue.get("severity")
    if severity not in IGNORABLE_SEVERITIES:
        return False
    if severity == "information" and instance.ignore_information:
        return True
    details = issue.get("details")
    codings = details.get("coding") if isinstance(details, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            continue
        code, system = coding["code"], coding.get("system")
        if code in codes or (isinstance(system, str) and f"{system}|{code}" in codes):
            return True
    return False


def drop_ignored_outcomes(bundle: dict[str, Any], instance: FhirInstance) -> tuple[dict[str, Any], int]:
    """``bundle`` without the instance's ignored outcome issues (a shallow copy when anything was
    dropped) and the number of issues dropped."""
    codes = frozenset(instance.effective_ignored_outcome_codes())
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return bundle, 0
    kept: list[Any] = []
    dropped = 0
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        search = entry.get("search") if isinstance(entry, dict) else None
        mode = search.get("mode") if isinstance(search, dict) else None
        issues = resource.get("issue") if isinstance(resource, dict) else None
        if (
            mode != "outcome"
            or not isinstance(resource, dict)
            or resource.get("resourceType") != "OperationOutcome"
            or not isinstance(issues, list)
        ):
            kept.append(entry)
            continue
        remaining = [
            issue for issue in issues if not (isinstance(issue, dict) and _ignored(issue, instance, codes))
        ]
        dropped += len(issues) - len(remaining)
        if len(remaining) == len(issues):
            kept.append(entry)
        elif remaining:
            kept.append({**entry, "resource": {**resource, "issue": remaining}})
    if not dropped:
        return bundle, 0
    filtered = {**bundle, "entry": kept}
    if not kept:
        del filtered["entry"]
    return filtered, dropped
