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

For speed, each group indexes its rules by the code systems their conditions name: a draft only
tests the rules that name one of its codes' systems plus the rules that name none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft
from normalizers.payload import Priority, Sla
from normalizers.rule_conditions import Condition, as_set, compile_conditions
from normalizers.rules import RuleChain
from normalizers.taxonomy import Taxonomy

_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}
ROUTING_ACTIONS = frozenset(
    {
        "queue",
        "tier",
        "tier_at_least",
        "priority",
        "priority_at_least",
        "route_by_taxonomy",
        "override",
        "owner",
    }
)
ACTION_KEYS = frozenset(
    {
        *ROUTING_ACTIONS,
        "category",
        "subcategory",
        "subcategory_from_carc",
        "tags",
        "co_owner",
        "sla",
        "note",
    }
)
SLA_KEYS = frozenset({"response_minutes", "resolve_minutes", "paused_reason"})


class Mode(StrEnum):
    """How a group folds its rules."""

    FIRST_MATCH = "first-match"
    ACCUMULATE = "accumulate"


class Stage(StrEnum):
    """When a rule runs: on the record's draft, or on the redacted draft inside sealing."""

    RECORD = "record"
    SEALED = "sealed"


Changes = dict[str, Any]
Action = Callable[[TicketDraft, Changes], str]


def _check_priority(value: object) -> Priority:
    try:
        return Priority(str(value))
    except ValueError:
        raise ValueError(f"priority must be one of {', '.join(p.value for p in Priority)}") from None


