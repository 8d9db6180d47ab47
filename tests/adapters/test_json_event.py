"""Generic JSON events: what becomes a fact, what is PHI, and errors that never quote values."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from testkit import canary_event, find_canaries

from adapters.errors import InputRejected, InputTooLarge
from adapters.json_event import parse_event


def test_patient_and_claim_fields_are_phi_not_facts() -> None:
    record = parse_event(json.dumps(canary_event()).encode())
    assert find_canaries(json.dumps({k: str(v) for k, v in record.facts.items()})) == []
    assert {(value.kind, value.field) for value in record.phi} == {
        ("NAME", "patient.name"),
        ("SSN", "patient.ssn"),
        ("DOB", "patient.dob"),
        ("PHONE", "patient.phone"),
        ("EMAIL", "patient.email"),
        ("MRN", "patient.mrn"),
        ("CLAIM", "claim.id"),
    }
    assert set(record.texts) == {"message", "note"}
    assert record.facts["amounts.billed"] == Decimal("310.00")
    assert record.control_ids == {"event_id": "canary-0001"}


@pytest.mark.parametrize(
    ("mutate", "location", "message_part"),
    [
        (lambda e: e.update({"extra_thing": "QUIXOTE"}), "extra_thing", "unknown field"),
        (lambda e: e["patient"].update({"nickname": "ZEB"}), "patient.nickname", "unknown field"),
        (lambda e: e.update({"Zebediah Quixote": 1}), "<unknown field>", "unknown field"),
        (lambda e: e["error"].pop("code"), "error.code", "Field required"),
        (lambda e: e.update({"origin": "QUIXOTE"}), "origin", "Input should be"),
        (lambda e: e["amounts"].update({"paid": "12.345"}), "amounts.paid", "decimal"),
    ],
)
def test_problems_name_the_field_and_never_the_value(mutate, location: str, message_part: str) -> None:  # type: ignore[no-untyped-def]
    event = canary_event()
    mutate(event)
    with pytest.raises(InputRejected) as caught:
        parse_event(json.dumps(event).encode())
    problems = dict(caught.value.problems)
    assert location in problems
    assert message_part.lower() in problems[location].lower()
    assert find_canaries(json.dumps(caught.value.problems) + str(caught.value)) == []
    assert "ZEB" not in json.dumps(caught.value.problems)


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(InputTooLarge):
        parse_event(b"{" + b" " * 2048 + b"}", max_bytes=1024)


@pytest.mark.parametrize(
    "body", [b"", b"null", b"[]", b"\xff\xfe", b'{"source": ', '{"a": "\u00e9"}'.encode()]
)
def test_garbage_is_rejected_not_crashed(body: bytes) -> None:
    with pytest.raises(InputRejected):
        parse_event(body)
