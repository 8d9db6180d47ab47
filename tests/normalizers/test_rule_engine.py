"""The YAML rules engine: every condition and action, fold modes, stages, the loader's line
numbers, and that the shipped rule set reproduces the built-in rules."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from testkit import REPO, canary_event

from adapters.base import SourceRecord
from adapters.json_event import parse_event
from normalizers.draft import Recurrence, TicketDraft
from normalizers.errors import RuleConfigError
from normalizers.json_event import normalize_json_event
from normalizers.normalizer import Normalizer
from normalizers.payload import Financial, Priority
from normalizers.rule_loader import load_rules, parse_rules
from normalizers.rule_set import Stage
from normalizers.rules import Rule, builtin_rules
from normalizers.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def _rules(body: str):  # type: ignore[no-untyped-def]
    return parse_rules(body, source="test.yaml", taxonomy=TAXONOMY)


def _one(when: str, then: str, mode: str = "accumulate"):  # type: ignore[no-untyped-def]
    return _rules(
        f"groups:\n  - mode: {mode}\n    rules:\n      - id: r1\n        when: {when}\n        then: {then}\n"
    )


def _sample(**changes: object) -> tuple[SourceRecord, TicketDraft]:
    event = {**canary_event(), **changes}
    record = parse_event(json.dumps(event).encode())
    return record, normalize_json_event(record, TAXONOMY)


@pytest.mark.parametrize(
    ("when", "draft_changes", "matches"),
    [
        ("{source: epic}", {}, True),
        ("{source: [cerner, meditech]}", {}, False),
        ("{format: json-event}", {}, True),
        ("{record_type: x12-835-claim}", {}, False),
        ("{code_system: carc, code: ['16', '97']}", {}, True),
        ("{code_system: CARC, code_prefix: '1'}", {}, True),
        ("{code_system: CARC, code_prefix: ['9', 'A']}", {}, False),
        ("{payer: '87726'}", {}, True),
        ("{facility: north}", {"facility": "north"}, True),
        ("{category: integration-interface}", {}, True),
        ("{exposure: {gt: 300, lte: 310}}", {}, True),
        ("{billed: {gte: 1000}}", {}, False),
        ("{paid: {eq: 0}}", {}, True),
        ("{age_days: {gte: 30}}", {"occurred_at": "2026-10-01T00:00:00Z"}, True),
        ("{tags: [x]}", {}, False),
    ],
)
def test_each_condition(when: str, draft_changes: dict[str, object], matches: bool) -> None:
    record, draft = _sample(**draft_changes)
    if "occurred_at" in draft_changes:
        draft = dataclasses.replace(draft, received_at=draft.occurred_at + timedelta(days=45))  # type: ignore[operator]
    out = _one(when, "{tags: [hit]}").apply(record, draft)
    assert ("hit" in out.tags) is matches


def test_fact_condition_and_clinical_urgency_override() -> None:
    record, draft = _sample()
    held = dataclasses.replace(record, facts={**record.facts, "discharge_hold": True})
    rules = load_rules()
    out = rules.stage(Stage.RECORD).apply(held, draft)
    assert (out.priority, out.override, out.rule_id) == (
        Priority.CRITICAL,
        "clinical-urgency",
        "override.discharge-hold",
    )
    assert out.sla is not None and out.sla.response_minutes == 30
    assert rules.stage(Stage.RECORD).apply(record, draft).override is None


def test_recurrence_and_text_conditions_only_in_the_sealed_stage() -> None:
    record, draft = _sample()
    rules = _rules(
        "groups:\n  - rules:\n"
        "      - {id: many, when: {occurrences: {gte: 5}}, then: {tags: [many]}}\n"
        "      - {id: quixote, when: {text: quixote}, then: {tags: [named]}}\n"
    )
    assert len(rules.stage(Stage.RECORD)) == 0 and len(rules.stage(Stage.SEALED)) == 2
    # clear text (not redacted) never matches a text rule, even though the name is in it
    assert "named" not in rules.apply(record, draft).tags
    seen = rules.apply(record, dataclasses.replace(draft, recurrence=Recurrence(occurrences=5)))
    assert seen.tags == ("many",)


def test_every_action() -> None:
    record, draft = _sample()
    rules = _one(
        "{}",
        "{category: charge-capture, route_by_taxonomy: true, tags: [a, b], priority: low, "
        "tier_at_least: 3, co_owner: him-coding, sla: {resolve_minutes: 60, paused_reason: payer}, "
        "note: why}",
    )
    out = rules.apply(record, draft)
    assert (out.category, out.queue, out.owner, out.co_owner) == (
        "charge-capture",
        "revenue-integrity",
        "revenue-integrity",
        "him-coding",
    )
    assert (out.tier, out.priority, out.tags, out.rule_id) == (3, Priority.LOW, ("a", "b"), "r1")
    assert out.sla is not None and (out.sla.resolve_minutes, out.sla.paused_reason) == (60, "payer")
    assert len(out.rationale) == 1 and out.rationale[0].startswith("r1: always -> category=charge-capture")
    assert out.rationale[0].endswith("; why")
    assert (
        _one("{}", "{queue: q, owner: o, tier: 2, priority_at_least: high, subcategory: s}")
        .apply(record, draft)
        .queue
        == "q"
    )


def test_first_match_stops_at_the_first_rule_and_accumulate_does_not() -> None:
    record, draft = _sample()
    body = (
        "groups:\n  - mode: {mode}\n    rules:\n"
        "      - {{id: one, when: {{code_system: CARC}}, then: {{tags: [one]}}}}\n"
        "      - {{id: two, then: {{tags: [two]}}}}\n"
    )
    assert _rules(body.format(mode="first-match")).apply(record, draft).tags == ("one",)
    assert _rules(body.format(mode="accumulate")).apply(record, draft).tags == ("one", "two")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "groups:\n  - rules:\n      - id: a\n        when: {colour: red}\n        then: {tags: [x]}\n",
            4,
            "unknown condition 'colour'",
        ),
        (
            "groups:\n  - rules:\n      - id: a\n        then: {tags: [x]}\n"
            "      - id: b\n        then: {shout: yes}\n",
            6,
            "unknown action 'shout'",
        ),
        ("groups:\n  - rules:\n      - id: a\n        then: {category: nowhere}\n", 4, "'nowhere'"),
        ("groups:\n  - rules:\n      - id: a\n        then: {tier: 9}\n", 4, "tier must be 1, 2 or 3"),
        (
            "groups:\n  - rules:\n      - id: a\n        when: {text: '('}\n        then: {tags: [x]}\n",
            4,
            "regular expression",
        ),
        (
            "groups:\n  - rules:\n      - {id: a, then: {tags: [x]}}\n      - {id: a, then: {tags: [y]}}\n",
            4,
            "repeats (first at line 3)",
        ),
        ("groups:\n  - mode: sometimes\n    rules: []\n", 2, "mode must be"),
        ("groups:\n  - rules:\n      - id: a\n        then: {tags: [x]\n", 5, "invalid YAML"),
        (
            "groups:\n  - mode: first-match\n    rules:\n      - {id: a, then: {tags: [x]}}\n"
            "      - {id: b, when: {text: x}, then: {tags: [y]}}\n",
            5,
            "cannot mix stages",
        ),
    ],
)
def test_loader_reports_file_and_line(body: str, line: int, message: str) -> None:
    with pytest.raises(RuleConfigError) as caught:
        _rules(body)
    assert caught.value.path == "test.yaml" and caught.value.line == line, str(caught.value)
    assert message in str(caught.value) and str(caught.value).startswith(f"test.yaml:{line}: ")


def test_yaml_rules_keep_the_rule_contract() -> None:
    record, draft = _sample(amounts={"billed": "20000.00"})
    for group in load_rules().groups:
        for rule in group.rules:
            assert isinstance(rule, Rule)
            before = copy.deepcopy(draft)
            first, second = rule.apply(record, draft), rule.apply(record, draft)
            assert first == second and draft == before
            if first is not draft:
                assert len(first.rationale) == len(draft.rationale) + 1
                assert first.rationale[-1].startswith(rule.id)


@pytest.mark.parametrize(
    "path", sorted((REPO / "fixtures" / "events").glob("[!b]*.json")), ids=lambda p: p.name
)
@pytest.mark.parametrize("code_system", ["CARC", "RARC", "277", "277CA", "999", "TA1", "HL7", "FHIR", "X"])
def test_shipped_yaml_rules_reproduce_the_builtin_rules(path: Path, code_system: str) -> None:
    event = json.loads(path.read_text())
    event["error"]["code_system"] = code_system
    record = parse_event(json.dumps(event).encode())
    draft = normalize_json_event(record, TAXONOMY)
    old, new = builtin_rules(TAXONOMY).apply(record, draft), Normalizer().normalize(record)
    assert (new.category, new.queue, new.tier, new.priority) == (
        old.category,
        old.queue,
        old.tier,
        old.priority,
    )


def test_exposure_threshold_is_strictly_greater_than_10000() -> None:
    record, draft = _sample()
    rules = load_rules().stage(Stage.RECORD)
    at = rules.apply(record, dataclasses.replace(draft, financial=Financial(exposure=Decimal("10000"))))
    over = rules.apply(record, dataclasses.replace(draft, financial=Financial(exposure=Decimal("10000.01"))))
    assert (at.priority, at.tier) == (Priority.NORMAL, 1)
    assert (over.priority, over.tier, over.rule_id) == (Priority.HIGH, 2, "escalation.exposure")


def test_payer_pending_pauses_the_sla_and_caqh_scenario_is_set() -> None:
    record, draft = _sample(error={"code": "P1", "code_system": "277CA", "message": "pending"})
    out = load_rules().stage(Stage.RECORD).apply(record, draft)
    assert out.sla is not None and out.sla.paused_reason == "payer-adjudication-pending"
    record, draft = _sample(error={"code": "197", "code_system": "CARC", "message": "no auth"})
    assert Normalizer().normalize(record).subcategory == "authorization-referral"
