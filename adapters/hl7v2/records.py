"""HL7 v2 message -> `SourceRecord`: facts the ticket rules read, PHI marked, evidence excerpts.

Record types:

- ``hl7v2-ack``: a message carrying MSA (ACK/NAK and query responses from downstream systems);
  facts ``msa.code``, ``msa.control_id`` and per ERR ``err.<n>.code|severity|location|app_code``
  (read from ERR-1 up to v2.4, ERR-2..ERR-8 from v2.5, falling back to the other style).
- ``hl7v2-charge``: DFT; per FT1 ``ft1.<n>.code|code_system|type|quantity|extended|unit``, plus
  ``account.present`` (PID-18) and ``encounter.present`` (PV1-19).
- ``hl7v2-account``: ADT and BAR; ``in1.count``, ``in1.<n>.plan|company|company_name|plan_type``,
  ``pv1.patient_class``, ``pv1.financial_class``.
- ``hl7v2-message``: anything else.

Texts: ``evidence.<SEG>.<seq>`` (masked segment excerpts), ``msa.text``, ``err.<n>.text`` and free
text (NTE, OBX). `check_structure` raises `Hl7Rejected` when a segment the type needs is missing.
"""

from __future__ import annotations

from datetime import datetime

from adapters.base import FactValue, SourceRecord
from adapters.hl7v2.errors import Hl7Rejected
from adapters.hl7v2.header import MessageHeader
from adapters.hl7v2.message import Hl7Message, Segment
from adapters.hl7v2.phi import free_texts, mask_segment, phi_values

RECORD_ACK = "hl7v2-ack"
RECORD_CHARGE = "hl7v2-charge"
RECORD_ACCOUNT = "hl7v2-account"
RECORD_OTHER = "hl7v2-message"
RECORD_TYPES = (RECORD_ACK, RECORD_CHARGE, RECORD_ACCOUNT, RECORD_OTHER)
SOURCE_FORMAT = "hl7v2"
_MAX_FACT = 64
# Triggers whose message must carry PID (ADT events that describe one patient; BAR account events).
_PID_REQUIRED = {"ADT", "BAR", "DFT"}
_PID_OPTIONAL_TRIGGERS = {"A20", "A60"}
_EVIDENCE_SEGMENTS = {
    RECORD_ACK: ("MSA", "ERR"),
    RECORD_CHARGE: ("FT1",),
    RECORD_ACCOUNT: ("PV1", "IN1"),
}


def record_type_for(header: MessageHeader, message: Hl7Message) -> str:
    """Which record type (and so which normalizer) a message is."""
    if header.message_code == "ACK" or message.first("MSA") is not None:
        return RECORD_ACK
    if header.message_code == "DFT":
        return RECORD_CHARGE
    if header.message_code in ("ADT", "BAR"):
        return RECORD_ACCOUNT
    return RECORD_OTHER


def check_structure(header: MessageHeader, message: Hl7Message, record_type: str) -> None:
    """Raise `Hl7Rejected` (HL7 code 100) when a segment this type needs is missing."""
    names = set(message.names())

    def need(name: str, why: str) -> None:
        if name not in names:
            raise Hl7Rejected(
                f"required segment {name} is missing ({why})", hl7_code="100", location=(name, 1, 0)
            )

    if record_type == RECORD_ACK:
        need("MSA", "an acknowledgement carries MSA")
    elif header.message_code in _PID_REQUIRED and header.trigger not in _PID_OPTIONAL_TRIGGERS:
        need("PID", f"{header.message_code} messages describe one patient")
    if record_type == RECORD_CHARGE:
        need("FT1", "a DFT carries its charges in FT1")


def _fact(value: str) -> str | None:
    if not value.isprintable():  # rare: drop control characters one by one
        value = "".join(char for char in value if char.isprintable())
    return value[:_MAX_FACT] or None


def _ack_facts(header: MessageHeader, message: Hl7Message, facts: dict[str, FactValue]) -> dict[str, str]:
    texts: dict[str, str] = {}
    msa = message.first("MSA")
    if msa is not None:
        facts["msa.code"] = _fact(msa.value(1).upper())
        facts["msa.control_id"] = _fact(msa.value(2))
        if msa.value(3):
            texts["msa.text"] = msa.value(3)
    errors = message.all("ERR")
    facts["err.count"] = len(errors)
    for index, err in enumerate(errors, start=1):
        new_style = header.err_style_v25 and (err.raw(2) or err.raw(3))
        if new_style or not err.raw(1):
            code, location = err.value(3, 1), "^".join(part for part in err.components(2)[:3] if part)
            severity, app_code = err.value(4), err.value(5, 1)
            text = " ".join(
                part for part in (err.value(3, 2), err.value(6), err.value(7), err.value(8)) if part
            )
        else:
            parts = err.components(1)
            location = "^".join(part for part in parts[:3] if part)
            code, severity, app_code = err.value(1, 4, 1), "E", ""
            text = err.value(1, 4, 2)
        facts[f"err.{index}.code"] = _fact(code)
        facts[f"err.{index}.location"] = _fact(location)
        facts[f"err.{index}.severity"] = _fact(severity.upper())
        facts[f"err.{index}.app_code"] = _fact(app_code)
        if text:
            texts[f"err.{index}.text"] = text
    return texts


