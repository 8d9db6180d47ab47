"""Taxonomy versions: categories with tier, queue and owner; CAQH CORE scenarios; v2's alias map
resolves every v1 category (and subcategory) so old payloads still map."""

from __future__ import annotations

import json

import pytest
from testkit import canary_event

from adapters.json_event import parse_event
from normalizers.normalizer import Normalizer
from normalizers.payload import TicketPayload
from normalizers.sealing import Sealer
from normalizers.taxonomy import load_taxonomy, parse_taxonomy
from redaction import Redactor, default_detector_registry
from redaction.testing import deterministic_pseudonymizer

V1, V2 = load_taxonomy("1"), load_taxonomy("2")
REQUIRED = {
    "claims-processing",
    "patient-billing",
    "payment-posting",
    "denial-management",
    "eligibility-registration",
    "charge-capture",
    "prior-authorization",
    "integration-interface",
}


def test_v1_has_the_functional_areas_with_tier_queue_and_owner() -> None:
    assert set(V1.categories) == REQUIRED
    assert all(1 <= c.tier <= 3 and c.queue and c.owner != "unassigned" for c in V1.categories.values())
    scenarios = set(V1.get("denial-management").subcategories)
    assert {
        "additional-information-required",
        "billing-error",
        "benefit-plan-coverage",
        "patient-responsibility",
    } <= scenarios


@pytest.mark.parametrize(
    ("carc", "scenario"),
    [
        ("16", "additional-information-required"),
        ("4", "billing-error"),
        ("96", "benefit-plan-coverage"),
        ("2", "patient-responsibility"),
    ],
)
def test_carc_maps_to_its_caqh_core_scenario(carc: str, scenario: str) -> None:
    found = V1.scenario_for_carc(carc)
    assert found is not None and (found[0].key, found[1].key) == ("denial-management", scenario)


@pytest.mark.parametrize(
    ("old", "sub", "new", "new_sub"),
    [
        ("claims-processing", None, "claim-submission", None),  # rename
        ("eligibility-registration", None, "patient-access", None),  # merge
        ("prior-authorization", None, "patient-access", "prior-authorization"),  # merge into a sub
        ("denial-management", "billing-error", "denials-administrative", "billing-error"),  # split
        ("denial-management", "benefit-plan-coverage", "denials-clinical", "benefit-plan-coverage"),
        ("payment-posting", "unbalanced-remit", "payment-posting", "unbalanced-remit"),  # unchanged
    ],
)
def test_v2_aliases_resolve_v1_keys(old: str, sub: str | None, new: str, new_sub: str | None) -> None:
    resolved = V2.resolve(old, sub)
    assert (resolved.category.key, resolved.subcategory) == (new, new_sub)


def test_every_v1_category_and_subcategory_resolves_under_v2() -> None:
    for category in V1.categories.values():
        for sub in (None, *category.subcategories):
            resolved = V2.resolve(category.key, sub)
            assert resolved.category.key in V2.categories


def test_a_payload_made_under_v1_maps_cleanly_under_v2() -> None:
    event = canary_event()
    event["error"] = {"code": "96", "code_system": "CARC", "message": "not covered"}
    pseudonymizer = deterministic_pseudonymizer()
    sealer = Sealer(Redactor(pseudonymizer, default_detector_registry()), pseudonymizer)
    body = sealer.seal(Normalizer().normalize(parse_event(json.dumps(event).encode()))).ticket.body
    payload = TicketPayload.model_validate_json(body)  # as a report would read an old ticket
    assert (payload.taxonomy_version, payload.category, payload.subcategory) == (
        "1",
        "denial-management",
        "benefit-plan-coverage",
    )
    resolved = V2.resolve(payload.category, payload.subcategory)
    assert (resolved.category.key, resolved.subcategory, resolved.category.queue) == (
        "denials-clinical",
        "benefit-plan-coverage",
        "clinical-denials",
    )


def test_an_alias_to_an_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        parse_taxonomy(
            {
                "version": "9",
                "categories": {"a": {"title": "A", "tier": 1, "queue": "q"}},
                "aliases": {"b": "c"},
            }
        )
