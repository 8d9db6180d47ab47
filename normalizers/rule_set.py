"""YAML rules compiled into pure `Rule`s, grouped, and folded in order by a `RuleSet`.

A `RuleSet` is a sequence of groups. In a ``first-match`` group the first rule whose conditions
hold applies and the rest of the group is skipped; in an ``accumulate`` group every matching rule
applies, each to the previous one's result. Each rule that applies appends exactly one rationale
line, ``"<rule id>: <why> -> <what>"``, so the payload (and ``rcmgw rules explain``) says why the
ticket went where it went.

Rules run in two stages. ``record`` rules run in `Normalizer.normalize`, before redaction.
``sealed`` rules (any rule with a ``text``, ``occurrences`` or ``facilities`` condition) run inside
`Sealer.seal` on a draft whose texts are already redacted and whose identifiers are removed, after
the ingest pipeline filled in the draft's recurrence counts. A ``first-match`` group may not mix
stages (the loader refuses it).

For speed (docs/PERFORMANCE.md, bench/rules.py):

- each group indexes its rules by the most specific equality they require (a code system and code,
  a code, a payer, a facility, a code system, a record type, in that order of preference), so a
  draft only tests the rules that can match it plus the rules that require none of these;
- a `RuleSet` folds all its groups into one `RoutingView` and copies the draft once at the end,
  instead of once per matching rule (the result is the same: conditions read the view);
- each rule's conditions are a tuple of specialised predicates, and a rule whose actions describe
  themselves the same way for every draft has its rationale line built at load time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft
from normalizers.rule_actions import ACTION_KEYS, ROUTING_ACTIONS, Action, compile_actions
from normalizers.rule_conditions import Condition, Predicate, as_set, compile_conditions
from normalizers.rule_view import RoutingView
from normalizers.rules import RuleChain
from normalizers.taxonomy import Taxonomy

__all__ = [
    "ACTION_KEYS",
    "PLAN_CACHE_SIZE",
    "Mode",
    "RuleGroup",
    "RuleSet",
    "Stage",
    "YamlRule",
    "build_rule",
    "draft_keys",
]


class Mode(StrEnum):
    """How a group folds its rules."""

    FIRST_MATCH = "first-match"
    ACCUMULATE = "accumulate"


class Stage(StrEnum):
    """When a rule runs: on the record's draft, or on the redacted draft inside sealing."""

    RECORD = "record"
    SEALED = "sealed"


# Distinct index-key combinations whose candidate rules a `RuleSet` remembers (then starts over).
PLAN_CACHE_SIZE = 4096
# The index spaces of a draft's keys: one short prefix per space, so one dict holds them all.
_CODE, _ANY_CODE, _PAYER, _FACILITY, _SYSTEM, _RECORD_TYPE = "c:", "k:", "p:", "f:", "s:", "t:"


