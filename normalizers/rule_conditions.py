"""Compiled conditions of YAML rules: each is a pure predicate over ``(record, draft, view)`` with a
short description for the rationale. See docs/rules.md for the ``when:`` keys.

Conditions on a routing field a rule can change (category, subcategory, priority, tier, queue,
tags) read it from the `RoutingView` of the fold in progress; every other field cannot change while
rules fold and is read from the draft. Predicates are specialised per key at load time (one small
closure each, no per-call lookups of what to compare) because every record runs a dozen of them.

Conditions never read PHI: codes, payer ids, facility, amounts, categories and the record's facts
are non-PHI by construction (adapters put identifiers in ``record.phi``). The one text condition,
``text``, is true only on a draft whose text has been through the redactor (``draft.redacted``),
which is the draft the post-redaction stage in `normalizers.sealing.Sealer` hands to rules: a
``text`` rule can never see clear PHI.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft
from normalizers.rule_view import RoutingView

Predicate = Callable[[SourceRecord, TicketDraft, RoutingView], bool]
_COMPARATORS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
}
_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=="}


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled ``when:`` entry; ``sealed_stage`` when it needs redacted text or recurrence."""

    key: str
    test: Predicate
    description: str
    sealed_stage: bool = False


def as_set(value: object) -> frozenset[str]:
    """A string or list of strings as a set of strings."""
    if isinstance(value, list | tuple):
        return frozenset(str(item) for item in value)
    return frozenset({str(value)})


def _describe_set(values: frozenset[str]) -> str:
    return "|".join(sorted(values))


def compare(spec: Mapping[str, object]) -> tuple[Callable[[Decimal | None], bool], str]:
    """A numeric comparison from ``{gt: 10000}``-style mappings (all given bounds must hold)."""
    bounds = [(op, Decimal(str(spec[op]))) for op in spec]
    for op, _ in bounds:
        if op not in _COMPARATORS:
            raise ValueError(f"unknown comparison {op!r} (use gt, gte, lt, lte, eq)")
    text = " and ".join(f"{_SYMBOLS[op]} {bound}" for op, bound in bounds)
    checks = tuple((_COMPARATORS[op], bound) for op, bound in bounds)
    if len(checks) == 1:
        check, limit = checks[0]

        def test_one(value: Decimal | None) -> bool:
            return value is not None and check(value, limit)

        return test_one, text

    def test(value: Decimal | None) -> bool:
        return value is not None and all(check(value, limit) for check, limit in checks)

    return test, text


