"""TicketPayload v1: the committed schema matches the model; the model refuses what it must."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from testkit import REPO

from normalizers.payload import SCHEMA_VERSION, TicketPayload
from normalizers.schema_file import SCHEMA_PATH, render_schema
from normalizers.sealed import SealedTicket

VALID: dict[str, object] = {
    "id": "tkt_" + "a" * 32,
    "fingerprint": "fp_" + "b" * 32,
    "source": {"system": "epic", "format": "json-event", "control_ids": {"event_id": "e1"}},
    "received_at": "2026-11-27T10:00:00Z",
    "category": "denial-management",
    "taxonomy_version": "1",
    "codes": [{"system": "CARC", "code": "97"}],
    "financial": {"billed": "100.00", "paid": "0.00", "exposure": "100.00"},
    "subjects": [{"kind": "MRN", "token": "[MRN:K7Q2-M3XD]"}],
    "routing": {"queue": "denials", "rule_id": "taxonomy.defaults", "rationale": ["why"]},
    "summary": "CARC 97",
    "redaction": {"policy_version": "p1", "key_id": "k1", "counts": {"NAME": 1}},
}


def test_committed_schema_matches_the_model() -> None:
    committed = (REPO / SCHEMA_PATH).read_text("utf-8")
    assert committed == render_schema(), "run: python -m normalizers.schema_file"


def test_schema_forbids_unknown_fields_everywhere() -> None:
    schema = json.loads(render_schema())
    assert schema["additionalProperties"] is False
    assert all(
        definition.get("additionalProperties") is False
        for definition in schema["$defs"].values()
        if definition.get("type") == "object"
    )


def test_valid_payload_round_trips_through_json() -> None:
    payload = TicketPayload.model_validate(VALID)
    assert payload.schema_version == SCHEMA_VERSION
    again = TicketPayload.model_validate_json(payload.canonical_json())
    assert again == payload


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"patient_name": "X"}, "patient_name"),
        ({"id": "123"}, "id"),
        ({"received_at": "2026-11-27T10:00:00"}, "received_at"),
        ({"subjects": [{"kind": "NAME", "token": "John Smith"}]}, "subjects"),
        ({"tier": 4}, "tier"),
        ({"financial": {"billed": "1.001"}}, "financial"),
        ({"schema_version": "2.0"}, "schema_version"),
    ],
)
def test_invalid_payloads_are_refused(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TicketPayload.model_validate({**VALID, **change})
    assert field in {str(error["loc"][0]) for error in caught.value.errors()}


def test_payload_is_frozen() -> None:
    payload = TicketPayload.model_validate(VALID)
    with pytest.raises(ValidationError):
        payload.summary = "changed"  # type: ignore[misc]


def test_later_minor_version_is_accepted_by_v1_model() -> None:
    assert TicketPayload.model_validate({**VALID, "schema_version": "1.7"}).schema_version == "1.7"


def test_sealed_ticket_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError):
        SealedTicket()
    with pytest.raises(TypeError):
        SealedTicket._create(object(), TicketPayload.model_validate(VALID))


def test_sealed_ticket_restored_from_spool_bytes_is_immutable() -> None:
    body = TicketPayload.model_validate(VALID).canonical_json()
    ticket = SealedTicket.restore(body)
    assert ticket.body == body and ticket.id == VALID["id"]
    with pytest.raises(AttributeError):
        ticket.x = 1  # type: ignore[attr-defined]
    assert datetime(2026, 11, 27, 10, tzinfo=UTC) == ticket.payload.received_at