def _check_tier(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
        raise ValueError("tier must be 1, 2 or 3")
    return value


def compile_actions(then: Mapping[str, object], taxonomy: Taxonomy) -> tuple[Action, ...]:  # noqa: PLR0915 - one flat branch per action key
    """The actions of one ``then:`` mapping. Each writes into a changes dict (reading the draft
    as already changed by earlier actions) and returns a short description."""
    unknown = set(then) - ACTION_KEYS
    if unknown:
        raise ValueError(f"unknown action {sorted(unknown)[0]!r}; known: {', '.join(sorted(ACTION_KEYS))}")
    actions: list[Action] = []

    def current(draft: TicketDraft, changes: Changes, name: str) -> Any:
        return changes.get(name, getattr(draft, name))

    if "category" in then:
        category = str(then["category"])
        taxonomy.resolve(category)  # KeyError -> reported by the loader

        def set_category(draft: TicketDraft, changes: Changes) -> str:
            changes["category"] = taxonomy.resolve(category).category.key
            return f"category={changes['category']}"

        actions.append(set_category)
    if "subcategory" in then:
        sub = str(then["subcategory"])

        def set_sub(draft: TicketDraft, changes: Changes) -> str:
            changes["subcategory"] = sub
            return f"subcategory={sub}"

        actions.append(set_sub)
    if then.get("subcategory_from_carc"):

        def from_carc(draft: TicketDraft, changes: Changes) -> str:
            category = current(draft, changes, "category")
            for code in draft.codes:
                if code.system.upper() not in {"CARC", "RARC"}:
                    continue
                found = taxonomy.scenario_for_carc(code.code)
                if found and found[0].key == category:
                    changes["subcategory"] = found[1].key
                    return f"subcategory={found[1].key} (CAQH CORE scenario of {code.system} {code.code})"
            return "no CAQH CORE scenario"

        actions.append(from_carc)
    if then.get("route_by_taxonomy"):

        def route(draft: TicketDraft, changes: Changes) -> str:
            category = taxonomy.resolve(current(draft, changes, "category")).category
            changes.update(tier=category.tier, queue=category.queue, owner=category.owner)
            return f"{category.key} -> queue {category.queue}, tier {category.tier}, owner {category.owner}"

        actions.append(route)
    for key in ("queue", "owner", "co_owner"):
        if key in then:
            actions.append(_setter(key, str(then[key])))
    if "tier" in then:
        actions.append(_setter("tier", _check_tier(then["tier"])))
    if "tier_at_least" in then:
        floor = _check_tier(then["tier_at_least"])

        def tier_up(draft: TicketDraft, changes: Changes) -> str:
            changes["tier"] = max(current(draft, changes, "tier"), floor)
            return f"tier={changes['tier']} (at least {floor})"

        actions.append(tier_up)
    if "priority" in then:
        actions.append(_setter("priority", _check_priority(then["priority"])))
    if "priority_at_least" in then:
        least = _check_priority(then["priority_at_least"])

        def priority_up(draft: TicketDraft, changes: Changes) -> str:
            now = current(draft, changes, "priority")
            changes["priority"] = now if _PRIORITY_RANK[now] >= _PRIORITY_RANK[least] else least
            return f"priority={changes['priority'].value} (at least {least.value})"

        actions.append(priority_up)
    if "override" in then:
        override = str(then["override"])

        def set_override(draft: TicketDraft, changes: Changes) -> str:
            changes.update(override=override, priority=Priority.CRITICAL)
            return f"override={override}, priority=critical (bypasses queue order)"

        actions.append(set_override)
    if "tags" in then:
        tags = tuple(sorted(as_set(then["tags"])))

        def add_tags(draft: TicketDraft, changes: Changes) -> str:
            have = current(draft, changes, "tags")
            changes["tags"] = (*have, *(tag for tag in tags if tag not in have))
            return f"tags+={','.join(tags)}"

        actions.append(add_tags)
    if "sla" in then:
        sla = then["sla"]
        if not isinstance(sla, Mapping) or set(sla) - SLA_KEYS:
            raise ValueError(f"sla takes a mapping with {', '.join(sorted(SLA_KEYS))}")
        values = Sla.model_validate(dict(sla))
        given = {key: getattr(values, key) for key in sla}

        def set_sla(draft: TicketDraft, changes: Changes) -> str:
            base = current(draft, changes, "sla") or Sla()
            changes["sla"] = base.model_copy(update=given)
            return "sla " + ", ".join(f"{key}={value}" for key, value in given.items())

        actions.append(set_sla)
    if "note" in then:
        note = str(then["note"])
        actions.append(lambda draft, changes: note)
    return tuple(actions)


def _setter(name: str, value: object) -> Action:
    def action(draft: TicketDraft, changes: Changes) -> str:
        changes[name] = value
        shown = value.value if isinstance(value, Priority) else value
        return f"{name}={shown}"

    return action


@dataclass(frozen=True, slots=True)
class YamlRule:
    """One rule from a rules file: its conditions and actions (a `Rule`: pure, no I/O)."""

    id: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    sets_rule_id: bool
    line: int = 0
    code_systems: frozenset[str] | None = None
    equals: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    @property
    def stage(self) -> Stage:
        """Sealed when any condition needs redacted text or recurrence counts."""
        return Stage.SEALED if any(c.sealed_stage for c in self.conditions) else Stage.RECORD

    def matches(self, record: SourceRecord, draft: TicketDraft) -> bool:
        """Whether every condition holds."""
        return all(condition.test(record, draft) for condition in self.conditions)

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """The draft with this rule's actions, or ``draft`` itself when a condition fails."""
        for condition in self.conditions:
            if not condition.test(record, draft):
                return draft
        changes: Changes = {}
        what = [action(draft, changes) for action in self.actions]
        why = ", ".join(c.description for c in self.conditions) or "always"
        if self.sets_rule_id:
            changes["rule_id"] = self.id
        line = f"{self.id}: {why} -> {'; '.join(what)}"
        return dataclasses.replace(draft, rationale=(*draft.rationale, line[:300]), **changes)


def build_rule(
    rule_id: str, when: Mapping[str, object], then: Mapping[str, object], taxonomy: Taxonomy, line: int = 0
) -> YamlRule:
    """Compile one rule; ValueError / KeyError say what is wrong (the loader adds the line)."""
    systems = frozenset(s.upper() for s in as_set(when["code_system"])) if "code_system" in when else None
    return YamlRule(
        id=rule_id,
        conditions=compile_conditions(when),
        actions=compile_actions(then, taxonomy),
        sets_rule_id=bool(ROUTING_ACTIONS & then.keys()),
        line=line,
        code_systems=systems,
        equals={key: as_set(when[key]) for key in ("payer", "facility") if key in when},
    )


def _index_key(rule: YamlRule) -> tuple[str, frozenset[str]] | None:
    """The equality condition a rule is indexed by: code system, else payer, else facility."""
    if rule.code_systems is not None:
        return "code_system", rule.code_systems
    for key in ("payer", "facility"):
        if key in rule.equals:
            return key, rule.equals[key]
    return None


class RuleGroup:
    """Rules folded in one `Mode`, indexed by the code system, payer or facility they require, so
    a draft only tests the rules that can match it (plus those that require none of these)."""

    def __init__(self, name: str, mode: Mode, rules: Sequence[YamlRule]) -> None:
        self.name = name
        self.mode = mode
        self.rules = tuple(rules)
        self._unkeyed: tuple[int, ...] = ()
        self._index: dict[str, dict[str, list[int]]] = {"code_system": {}, "payer": {}, "facility": {}}
        unkeyed: list[int] = []
        for position, rule in enumerate(self.rules):
            key = _index_key(rule)
            if key is None:
                unkeyed.append(position)
                continue
            for value in key[1]:
                self._index[key[0]].setdefault(value, []).append(position)
        self._unkeyed = tuple(unkeyed)

    def candidates(self, draft: TicketDraft) -> tuple[YamlRule, ...]:
        """The rules that can match ``draft``, in file order."""
        index = self._index
        found: list[int] = list(self._unkeyed)
        by_system = index["code_system"]
        if by_system:
            for code in draft.codes:
                found += by_system.get(code.system.upper(), ())
        if draft.payer is not None and draft.payer.id is not None and index["payer"]:
            found += index["payer"].get(draft.payer.id, ())
        if draft.facility is not None and index["facility"]:
            found += index["facility"].get(draft.facility, ())
        rules = self.rules
        return tuple(rules[position] for position in sorted(set(found)))

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """Fold the group's rules over ``draft``."""
        for rule in self.candidates(draft):
            result = rule.apply(record, draft)
            if result is not draft:
                draft = result
                if self.mode is Mode.FIRST_MATCH:
                    break
        return draft


class RuleSet(RuleChain):
    """Groups of YAML rules in order (a `RuleChain`, so `Normalizer` takes it as its rules)."""

    def __init__(self, groups: Sequence[RuleGroup], *, source: str = "<rules>") -> None:
        super().__init__(())
        self.groups = tuple(groups)
        self.source = source

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
        """The draft after every group."""
        for group in self.groups:
            draft = group.apply(record, draft)
        return draft
