"""Which HL7 v2 fields are PHI, and how each is read into a `PhiValue`.

Identifier fields of PID, NK1, GT1, IN1, IN2, MRG and PV1 go to the record's ``phi`` part; free
text (NTE, OBX text values, MSA-3, ERR texts) goes to its ``texts`` to be scanned. `mask_segment`
writes a segment for evidence with every PHI field (and dates of service) replaced by ``***``.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.base import PhiValue
from adapters.hl7v2.message import Hl7Message, Segment

# segment -> field position -> (redaction kind, how to read it)
PHI_FIELDS: dict[str, dict[int, tuple[str, str]]] = {
    "PID": {
        2: ("MRN", "id"),
        3: ("MRN", "id"),
        4: ("MRN", "id"),
        5: ("NAME", "name"),
        6: ("NAME", "name"),
        7: ("DOB", "date"),
        9: ("NAME", "name"),
        11: ("ADDR", "address"),
        13: ("PHONE", "phone"),
        14: ("PHONE", "phone"),
        18: ("ACCT", "id"),
        19: ("SSN", "id"),
        20: ("LICENSE", "id"),
        21: ("MRN", "id"),
    },
    "NK1": {
        2: ("NAME", "name"),
        4: ("ADDR", "address"),
        5: ("PHONE", "phone"),
        6: ("PHONE", "phone"),
        16: ("DOB", "date"),
        30: ("NAME", "name"),
        32: ("ADDR", "address"),
        33: ("ID", "id"),
        37: ("SSN", "id"),
    },
    "GT1": {
        2: ("ID", "id"),
        3: ("NAME", "name"),
        4: ("NAME", "name"),
        5: ("ADDR", "address"),
        6: ("PHONE", "phone"),
        7: ("PHONE", "phone"),
        8: ("DOB", "date"),
        12: ("SSN", "id"),
        19: ("ID", "id"),
    },
    "IN1": {
        16: ("NAME", "name"),
        18: ("DOB", "date"),
        19: ("ADDR", "address"),
        36: ("MEMBER", "id"),
        49: ("MEMBER", "id"),
    },
    "IN2": {1: ("ID", "id"), 2: ("SSN", "id"), 6: ("MBI", "id"), 8: ("MEMBER", "id")},
    "MRG": {1: ("MRN", "id"), 2: ("MRN", "id"), 3: ("ACCT", "id"), 5: ("ACCT", "id"), 7: ("NAME", "name")},
    "PV1": {19: ("ACCT", "id"), 50: ("ACCT", "id")},
}
# Fields masked in evidence although they are not identifiers (dates of service are PHI).
EVIDENCE_MASK: dict[str, frozenset[int]] = {
    "FT1": frozenset({4, 5}),
    "PV1": frozenset({44, 45}),
}
TEXT_VALUE_TYPES = frozenset({"TX", "FT", "ST", "CE", "CWE", "ED", "RP"})
_MASK = "***"


def _iso_date(value: str) -> str:
    digits = value[:8]
    if len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    return value


def _read(segment: Segment, raw: str, how: str) -> Iterator[str]:
    """The values of one PHI field written as ``raw`` (non-empty), repetition by repetition, read
    by ``how`` (the field is split once, not once per repetition)."""
    for repetition in raw.split(segment.encoding.repetition):
        parts = segment.split_components(repetition)
        if not any(parts):
            continue
        if how == "id":
            value = parts[0]
        elif how == "name":
            value = "^".join(part for part in parts[:3] if part)
        elif how == "date":
            value = _iso_date(parts[0])
        elif how == "phone":
            local = "".join(parts[5:7]) if len(parts) > 6 else ""
            value = parts[0] or local
            if len(parts) > 3 and parts[3]:
                yield parts[3]
        else:
            value = " ".join(part for part in parts[:6] if part)
        if value.strip():
            yield value.strip()


def phi_values(message: Hl7Message) -> list[PhiValue]:
    """Every identifier the message holds in a known PHI field, as `PhiValue`s (``PID-5`` etc.)."""
    found: list[PhiValue] = []
    seen: set[tuple[str, str]] = set()
    for segment in message.segments:
        table = PHI_FIELDS.get(segment.name)
        if table is None:
            continue
        fields = segment.fields
        count = len(fields)
        for position, (kind, how) in table.items():
            raw = fields[position] if position < count else ""
            if not raw:
                continue
            for value in _read(segment, raw, how):
                if (kind, value) in seen:
                    continue
                seen.add((kind, value))
                found.append(PhiValue(kind=kind, field=f"{segment.name}-{position}", value=value))
    return found


def free_texts(message: Hl7Message) -> dict[str, str]:
    """Free-text fields that may hold PHI anywhere: NTE-3, OBX-5 text values."""
    texts: dict[str, str] = {}
    for segment in message.segments:
        if segment.name == "NTE":
            parts = [segment.encoding.unescape(rep) for rep in segment.repetitions(3)]
            if any(parts):
                texts[f"NTE.{segment.sequence}"] = "\n".join(parts)
        elif segment.name == "OBX" and segment.value(2) in TEXT_VALUE_TYPES and segment.value(2) != "ED":
            parts = [segment.encoding.unescape(rep) for rep in segment.repetitions(5)]
            if any(parts):
                texts[f"OBX.{segment.sequence}"] = "\n".join(parts)
    return texts


def mask_segment(segment: Segment) -> str:
    """The segment as written, with PHI fields and dates of service replaced by ``***``; field
    positions are kept so the excerpt still reads as HL7."""
    hidden = set(PHI_FIELDS.get(segment.name, {})) | set(EVIDENCE_MASK.get(segment.name, frozenset()))
    if segment.name in ("PID", "NK1", "GT1", "IN2", "MRG"):
        return segment.name + segment.encoding.field + _MASK
    fields = [_MASK if index in hidden and value else value for index, value in enumerate(segment.fields)]
    return segment.encoding.field.join(fields)