@dataclass(frozen=True, slots=True)
class YamlRule:
    """One rule from a rules file: its conditions and actions (a `Rule`: pure, no I/O)."""

    id: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    sets_rule_id: bool
    line: int = 0
    # Index keys (prefixed, see `draft_keys`): the rule can only match a draft holding one of them;
    # None when the rule requires none of the indexed equalities.
    index_keys: frozenset[str] | None = None
    tests: tuple[Predicate, ...] = dataclasses.field(init=False, repr=False, compare=False)
    why: str = dataclasses.field(init=False, repr=False, compare=False)
    fixed_line: str | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        why = ", ".join(c.description for c in self.conditions) or "always"
        texts = [action.text for action in self.actions]
        fixed = None
        if all(text is not None for text in texts):
            fixed = f"{self.id}: {why} -> {'; '.join(texts)}"[:300]  # type: ignore[arg-type]
        object.__setattr__(self, "tests", tuple(c.test for c in self.conditions))
        object.__setattr__(self, "why", why)
        object.__setattr__(self, "fixed_line", fixed)

    @property
    def stage(self) -> Stage:
        """Sealed when any condition needs redacted text or recurrence counts."""
        return Stage.SEALED if any(c.sealed_stage for c in self.conditions) else Stage.RECORD

    def matches(self, record: SourceRecord, draft: TicketDraft) -> bool:
        """Whether every condition holds."""
        view = RoutingView(draft)
        return all(test(record, draft, view) for test in self.tests)

    def fire(self, record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        """Apply this rule to ``view`` (the routing of ``draft`` as the fold so far changed it)
        when every condition holds; whether it did."""
        for test in self.tests:
            if not test(record, draft, view):
                return False
        line = self.fixed_line
        if line is None:
            what = [action.run(draft, view) for action in self.actions]
            line = f"{self.id}: {self.why} -> {'; '.join(what)}"[:300]
        else:
            for action in self.actions:
                action.run(draft, view)
        if self.sets_rule_id:
            view.rule_id = self.id
        view.rationale.append(line)
        return True

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """The draft with this rule's actions, or ``draft`` itself when a condition fails."""
        view = RoutingView(draft)
        return view.applied_to(draft) if self.fire(record, draft, view) else draft


def _index_keys(when: Mapping[str, object]) -> frozenset[str] | None:
    """The most specific equality a rule requires, as draft keys: a code system and code, else a
    code, else a payer, a facility, a code system, a record type."""
    systems = sorted(s.upper() for s in as_set(when["code_system"])) if "code_system" in when else None
    if "code" in when:
        codes = as_set(when["code"])
        if systems is not None:
            return frozenset(f"{_CODE}{system}\x1f{code}" for system in systems for code in codes)
        return frozenset(f"{_ANY_CODE}{code}" for code in codes)
    for key, prefix in (("payer", _PAYER), ("facility", _FACILITY)):
        if key in when:
            return frozenset(prefix + value for value in as_set(when[key]))
    if systems is not None:
        return frozenset(_SYSTEM + system for system in systems)
    if "record_type" in when:
        return frozenset(_RECORD_TYPE + value for value in as_set(when["record_type"]))
    return None


def draft_keys(record: SourceRecord, draft: TicketDraft) -> tuple[str, ...]:
    """The index keys of a draft (fields no rule changes, so they hold for the whole fold)."""
    keys = [_RECORD_TYPE + record.record_type]
    for code in draft.codes:
        system = code.system.upper()
        keys += (f"{_CODE}{system}\x1f{code.code}", _ANY_CODE + code.code, _SYSTEM + system)
    if draft.payer is not None and draft.payer.id is not None:
        keys.append(_PAYER + draft.payer.id)
    if draft.facility is not None:
        keys.append(_FACILITY + draft.facility)
    return tuple(keys)


def build_rule(
    rule_id: str, when: Mapping[str, object], then: Mapping[str, object], taxonomy: Taxonomy, line: int = 0
) -> YamlRule:
    """Compile one rule; ValueError / KeyError say what is wrong (the loader adds the line)."""
    return YamlRule(
        id=rule_id,
        conditions=compile_conditions(when),
        actions=compile_actions(then, taxonomy),
        sets_rule_id=bool(ROUTING_ACTIONS & then.keys()),
        line=line,
        index_keys=_index_keys(when),
    )


class RuleGroup:
    """Rules folded in one `Mode`, indexed by the most specific equality they require, so a draft
    only tests the rules that can match it (plus those that require none)."""

    def __init__(self, name: str, mode: Mode, rules: Sequence[YamlRule]) -> None:
        self.name = name
        self.mode = mode
        self.rules = tuple(rules)
        index: dict[str, list[int]] = {}
        unkeyed: list[int] = []
        for position, rule in enumerate(self.rules):
            if rule.index_keys is None:
                unkeyed.append(position)
                continue
            for key in rule.index_keys:
                index.setdefault(key, []).append(position)
        self._index = {key: tuple(positions) for key, positions in index.items()}
        self._unkeyed = tuple(unkeyed)
        self._unkeyed_rules = tuple(self.rules[position] for position in unkeyed)

    def candidates(self, keys: Sequence[str]) -> tuple[YamlRule, ...]:
        """The rules that can match a draft with index ``keys`` (`draft_keys`), in file order."""
        index = self._index
        if not index:
            return self.rules
        hits: tuple[int, ...] = ()
        for key in keys:
            found = index.get(key)
            if found is not None:
                hits += found
        if not hits:
            return self._unkeyed_rules
        rules = self.rules
        return tuple(rules[position] for position in sorted({*hits, *self._unkeyed}))

    def fold(self, record: SourceRecord, draft: TicketDraft, view: RoutingView, keys: Sequence[str]) -> None:
        """Fold the group's rules into ``view``."""
        if self.mode is Mode.FIRST_MATCH:
            for rule in self.candidates(keys):
                if rule.fire(record, draft, view):
                    return
        else:
            for rule in self.candidates(keys):
                rule.fire(record, draft, view)

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """Fold the group's rules over ``draft``."""
        view = RoutingView(draft)
        self.fold(record, draft, view, draft_keys(record, draft))
        return view.applied_to(draft)


class RuleSet(RuleChain):
    """Groups of YAML rules in order (a `RuleChain`, so `Normalizer` takes it as its rules)."""

    def __init__(self, groups: Sequence[RuleGroup], *, source: str = "<rules>") -> None:
        super().__init__(())
        self.groups = tuple(groups)
        self.source = source
        # Draft index keys -> each group's (first-match?, candidate rules). The candidates depend
        # only on the keys, and drafts repeat a small set of code/payer/facility combinations.
        self._plans: dict[tuple[str, ...], tuple[tuple[bool, tuple[YamlRule, ...]], ...]] = {}

    def stage(self, stage: Stage) -> RuleSet:
        """Only the rules of ``stage`` (groups keep their order and mode; empty groups drop)."""
        groups = [
            RuleGroup(group.name, group.mode, [rule for rule in group.rules if rule.stage is stage])
            for group in self.groups
        ]
        return RuleSet([group for group in groups if group.rules], source=self.source)

    def __len__(self) -> int:
        return sum(len(group.rules) for group in self.groups)

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """The draft after every group: one fold into a `RoutingView`, one copy at the end (the
        same draft as folding each rule's copy into the next)."""
        keys = draft_keys(record, draft)
        plan = self._plans.get(keys)
        if plan is None:
            plan = tuple((group.mode is Mode.FIRST_MATCH, group.candidates(keys)) for group in self.groups)
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[keys] = plan
        view = RoutingView(draft)
        for first_match, rules in plan:
            for rule in rules:
                if rule.fire(record, draft, view) and first_match:
                    break
        return view.applied_to(draft)
