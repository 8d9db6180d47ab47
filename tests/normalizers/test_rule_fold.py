"""The fast fold of a `RuleSet` (index, one `RoutingView`, one copy, cached candidates) gives
exactly the draft that folding every rule's own copy into the next gives: the reference below
tests every rule of every group in file order, with no index."""

from __future__ import annotations

import json
import sys

import pytest
from testkit import REPO

from adapters.base import SourceRecord
from adapters.json_event import parse_event
from normalizers.draft import TicketDraft
from normalizers.json_event import normalize_json_event
from normalizers.rule_loader import load_rules, parse_rules
from normalizers.rule_set import Mode, RuleSet
from normalizers.taxonomy import load_taxonomy

sys.path.insert(0, str(REPO / "bench"))
from rules import SYSTEMS, event, rule_file

TAXONOMY = load_taxonomy()


def reference_fold(rules: RuleSet, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
    for group in rules.groups:
        for rule in group.rules:
            result = rule.apply(record, draft)
            if result is not draft:
                draft = result
                if group.mode is Mode.FIRST_MATCH:
                    break
    return draft


def _drafts(count: int) -> list[tuple[SourceRecord, TicketDraft]]:
    out = []
    for n in range(count):
        raw = json.loads(event(n, f"F{n % 200}"))
        raw["error"]["code_system"] = [*SYSTEMS, "carc", "X"][n % (len(SYSTEMS) + 2)]
        record = parse_event(json.dumps(raw).encode())
        out.append((record, normalize_json_event(record, TAXONOMY)))
    return out


@pytest.mark.parametrize(
    "rules",
    [
        parse_rules(rule_file(200), source="bench", taxonomy=TAXONOMY),
        load_rules(taxonomy=TAXONOMY),
        load_rules(REPO / "docs" / "examples" / "rules" / "hybrid-and-urgent.yaml", taxonomy=TAXONOMY),
    ],
    ids=["bench-200", "default", "docs-example"],
)
def test_fast_fold_equals_the_rule_by_rule_fold(rules: RuleSet) -> None:
    changed = 0
    for record, draft in _drafts(400) * 2:  # twice: the second pass reads cached candidates
        fast, slow = rules.apply(record, draft), reference_fold(rules, record, draft)
        assert fast == slow
        assert (fast is draft) == (slow is draft)
        changed += fast is not draft
    assert changed


def test_a_rule_set_that_matches_nothing_returns_the_same_draft() -> None:
    rules = parse_rules(
        "groups:\n  - rules:\n      - {id: a, when: {payer: nobody}, then: {tags: [x]}}\n",
        source="t",
        taxonomy=TAXONOMY,
    )
    record, draft = _drafts(1)[0]
    assert rules.apply(record, draft) is draft