def _payer(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> str | None:
    return draft.payer.id if draft.payer is not None else None


# What each equality key reads: a field that rules never change from the record or draft, or a
# routing field from the view.
_SIMPLE: dict[str, Callable[[SourceRecord, TicketDraft, RoutingView], str | None]] = {
    "source": lambda r, d, v: d.source.system,
    "instance": lambda r, d, v: d.source.instance,
    "module": lambda r, d, v: d.source.module,
    "format": lambda r, d, v: d.source.format.value,
    "record_type": lambda r, d, v: r.record_type,
    "payer": _payer,
    "facility": lambda r, d, v: d.facility,
    "category": lambda r, d, v: v.category,
    "subcategory": lambda r, d, v: v.subcategory,
    "priority": lambda r, d, v: v.priority.value,
    "tier": lambda r, d, v: str(v.tier),
    "queue": lambda r, d, v: v.queue,
}


def _field_in(key: str, values: frozenset[str]) -> Condition:
    test: Predicate
    if key == "payer":

        def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
            payer = draft.payer
            return payer is not None and payer.id in values

    elif key == "facility":

        def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
            return draft.facility in values

    elif key == "category":

        def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
            return view.category in values

    elif key == "record_type":

        def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
            return record.record_type in values

    else:
        get = _SIMPLE[key]

        def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
            return get(record, draft, view) in values

    return Condition(key, test, f"{key}={_describe_set(values)}")


def _codes(spec: Mapping[str, object]) -> Condition:
    systems = frozenset(s.upper() for s in as_set(spec["code_system"])) if "code_system" in spec else None
    codes = as_set(spec["code"]) if "code" in spec else None
    prefixes = tuple(sorted(as_set(spec["code_prefix"]))) if "code_prefix" in spec else None

    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        for code in draft.codes:
            if systems is not None and code.system.upper() not in systems:
                continue
            if codes is not None and code.code not in codes:
                continue
            if prefixes is not None and not code.code.startswith(prefixes):
                continue
            return True
        return False

    parts = []
    if systems is not None:
        parts.append(f"code_system={_describe_set(systems)}")
    if codes is not None:
        parts.append(f"code={_describe_set(codes)}")
    if prefixes is not None:
        parts.append(f"code_prefix={'|'.join(prefixes)}")
    return Condition("code", test, ", ".join(parts))


def _money(key: str, spec: Mapping[str, object]) -> Condition:
    check, text = compare(spec)
    read = operator.attrgetter(key)

    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        return check(read(draft.financial))

    return Condition(key, test, f"{key} {text}")


def _age(spec: Mapping[str, object]) -> Condition:
    check, text = compare(spec)

    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        if draft.occurred_at is None:
            return False
        age = draft.received_at - draft.occurred_at
        return check(Decimal(age.total_seconds()) / Decimal(86400))

    return Condition("age_days", test, f"age_days {text}")


def _recurrence(key: str, spec: Mapping[str, object]) -> Condition:
    check, text = compare(spec)

    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        return check(Decimal(getattr(draft.recurrence, key)))

    return Condition(key, test, f"{key} {text}", sealed_stage=True)


def _text(pattern: str) -> Condition:
    regex = re.compile(pattern, re.IGNORECASE)

    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        if not draft.redacted:
            return False
        return any(regex.search(text) for text in (draft.summary, draft.description, draft.evidence))

    return Condition("text", test, f"redacted text ~ /{pattern}/", sealed_stage=True)


def _facts(spec: Mapping[str, object]) -> Condition:
    wanted = dict(spec)

    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        for name, value in wanted.items():
            fact = record.facts.get(name)
            if isinstance(value, bool):
                if fact is not value and str(fact).lower() != str(value).lower():
                    return False
            elif fact is None or str(fact) != str(value):
                return False
        return True

    return Condition("facts", test, ", ".join(f"fact {k}={v}" for k, v in wanted.items()))


def _tags(values: frozenset[str]) -> Condition:
    def test(record: SourceRecord, draft: TicketDraft, view: RoutingView) -> bool:
        return any(tag in values for tag in view.tags)

    return Condition("tags", test, f"tag in {_describe_set(values)}")


CODE_KEYS = frozenset({"code_system", "code", "code_prefix"})
MAPPING_KEYS = frozenset({"billed", "paid", "exposure", "age_days", "occurrences", "facilities", "facts"})
CONDITION_KEYS = frozenset({*_SIMPLE, *CODE_KEYS, *MAPPING_KEYS, "text", "tags"})


def compile_conditions(when: Mapping[str, object]) -> tuple[Condition, ...]:
    """The conditions of one ``when:`` mapping, in a cheap-first order. ValueError names a bad key."""
    out: list[Condition] = []
    for key, value in when.items():
        if key in CODE_KEYS:
            continue
        if key in _SIMPLE:
            out.append(_field_in(key, as_set(value)))
            continue
        if key in MAPPING_KEYS and not isinstance(value, Mapping):
            raise ValueError(f"{key!r} takes a mapping such as {{gte: 3}}")
        if key in {"billed", "paid", "exposure"}:
            out.append(_money(key, value))  # type: ignore[arg-type]
        elif key == "age_days":
            out.append(_age(value))  # type: ignore[arg-type]
        elif key in {"occurrences", "facilities"}:
            out.append(_recurrence(key, value))  # type: ignore[arg-type]
        elif key == "facts":
            out.append(_facts(value))  # type: ignore[arg-type]
        elif key == "text":
            try:
                out.append(_text(str(value)))
            except re.error as error:
                raise ValueError(f"'text' is not a valid regular expression: {error.msg}") from None
        elif key == "tags":
            out.append(_tags(as_set(value)))
        else:
            raise ValueError(f"unknown condition {key!r}; known: {', '.join(sorted(CONDITION_KEYS))}")
    if CODE_KEYS & when.keys():
        out.insert(0, _codes(when))
    return tuple(out)
