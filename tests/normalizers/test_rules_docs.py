"""docs/taxonomy.md and docs/rules.md say what the data and the code do: their tables and
examples are checked here."""

from __future__ import annotations

import json
import re

import pytest
from testkit import REPO

from adapters.json_event import parse_event_file
from normalizers.normalizer import Normalizer
from normalizers.rule_conditions import CONDITION_KEYS
from normalizers.rule_loader import load_rules
from normalizers.rule_set import ACTION_KEYS, Stage
from normalizers.taxonomy import load_taxonomy

TAXONOMY_DOC = (REPO / "docs" / "taxonomy.md").read_text("utf-8")
RULES_DOC = (REPO / "docs" / "rules.md").read_text("utf-8")


@pytest.mark.parametrize("version", ["1", "2"])
def test_taxonomy_tables_match_the_data(version: str) -> None:
    for category in load_taxonomy(version).categories.values():
        row = f"| `{category.key}` | {category.tier} | `{category.queue}` | `{category.owner}` |"
        assert row in TAXONOMY_DOC


def test_taxonomy_doc_lists_every_alias_and_scenario() -> None:
    for old, alias in load_taxonomy("2").aliases.items():
        assert f"| `{old}` | (any other) | `{alias.default}` |" in TAXONOMY_DOC
    for sub in load_taxonomy("1").get("denial-management").subcategories.values():
        assert f"| `{sub.key}` | {', '.join(sub.carc)} |" in TAXONOMY_DOC


def test_rules_doc_names_every_condition_action_and_default_rule() -> None:
    for key in (*CONDITION_KEYS, *ACTION_KEYS):
        assert f"`{key}`" in RULES_DOC or f"`{key}: true`" in RULES_DOC, key
    for group in load_rules().groups:
        for rule in group.rules:
            stem = rule.id.split("-")[0] if rule.id.startswith("override") else rule.id
            assert any(
                part in RULES_DOC for part in (f"`{rule.id}`", f"`{stem}", rule.id.rsplit(".", 1)[0] + ".*")
            ), rule.id


def test_rules_doc_example_routes_as_shown() -> None:
    rules = load_rules(REPO / "docs" / "examples" / "rules" / "hybrid-and-urgent.yaml")
    normalizer = Normalizer(rules=rules.stage(Stage.RECORD))
    examples = re.findall(r"<!-- example: (\S+) -->\n```json\n(.*?)\n```", RULES_DOC, re.DOTALL)
    assert examples
    for path, expected in examples:
        draft = normalizer.normalize(parse_event_file(REPO / path))
        shown = json.loads(expected)
        actual = {
            "category": draft.category,
            "queue": draft.queue,
            "tier": draft.tier,
            "priority": draft.priority.value,
        }
        assert {key: actual[key] for key in shown} == shown
