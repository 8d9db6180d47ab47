"""Parsing and validating FHIR R4 JSON bodies before any mapping: what is wrong is named by
element path, never by value (values may be PHI; so may odd keys, which are shown as
``<element>``)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from adapters.fhir.errors import FhirInvalidElement, FhirNotAResource, FhirNotJson, FhirNullValue

_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_SAFE_KEY = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_DEPTH = 64


def _key(name: str) -> str:
    return name if _SAFE_KEY.match(name) else "<element>"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise FhirInvalidElement("duplicate JSON property", [(_key(name), "appears twice in one object")])
        result[name] = value
    return result


def load_fhir_json(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; decimals kept exact. Raises `FhirNotJson`."""
    try:
        text = body.decode("utf-8-sig")
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError:
        raise FhirNotJson("the body is not UTF-8", [("<body>", "not UTF-8 encoded")]) from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise FhirNotJson("the body is not valid JSON", [("<body>", f"invalid JSON at {where}")]) from None
    except RecursionError:
        raise FhirNotJson("the body nests too deeply", [("<body>", "nesting too deep")]) from None
    if not isinstance(data, dict):
        raise FhirNotAResource(
            "the body is not a JSON object", [("<body>", "must be a FHIR resource object")]
        )
    return data


def _walk(value: object, path: str, depth: int, problems: list[tuple[str, str]]) -> None:
    if depth > MAX_DEPTH:
        problems.append((path or "<body>", "nesting too deep"))
        return
    if value is None:
        problems.append((path or "<body>", "null is not allowed in FHIR JSON"))
    elif isinstance(value, dict):
        for name, item in value.items():
            _walk(item, f"{path}.{_key(name)}" if path else _key(name), depth + 1, problems)
    elif isinstance(value, list):
        if not value:
            problems.append((path, "empty arrays are not allowed in FHIR JSON"))
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, problems)


def _check_resource(resource: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> None:
    prefix = f"{path}." if path else ""
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not _RESOURCE_TYPE.match(kind):
        problems.append((f"{prefix}resourceType", "missing or not a FHIR resource type name"))
        return
    text = resource.get("text")
    if isinstance(text, dict):
        if not isinstance(text.get("status"), str):
            problems.append((f"{prefix}text.status", "required when text is present (R4 Narrative)"))
        if not isinstance(text.get("div"), str):
            problems.append((f"{prefix}text.div", "required when text is present (R4 Narrative)"))
    contained = resource.get("contained")
    if contained is not None and not isinstance(contained, list):
        problems.append((f"{prefix}contained", "must be an array"))
    for index, item in enumerate(contained if isinstance(contained, list) else []):
        if isinstance(item, dict):
            _check_resource(item, f"{prefix}contained[{index}]", problems)
    if kind == "OperationOutcome":
        issues = resource.get("issue")
        if not isinstance(issues, list) or not issues:
            problems.append((f"{prefix}issue", "an OperationOutcome needs at least one issue"))
        else:
            for index, issue in enumerate(issues):
                if not isinstance(issue, dict):
                    problems.append((f"{prefix}issue[{index}]", "must be an object"))
                    continue
                for name in ("severity", "code"):
                    if not isinstance(issue.get(name), str):
                        problems.append((f"{prefix}issue[{index}].{name}", "required"))
    if kind == "Bundle":
        entries = resource.get("entry")
        if entries is not None and not isinstance(entries, list):
            problems.append((f"{prefix}entry", "must be an array"))
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            where = f"{prefix}entry[{index}]"
            if not isinstance(entry, dict):
                problems.append((where, "must be an object"))
            elif isinstance(entry.get("resource"), dict):
                _check_resource(entry["resource"], f"{where}.resource", problems)
            elif not isinstance(entry.get("response"), dict):
                problems.append((f"{where}.resource", "an entry needs a resource or a response"))
            outcome = entry.get("response", {}).get("outcome") if isinstance(entry, dict) else None
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("response"), dict)
                and isinstance(outcome, dict)
            ):
                _check_resource(outcome, f"{where}.response.outcome", problems)


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise the most specific `FhirInputRejected` subclass when ``resource`` breaks an R4 JSON rule
    we rely on (nulls, empty arrays, resourceType, narrative, OperationOutcome issues, entries)."""
    problems: list[tuple[str, str]] = []
    _walk(resource, "", 0, problems)
    nulls = [problem for problem in problems if problem[1].startswith("null")]
    if nulls:
        raise FhirNullValue("the resource contains JSON nulls", nulls[:20])
    if problems:
        raise FhirInvalidElement("the resource breaks FHIR JSON rules", problems[:20])
    _check_resource(resource, "", problems)
    if any(path.endswith("resourceType") and path.count(".") == 0 for path, _ in problems):
        raise FhirNotAResource("the body is not a FHIR resource", problems[:20])
    if problems:
        raise FhirInvalidElement("the resource breaks R4 rules", problems[:20])


def parse_fhir(body: bytes) -> dict[str, Any]:
    """Load and validate one FHIR JSON body."""
    resource = load_fhir_json(body)
    validate_resource(resource)
    return resource
