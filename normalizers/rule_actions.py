"""Compiled actions of YAML rules (the ``then:`` keys; see docs/rules.md).

Each action writes into the `RoutingView` of the fold in progress (reading it as already changed by
the rules and actions before it) and returns a short description for the rationale line. An action
whose description cannot depend on the draft carries it as ``text``, so a rule made only of such
actions builds its rationale line once, at load time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from normalizers.draft import TicketDraft
from normalizers.payload import Priority, Sla
from normalizers.rule_conditions import as_set
from normalizers.rule_view import RoutingView
from normalizers.taxonomy import Taxonomy

PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}
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

Run = Callable[[TicketDraft, RoutingView], str]


@dataclass(frozen=True, slots=True)
class Action:
    """One compiled action: ``run`` changes the view and describes what it did; ``text`` is that
    description when it is the same for every draft."""

    run: Run
    text: str | None = None


def _check_priority(value: object) -> Priority:
    try:
        return Priority(str(value))
    except ValueError:
        raise ValueError(f"priority must be one of {', '.join(p.value for p in Priority)}") from None


def _check_tier(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
        raise ValueError("tier must be 1, 2 or 3")
    return value


def _constant(run: Callable[[TicketDraft, RoutingView], object], text: str) -> Action:
    def action(draft: TicketDraft, view: RoutingView) -> str:
        run(draft, view)
        return text

    return Action(action, text)


def _setter(name: str, value: object) -> Action:
    shown = value.value if isinstance(value, Priority) else value
    return _constant(lambda draft, view: setattr(view, name, value), f"{name}={shown}")


def _from_carc(taxonomy: Taxonomy) -> Action:
    def from_carc(draft: TicketDraft, view: RoutingView) -> str:
        for code in draft.codes:
            if code.system.upper() not in {"CARC", "RARC"}:
                continue
            found = taxonomy.scenario_for_carc(code.code)
            if found and found[0].key == view.category:
                view.subcategory = found[1].key
                return f"subcategory={found[1].key} (CAQH CORE scenario of {code.system} {code.code})"
        return "no CAQH CORE scenario"

    return Action(from_carc)


def _route(taxonomy: Taxonomy) -> Action:
    # Category key -> its routing and description; the taxonomy is immutable, so this only saves
    # resolving the same few categories again.
    routes: dict[str, tuple[int, str, str | None, str]] = {}

    def route(draft: TicketDraft, view: RoutingView) -> str:
        known = routes.get(view.category)
        if known is None:
            category = taxonomy.resolve(view.category).category
            text = f"{category.key} -> queue {category.queue}, tier {category.tier}, owner {category.owner}"
            known = routes[view.category] = (category.tier, category.queue, category.owner, text)
        view.tier, view.queue, view.owner, text = known
        return text

    return Action(route)


def _tier_up(floor: int) -> Action:
    def tier_up(draft: TicketDraft, view: RoutingView) -> str:
        view.tier = max(view.tier, floor)
        return f"tier={view.tier} (at least {floor})"

    return Action(tier_up)


def _priority_up(least: Priority) -> Action:
    def priority_up(draft: TicketDraft, view: RoutingView) -> str:
        now = view.priority
        view.priority = now if PRIORITY_RANK[now] >= PRIORITY_RANK[least] else least
        return f"priority={view.priority.value} (at least {least.value})"

    return Action(priority_up)


def _override(override: str) -> Action:
    def set_override(draft: TicketDraft, view: RoutingView) -> None:
        view.override, view.priority = override, Priority.CRITICAL

    return _constant(set_override, f"override={override}, priority=critical (bypasses queue order)")


def _tags(tags: tuple[str, ...]) -> Action:
    def add_tags(draft: TicketDraft, view: RoutingView) -> None:
        have = view.tags
        if not have:
            view.tags = tags
        else:
            view.tags = have + tuple([tag for tag in tags if tag not in have])

    return _constant(add_tags, f"tags+={','.join(tags)}")


def _sla(sla: object) -> Action:
    if not isinstance(sla, Mapping) or set(sla) - SLA_KEYS:
        raise ValueError(f"sla takes a mapping with {', '.join(sorted(SLA_KEYS))}")
    values = Sla.model_validate(dict(sla))
    given = {key: getattr(values, key) for key in sla}

    def set_sla(draft: TicketDraft, view: RoutingView) -> None:
        view.sla = (view.sla or Sla()).model_copy(update=given)

    return _constant(set_sla, "sla " + ", ".join(f"{key}={value}" for key, value in given.items()))


def compile_actions(then: Mapping[str, object], taxonomy: Taxonomy) -> tuple[Action, ...]:
    """The actions of one ``then:`` mapping, in the order they run."""
    unknown = set(then) - ACTION_KEYS
    if unknown:
        raise ValueError(f"unknown action {sorted(unknown)[0]!r}; known: {', '.join(sorted(ACTION_KEYS))}")
    actions: list[Action] = []
    if "category" in then:
        key = taxonomy.resolve(str(then["category"])).category.key  # KeyError -> the loader
        actions.append(_setter("category", key))
    if "subcategory" in then:
        actions.append(_setter("subcategory", str(then["subcategory"])))
    if then.get("subcategory_from_carc"):
        actions.append(_from_carc(taxonomy))
    if then.get("route_by_taxonomy"):
        actions.append(_route(taxonomy))
    for name in ("queue", "owner", "co_owner"):
        if name in then:
            actions.append(_setter(name, str(then[name])))
    if "tier" in then:
        actions.append(_setter("tier", _check_tier(then["tier"])))
    if "tier_at_least" in then:
        actions.append(_tier_up(_check_tier(then["tier_at_least"])))
    if "priority" in then:
        actions.append(_setter("priority", _check_priority(then["priority"])))
    if "priority_at_least" in then:
        actions.append(_priority_up(_check_priority(then["priority_at_least"])))
    if "override" in then:
        actions.append(_override(str(then["override"])))
    if "tags" in then:
        actions.append(_tags(tuple(sorted(as_set(then["tags"])))))
    if "sla" in then:
        actions.append(_sla(then["sla"]))
    if "note" in then:
        note = str(then["note"])
        actions.append(Action(lambda draft, view: note, note))
    return tuple(actions)