def _charge_facts(message: Hl7Message, facts: dict[str, FactValue]) -> None:
    ft1s = message.all("FT1")
    facts["ft1.count"] = len(ft1s)
    for index, ft1 in enumerate(ft1s, start=1):
        facts[f"ft1.{index}.type"] = _fact(ft1.value(6))
        facts[f"ft1.{index}.code"] = _fact(ft1.value(7, 1))
        facts[f"ft1.{index}.code_system"] = _fact(ft1.value(7, 3))
        facts[f"ft1.{index}.quantity"] = _fact(ft1.value(10))
        facts[f"ft1.{index}.extended"] = _fact(ft1.value(11, 1))
        facts[f"ft1.{index}.unit"] = _fact(ft1.value(12, 1))
        facts[f"ft1.{index}.transaction_id"] = _fact(ft1.value(2))
    pid, pv1 = message.first("PID"), message.first("PV1")
    facts["account.present"] = bool(pid and pid.value(18))
    facts["encounter.present"] = bool(pv1 and pv1.value(19))


def _account_facts(message: Hl7Message, facts: dict[str, FactValue]) -> None:
    in1s = message.all("IN1")
    facts["in1.count"] = len(in1s)
    for index, in1 in enumerate(in1s, start=1):
        facts[f"in1.{index}.plan"] = _fact(in1.value(2, 1))
        facts[f"in1.{index}.company"] = _fact(in1.value(3, 1))
        facts[f"in1.{index}.company_name"] = _fact(in1.value(4, 1))
        facts[f"in1.{index}.plan_type"] = _fact(in1.value(15, 1))
    pv1 = message.first("PV1")
    facts["pv1.present"] = pv1 is not None
    facts["pv1.patient_class"] = _fact(pv1.value(2).upper()) if pv1 else None
    facts["pv1.financial_class"] = _fact(pv1.value(20, 1).upper()) if pv1 else None


def _evidence(message: Hl7Message, names: tuple[str, ...]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for segment in message.segments:
        if segment.name in names:
            texts[f"evidence.{segment.name}.{segment.sequence}"] = mask_segment(segment)
    return texts


def build_record(
    header: MessageHeader, message: Hl7Message, *, received_at: datetime, source_system: str | None = None
) -> SourceRecord:
    """The record for a parsed, header-checked message; `Hl7Rejected` when its structure is
    incomplete for its type."""
    record_type = record_type_for(header, message)
    check_structure(header, message, record_type)
    facts: dict[str, FactValue] = {
        "hl7.message_code": header.message_code,
        "hl7.trigger": _fact(header.trigger),
        "hl7.structure": _fact(header.structure),
        "hl7.version": header.version,
        "hl7.processing_id": _fact(header.processing_id),
        "hl7.sending_application": _fact(header.sending_application),
        "hl7.sending_facility": _fact(header.sending_facility),
    }
    texts: dict[str, str] = {}
    if record_type == RECORD_ACK:
        texts.update(_ack_facts(header, message, facts))
    elif record_type == RECORD_CHARGE:
        _charge_facts(message, facts)
    elif record_type == RECORD_ACCOUNT:
        _account_facts(message, facts)
    texts.update(_evidence(message, _EVIDENCE_SEGMENTS.get(record_type, ())))
    texts.update(free_texts(message))
    system = source_system or _fact(header.sending_application) or "hl7v2"
    sender = f"{header.sending_application}|{header.sending_facility}"
    return SourceRecord(
        record_type=record_type,
        source_system=system[:_MAX_FACT],
        source_format=SOURCE_FORMAT,
        facts=facts,
        phi=tuple(phi_values(message)),
        texts=texts,
        control_ids={"MSH-10": header.control_id},
        received_at=received_at,
        idempotency_id=f"{sender}|{header.control_id}",
        raw_digest_input=message.raw,
    )


def segment_label(segment: Segment) -> str:
    """``FT1[2]`` style label for messages and rationale lines."""
    return f"{segment.name}[{segment.sequence}]"
