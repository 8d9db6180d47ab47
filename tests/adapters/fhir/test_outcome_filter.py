"""Harmless vendor notes in successful search Bundles (Epic 4101 "no results", information
issues) raise no ticket by default; the list is configurable per instance."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fhirkit import EPIC_BASE, EPIC_OID, EPIC_TOKEN, cerner_instance, epic_instance, epic_warning, searchset

from adapters.fhir.client import FhirClient
from adapters.fhir.config import FhirInstance
from adapters.fhir.cursors import CursorStore
from adapters.fhir.outcome_filter import drop_ignored_outcomes
from adapters.fhir.poller import FhirPollingAdapter
from adapters.fhir.protection import CircuitBreaker, RequestBudget, RequestGuard
from adapters.fhir.signing_keys import KeyRing
from adapters.fhir.smart import SmartTokenSource

TOKEN_OK = {"access_token": "at-1", "token_type": "bearer", "expires_in": 3600}


def _information(code: str = "informational") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": code}]}


def _kinds(bundle: dict[str, Any]) -> list[str]:
    return [
        issue["details"]["coding"][0]["code"] if "details" in issue else issue["severity"]
        for entry in bundle.get("entry", [])
        for issue in entry["resource"].get("issue", [])
    ]


def test_epic_no_results_and_information_are_dropped_by_default() -> None:
    bundle = searchset([], outcomes=[epic_warning("4101"), _information(), epic_warning("59100", "filtered")])
    filtered, dropped = drop_ignored_outcomes(bundle, epic_instance())
    assert dropped == 2
    assert _kinds(filtered) == ["59100"]
    assert len(bundle["entry"]) == 3  # the input is not modified


def test_errors_are_never_dropped_and_mixed_outcomes_keep_the_rest() -> None:
    outcome = epic_warning("4101")
    outcome["issue"].append(
        {
            "severity": "error",
            "code": "processing",
            "details": {"coding": [{"system": EPIC_OID, "code": "4101"}]},
        }
    )
    filtered, dropped = drop_ignored_outcomes(searchset([], outcomes=[outcome]), epic_instance())
    assert dropped == 1
    assert [issue["severity"] for issue in filtered["entry"][0]["resource"]["issue"]] == ["error"]


def test_only_outcome_entries_are_filtered() -> None:
    bundle = searchset([epic_warning("4101")])  # a match entry, not search.mode = outcome
    assert drop_ignored_outcomes(bundle, epic_instance()) == (bundle, 0)


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        (epic_instance(ignored_outcome_codes=[]), ["4101", "4118"]),
        (epic_instance(ignored_outcome_codes=["4118"]), ["4101"]),
        (epic_instance(ignored_outcome_codes=[f"{EPIC_OID}|4118", f"{EPIC_OID}|4101"]), []),
        (epic_instance(ignored_outcome_codes=["urn:oid:other|4101"]), ["4101", "4118"]),
        (cerner_instance(), ["4101", "4118"]),  # Cerner has no vendor default
    ],
    ids=["none", "bare-code", "system-and-code", "other-system", "cerner-default"],
)
def test_the_ignored_codes_are_configurable_per_instance(instance: FhirInstance, expected: list[str]) -> None:
    bundle = searchset([], outcomes=[epic_warning("4101"), epic_warning("4118", "filtered")])
    filtered, _ = drop_ignored_outcomes(bundle, instance)
    assert _kinds(filtered) == expected


def test_information_issues_can_be_kept() -> None:
    filtered, dropped = drop_ignored_outcomes(
        searchset([], outcomes=[_information()]), epic_instance(ignore_information=False)
    )
    assert dropped == 0 and _kinds(filtered) == ["information"]


@pytest.mark.anyio
@respx.mock
async def test_a_no_results_bundle_raises_no_ticket_and_still_succeeds(tmp_path: Path) -> None:
    instance = epic_instance(start_from="2026-11-01T00:00:00Z")
    respx.post(EPIC_TOKEN).mock(return_value=httpx.Response(200, json=TOKEN_OK))
    respx.get(f"{EPIC_BASE}/ClaimResponse").mock(
        return_value=httpx.Response(200, json=searchset([], outcomes=[epic_warning("4101")]))
    )
    guard = RequestGuard(RequestBudget(3600), CircuitBreaker(5, 300), 2)
    adapter = FhirPollingAdapter(
        instance,
        FhirClient(instance, SmartTokenSource(instance, KeyRing(tmp_path / "keys")), guard),
        CursorStore(tmp_path / "cursors.db"),
        rng=random.Random(1),
        now=lambda: datetime(2026, 11, 20, tzinfo=UTC),
    )
    seen = [record async for record, _ack in adapter.cycle()]
    assert seen == []
    assert adapter.last.ok and adapter.last.ignored_issues == 1
