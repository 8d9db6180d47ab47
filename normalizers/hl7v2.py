"""Normalizes HL7 v2 records (``hl7v2-ack``, ``hl7v2-charge``, ``hl7v2-account``,
``hl7v2-message``) into drafts: one ticket per message, listing every problem found.

The gateway decides *whether* a message needs a ticket with `find_problems` and its configured
`Hl7TicketRules`, then hands the record on with the problems attached (`with_problems`); the
builder reads them back, or applies the default rules when none are attached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from adapters.base import FactValue, SourceRecord
from normalizers.draft import DraftIdentifier, TicketDraft
from normalizers.errors import UnsupportedRecord
from normalizers.hl7v2_rules import Hl7Problem, find_problems
from normalizers.payload import Code, Priority, SourceFormat, SourceInfo
from normalizers.taxonomy import Taxonomy

RECORD_TYPES = ("hl7v2-ack", "hl7v2-charge", "hl7v2-account", "hl7v2-message")
_CODE_SYSTEM = {"charge-capture": "CHARGE", "eligibility-registration": "ELIGIBILITY"}


def with_problems(record: SourceRecord, problems: Sequence[Hl7Problem]) -> SourceRecord:
    """``record`` with ``problems`` written into its facts (``problem.<n>.*``)."""
    facts: dict[str, FactValue] = dict(record.facts)
    facts["problem.count"] = len(problems)
    for n, problem in enumerate(problems, start=1):
        facts[f"problem.{n}.category"] = problem.category
        facts[f"problem.{n}.code"] = problem.code
        facts[f"problem.{n}.text"] = problem.text
        facts[f"problem.{n}.evidence"] = ",".join(problem.evidence)
    return dataclasses.replace(record, facts=facts)


def attached_problems(record: SourceRecord) -> list[Hl7Problem]:
    """Problems written by `with_problems`; empty when none were attached."""
    facts = record.facts
    count = facts.get("problem.count")
    if not isinstance(count, int):
        return []
    return [
        Hl7Problem(
            category=str(facts[f"problem.{n}.category"]),
            code=str(facts[f"problem.{n}.code"]),
            text=str(facts[f"problem.{n}.text"]),
            evidence=tuple(key for key in str(facts[f"problem.{n}.evidence"]).split(",") if key),
        )
        for n in range(1, count + 1)
    ]


def _text(record: SourceRecord, key: str) -> str:
    value = record.facts.get(key)
    return "" if value is None else str(value)


def _codes(record: SourceRecord, problems: Sequence[Hl7Problem]) -> tuple[Code, ...]:
    codes: list[Code] = []
    seen: set[tuple[str, str]] = set()
    for problem in problems:
        system = _CODE_SYSTEM.get(problem.category, "HL7")
        if (system, problem.code) not in seen:
            seen.add((system, problem.code))
            codes.append(Code(system=system, code=problem.code[:64], description=problem.text[:500]))
    count = record.facts.get("err.count")
    for n in range(1, (count if isinstance(count, int) else 0) + 1):
        err = _text(record, f"err.{n}.code")
        if err and ("HL70357", err) not in seen:
            seen.add(("HL70357", err))
            codes.append(Code(system="HL70357", code=err[:64]))
    return tuple(codes)


def normalize_hl7v2(record: SourceRecord, taxonomy: Taxonomy) -> TicketDraft:
    """The draft for one HL7 v2 message with at least one problem; `UnsupportedRecord` when the
    message has none (the gateway acknowledges those without a ticket)."""
    problems = attached_problems(record) or find_problems(record)
    if not problems:
        raise UnsupportedRecord(f"{record.record_type} message has no ticket-worthy problem")
    event = "^".join(
        part for part in (_text(record, "hl7.message_code"), _text(record, "hl7.trigger")) if part
    )
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    summary = f"HL7 {event}: {first.text}{more}"
    lines = [f"- {problem.code}: {problem.text}" for problem in problems]
    context = [
        record.texts[key]
        for key in sorted(record.texts)
        if key.startswith(("msa.", "err.")) and record.texts[key]
    ]
    description = "\n".join(
        [f"{event} from {record.source_system} (MSH-10 {record.control_ids.get('MSH-10', '?')}):", *lines]
        + (["", "Sender's error text:", *context] if context else [])
    )
    keys: list[str] = []
    for problem in problems:
        keys += [key for key in problem.evidence if key in record.texts and key not in keys]
    evidence = "\n".join(record.texts[key] for key in keys)
    priority = Priority.HIGH if _text(record, "msa.code") in ("AR", "CR") else Priority.NORMAL
    return TicketDraft(
        source=SourceInfo(
            system=record.source_system,
            instance=_text(record, "hl7.sending_facility") or "default",
            module=event or None,
            format=SourceFormat.HL7V2,
            control_ids=dict(record.control_ids),
        ),
        received_at=record.received_at or datetime.now(UTC),
        category=first.category,
        taxonomy_version=taxonomy.version,
        summary=summary,
        description=description,
        evidence=evidence,
        codes=_codes(record, problems),
        priority=priority,
        tags=("hl7v2", *sorted({problem.code.lower() for problem in problems})),
        rationale=tuple(f"hl7v2: {problem.code}" for problem in problems),
        identifiers=tuple(
            DraftIdentifier(kind=value.kind, field=value.field, value=value.value) for value in record.phi
        ),
        dedup_basis=f"hl7v2|{record.idempotency_id}" if record.idempotency_id else "",
        raw_digest_input=record.raw_digest_input,
    )
