"""The `Rule` extension point: pure functions that refine a draft (category, tier, queue, priority,
tags, rationale), folded in order by a `RuleChain`.

Every decision a rule makes is appended to the draft's rationale, so the payload says why it went
where it went.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import ClassVar, Protocol, runtime_checkable

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft
from normalizers.payload import Priority
from normalizers.taxonomy import Taxonomy


@runtime_checkable
class Rule(Protocol):
    """A pure refinement of a draft.

    Contract (``tests/normalizers/test_rule_contract.py`` runs it on every built-in rule and the
    `normalizers.testing.TagRule` double):

    - ``apply(record, draft)`` returns a draft: the same object when the rule does not match, or a
      copy (`dataclasses.replace`) with its changes and one rationale line per decision.
    - No I/O, no clock, no randomness, no mutation of its inputs: the same inputs give the same
      output.
    - It never reads PHI: only ``record.facts`` and the draft's non-PHI fields.
    - ``id`` is stable; it appears in ``routing.rule_id`` and in rationale lines.
    """

    id: ClassVar[str]

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """The draft after this rule."""
        ...


class RuleRegistry:
    """An explicit id -> rule map."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def register(self, rule: Rule) -> None:
        """Add ``rule`` under its ``id``; ids are unique."""
        if rule.id in self._rules:
            raise ValueError(f"rule {rule.id!r} is already registered")
        self._rules[rule.id] = rule

    def get(self, rule_id: str) -> Rule:
        """The rule ``rule_id``."""
        try:
            return self._rules[rule_id]
        except KeyError:
            raise KeyError(f"unknown rule {rule_id!r}; known: {sorted(self._rules)}") from None

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())


class RuleChain:
    """Applies rules in order, each to the previous one's result."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules = tuple(rules)

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """The draft after every rule."""
        for rule in self._rules:
            draft = rule.apply(record, draft)
        return draft


_CATEGORY_BY_CODE_SYSTEM: dict[str, str] = {
    "CARC": "denial-management",
    "RARC": "denial-management",
    "277": "claims-processing",
    "277CA": "claims-processing",
    "CLAIM-STATUS": "claims-processing",
    "999": "integration-interface",
    "997": "integration-interface",
    "TA1": "integration-interface",
    "HL7": "integration-interface",
    "FHIR": "integration-interface",
    "ELIGIBILITY": "eligibility-registration",
    "CHARGE": "charge-capture",
    "PLB": "payment-posting",
}


class CategoryByCodeSystemRule:
    """Sets the category from the error's code system (CARC -> denial management, ...), when the
    normalizer left the draft in the fallback category."""

    id: ClassVar[str] = "category.by-code-system"
    fallback_category: ClassVar[str] = "integration-interface"

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """Categorize by the first code's system."""
        if draft.category != self.fallback_category or not draft.codes:
            return draft
        system = draft.codes[0].system.upper()
        category = _CATEGORY_BY_CODE_SYSTEM.get(system)
        if category is None or category == draft.category:
            return draft
        return dataclasses.replace(
            draft,
            category=category,
            rationale=(*draft.rationale, f"{self.id}: code system {system} -> {category}"),
        )


class TaxonomyDefaultsRule:
    """Sets tier and queue from the category's defaults in the taxonomy."""

    id: ClassVar[str] = "taxonomy.defaults"

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._taxonomy = taxonomy

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """Route to the category's queue at its default tier."""
        category = self._taxonomy.get(draft.category)
        return dataclasses.replace(
            draft,
            tier=category.tier,
            queue=category.queue,
            rule_id=self.id,
            rationale=(
                *draft.rationale,
                f"{self.id}: {category.key} -> queue {category.queue}, tier {category.tier}",
            ),
        )


class ExposureEscalationRule:
    """Raises priority and tier when the money at risk passes a threshold (default $10,000)."""

    id: ClassVar[str] = "escalation.exposure"

    def __init__(self, threshold: Decimal = Decimal("10000")) -> None:
        self._threshold = threshold

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """Escalate drafts whose exposure exceeds the threshold."""
        exposure = draft.financial.exposure
        if exposure is None or exposure <= self._threshold:
            return draft
        return dataclasses.replace(
            draft,
            priority=Priority.HIGH if draft.priority != Priority.CRITICAL else draft.priority,
            tier=max(draft.tier, 2),
            rule_id=self.id,
            rationale=(*draft.rationale, f"{self.id}: exposure {exposure} > {self._threshold}"),
        )


def builtin_rules(taxonomy: Taxonomy) -> RuleChain:
    """The three hard-coded rules above, in order (the YAML default set reproduces them)."""
    return RuleChain([CategoryByCodeSystemRule(), TaxonomyDefaultsRule(taxonomy), ExposureEscalationRule()])


def default_rules(taxonomy: Taxonomy) -> RuleChain:
    """The rules that ship enabled, in order: the record stage of the shipped YAML rule set
    (``normalizers/data/rules-default.yaml``, see docs/rules.md)."""
    from normalizers.rule_loader import load_rules
    from normalizers.rule_set import Stage

    return load_rules(taxonomy=taxonomy).stage(Stage.RECORD)
