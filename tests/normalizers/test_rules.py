"""Rules: the contract every rule keeps, and what the built-in rules decide."""

from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal

import pytest
from testkit import canary_event

from adapters.json_event import parse_event
from normalizers.draft import TicketDraft
from normalizers.json_event import normalize_json_event
from normalizers.normalizer import Normalizer
from normalizers.payload import Financial, Priority
from normalizers.rules import (
    CategoryByCodeSystemRule,
    ExposureEscalationRule,
    Rule,
    RuleRegistry,
    TaxonomyDefaultsRule,
)
from normalizers.taxonomy import load_taxonomy
from normalizers.testing import TagRule

TAXONOMY = load_taxonomy()
RULES: list[Rule] = [
    CategoryByCodeSystemRule(),
    TaxonomyDefaultsRule(TAXONOMY),
    ExposureEscalationRule(),
    TagRule(),
]


def _draft(**event_changes: object) -> tuple[object, TicketDraft]:
    event = {**canary_event(), **event_changes}
    record = parse_event(json.dumps(event).encode())
    return record, normalize_json_event(record, TAXONOMY)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_contract_pure_deterministic_no_mutation(rule: Rule) -> None:
    record, draft = _draft()
    before = copy.deepcopy(draft)
    first = rule.apply(record, draft)  # type: ignore[arg-type]
    second = rule.apply(record, draft)  # type: ignore[arg-type]
    assert isinstance(rule, Rule) and rule.id
    assert first == second
    assert draft == before
    if first is not draft:
        assert len(first.rationale) == len(draft.rationale) + 1
        assert first.rationale[-1].startswith(rule.id)


def test_registry_refuses_duplicate_ids() -> None:
    registry = RuleRegistry()
    registry.register(TagRule())
    with pytest.raises(ValueError, match=r"test\.tag"):
        registry.register(TagRule())
    assert registry.get("test.tag").id == "test.tag"


@pytest.mark.parametrize(
    ("code_system", "category", "queue", "tier"),
    [
        ("CARC", "denial-management", "denials", 1),
        ("RARC", "denial-management", "denials", 1),
        ("277CA", "claims-processing", "claims", 1),
        ("999", "integration-interface", "integration", 3),
        ("VENDOR", "integration-interface", "integration", 3),
    ],
)
def test_default_routing_by_code_system(code_system: str, category: str, queue: str, tier: int) -> None:
    event = canary_event()
    event["error"] = {**event["error"], "code_system": code_system}  # type: ignore[dict-item]
    event["amounts"] = {"billed": "10.00"}
    draft = Normalizer().normalize(parse_event(json.dumps(event).encode()))
    assert (draft.category, draft.queue, draft.tier) == (category, queue, tier)
    assert any(line.startswith("taxonomy.defaults") for line in draft.rationale)


def test_exposure_over_threshold_escalates() -> None:
    record, draft = _draft()
    rich = dataclasses.replace(draft, financial=Financial(billed=Decimal("12000"), exposure=Decimal("12000")))
    escalated = ExposureEscalationRule().apply(record, rich)  # type: ignore[arg-type]
    assert (escalated.priority, escalated.tier, escalated.rule_id) == (
        Priority.HIGH,
        2,
        "escalation.exposure",
    )
    at_threshold = dataclasses.replace(draft, financial=Financial(exposure=Decimal("10000")))
    assert ExposureEscalationRule().apply(record, at_threshold) is at_threshold  # type: ignore[arg-type]
