"""Compiled conditions of YAML rules: each is a pure predicate over ``(record, draft)`` with a short
description for the rationale. See docs/rules.md for the ``when:`` keys.

Conditions never read PHI: codes, payer ids, facility, amounts, categories and the record's facts
are non-PHI by construction (adapters put identifiers in ``record.phi``). The one text condition,
``text``, is true only on a draft whose text has been through the redactor (``draft.redacted``),
which is the draft the post-redaction stage in `normalizers.sealing.Sealer` hands to rules: a
``text`` rule can never see clear PHI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft

Predicate = Callable[[SourceRecord, TicketDraft], bool]
_COMPARATORS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
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

    def test(value: Decimal | None) -> bool:
        return value is not None and all(_COMPARATORS[op](value, bound) for op, bound in bounds)

    return test, " and ".join(f"{_SYMBOLS[op]} {bound}" for op, bound in bounds)


def _field_in(
    key: str, values: frozenset[str], get: Callable[[SourceRecord, TicketDraft], str | None]
) -> Condition:
    def test(record: SourceRecord, draft: TicketDraft) -> bool:
        return get(record, draft) in values

    return Condition(key, test, f"{key}={_describe_set(values)}")


def _codes(spec: Mapping[str, object]) -> Condition:
    systems = frozenset(s.upper() for s in as_set(spec["code_system"])) if "code_system" in spec else None
    codes = as_set(spec["code"]) if "code" in spec else None
    prefixes = tuple(sorted(as_set(spec["code_prefix"]))) if "code_prefix" in spec else None

    def test(record: SourceRecord, draft: TicketDraft) -> bool:
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

    def test(record: SourceRecord, draft: TicketDraft) -> bool:
        return check(getattr(draft.financial, key))

    return Condition(key, test, f"{key} {text}")


def _age(spec: Mapping[str, object]) -> Condition:
    check, text = compare(spec)

    def test(record: SourceRecord, draft: TicketDraft) -> bool:
        if draft.occurred_at is None:
            return False
        age = draft.received_at - draft.occurred_at
        return check(Decimal(age.total_seconds()) / Decimal(86400))

    return Condition("age_days", test, f"age_days {text}")


def _recurrence(key: str, spec: Mapping[str, object]) -> Condition:
    check, text = compare(spec)

    def test(record: SourceRecord, draft: TicketDraft) -> bool:
        return check(Decimal(getattr(draft.recurrence, key)))

    return Condition(key, test, f"{key} {text}", sealed_stage=True)


def _text(pattern: str) -> Condition:
    regex = re.compile(pattern, re.IGNORECASE)

    def test(record: SourceRecord, draft: TicketDraft) -> bool:
        if not draft.redacted:
            return False
        return any(regex.search(text) for text in (draft.summary, draft.description, draft.evidence))

    return Condition("text", test, f"redacted text ~ /{pattern}/", sealed_stage=True)


def _facts(spec: Mapping[str, object]) -> Condition:
    wanted = dict(spec)

    def test(record: SourceRecord, draft: TicketDraft) -> bool:
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
    def test(record: SourceRecord, draft: TicketDraft) -> bool:
        return any(tag in values for tag in draft.tags)

    return Condition("tags", test, f"tag in {_describe_set(values)}")


_SIMPLE: dict[str, Callable[[SourceRecord, TicketDraft], str | None]] = {
    "source": lambda r, d: d.source.system,
    "instance": lambda r, d: d.source.instance,
    "module": lambda r, d: d.source.module,
    "format": lambda r, d: d.source.format.value,
    "record_type": lambda r, d: r.record_type,
    "payer": lambda r, d: d.payer.id if d.payer else None,
    "facility": lambda r, d: d.facility,
    "category": lambda r, d: d.category,
    "subcategory": lambda r, d: d.subcategory,
    "priority": lambda r, d: d.priority.value,
    "tier": lambda r, d: str(d.tier),
    "queue": lambda r, d: d.queue,
}
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
            out.append(_field_in(key, as_set(value), _SIMPLE[key]))
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
