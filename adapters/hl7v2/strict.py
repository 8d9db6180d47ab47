"""Optional strict validation of HL7 v2 messages against their version's message structure (hl7apy).

Off by default (`mllp.strict`). When on, a message that our own parser accepted is also parsed by
hl7apy into the structure named by MSH-9 (MSH-9.3, else ``<type>_<trigger>``, else HL7 table 0354
for the common triggers) and checked with ``hl7apy.validation.Validator`` (required segments and
fields, cardinality, unknown segments outside Z-segments, data type names) and then field by field
with ``VALIDATION_LEVEL.STRICT`` (values of the right data type: dates, numbers, lengths).

The outcome is an `Hl7StructureInvalid` (AE/CE, table 0357 code 100/101/102) or an `Hl7Unsupported`
(AR/CR, 200 no structure for the message type, 203 version hl7apy does not know), or ``None``.
hl7apy reports only the first error it finds, so one ERR segment names it.

hl7apy's exception texts can hold field values (``"<value> is not an HL7 valid date value"``): they
are never passed on. Only element names (``PID_7``, ``DFT_P03.EVN``) are read from them, and the
error text is the gateway's own sentence.

hl7apy costs tens of milliseconds per message (docs/PERFORMANCE.md); the intake runs it in a worker
thread so the event loop keeps answering other connections.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.hl7v2.errors import Hl7StructureInvalid, Hl7Unsupported, Location
from adapters.hl7v2.header import MessageHeader
from adapters.hl7v2.message import decode, lines_of


class StrictValidationSettings(BaseModel):
    """``mllp.strict``: validate messages against hl7apy's message structures (slow; off by default)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        False, description="Validate each HL7 message against its version's structure (hl7apy); AE if not."
    )
    message_types: list[str] = Field(
        default_factory=list,
        description="Only these message types (`DFT`, `DFT^P03`); empty: every message type.",
    )

    def applies_to(self, header: MessageHeader) -> bool:
        """Whether a message with ``header`` is validated."""
        if not self.enabled:
            return False
        if not self.message_types:
            return True
        wanted = {entry.strip().upper() for entry in self.message_types}
        return header.message_code.upper() in wanted or header.message_type.upper() in wanted


# HL7 table 0354 (message structure) for triggers whose structure is not <type>_<trigger>, in order
# of preference: the v2.4+ name first, then the one v2.3/v2.3.1 used (hl7apy has only one of them).
log = logging.getLogger("rcmgw.hl7")
_ADT_A01 = ("ADT_A01",)
_ADT_A05 = ("ADT_A05", "ADT_A01")
_ADT_A21 = ("ADT_A21", "ADT_A09")
_STRUCTURES: dict[str, dict[str, tuple[str, ...]]] = {
    "ADT": {
        **dict.fromkeys(("A04", "A08", "A13"), _ADT_A01),
        **dict.fromkeys(("A05", "A14", "A28", "A31"), _ADT_A05),
        "A07": ("ADT_A06",),
        **dict.fromkeys(("A10", "A11"), ("ADT_A09",)),
        "A15": ("ADT_A15", "ADT_A09"),
        **dict.fromkeys(("A21", "A22", "A23", "A25", "A26", "A27", "A29", "A32", "A33"), _ADT_A21),
        **dict.fromkeys(("A40", "A41", "A42"), ("ADT_A39",)),
    },
    "BAR": {"P05": ("BAR_P05", "BAR_P01"), "P06": ("BAR_P06",), "P12": ("BAR_P12",)},
    "DFT": {"P11": ("DFT_P11",)},
}
_FIELD = re.compile(r"^([A-Z][A-Z0-9]{2})_(\d+)$")
_SEGMENT = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\b")
_MISSING = re.compile(r"^Missing required child ([A-Z0-9_]+)\.([A-Z0-9_]+)$")
_LIMIT = re.compile(r"^Child limit exceeded ([A-Z0-9_]+)\.([A-Z0-9_]+)$")
_DATATYPE = re.compile(r"^Datatype \S+ is not correct for ([A-Z0-9_]+)\.([A-Z0-9_]+)")
_INVALID_CHILDREN = re.compile(r"^Invalid children detected for <\w+ ([A-Z0-9_]+)[^>]*>: \[(.*)\]$")
_UNKNOWN = re.compile(r"^(?:Unknown|Invalid) element found: .*<(\w+) ([A-Z0-9_]*)[^>]*>$")


def _structure(header: MessageHeader, messages: dict[str, Any]) -> str | None:
    candidates = [header.structure, f"{header.message_code}_{header.trigger}"]
    candidates += _STRUCTURES.get(header.message_code, {}).get(header.trigger, ())
    if header.message_code == "ACK":
        candidates.append("ACK")
    for candidate in candidates:
        if candidate and candidate in messages:
            return candidate
    return None


def _location(name: str, sequence: int = 1) -> Location:
    field = _FIELD.match(name)
    if field:
        return (field.group(1), sequence, int(field.group(2)))
    if _SEGMENT.match(name):
        return (name, sequence, 0)
    return ("", 0, 0)


def _is_field(name: str) -> bool:
    return _FIELD.match(name) is not None


def _segment_of(location: Location, sequences: dict[str, int]) -> Location:
    return (location[0], sequences.get(location[0], 1) if location[0] else 0, location[2])


def _from_validation(text: str, structure: str) -> Hl7StructureInvalid:
    """Map hl7apy's first validation error to a table 0357 code, reading only element names."""
    if match := _MISSING.match(text):
        parent, child = match.groups()
        if _is_field(child):
            return Hl7StructureInvalid(
                f"required field {child.replace('_', '-')} is missing ({structure})",
                hl7_code="101",
                location=_location(child),
            )
        return Hl7StructureInvalid(
            f"required segment or group {child} is missing in {parent} ({structure})",
            hl7_code="100",
            location=(child, 0, 0) if _SEGMENT.match(child) else ("", 0, 0),
        )
    if match := _LIMIT.match(text):
        parent, child = match.groups()
        what = "field" if _is_field(child) else "segment or group"
        return Hl7StructureInvalid(
            f"{what} {child.replace('_', '-') if _is_field(child) else child} repeats more often than "
            f"{structure} allows",
            hl7_code="102" if _is_field(child) else "100",
            location=_location(child),
        )
    if match := _DATATYPE.match(text):
        child = match.group(2)
        return Hl7StructureInvalid(
            f"{child.replace('_', '-')} has the wrong data type ({structure})",
            hl7_code="102",
            location=_location(child),
        )
    if match := _INVALID_CHILDREN.match(text):
        names = _NAME.findall(match.group(2))
        first = names[0] if names else ""
        parent = match.group(1)
        if _is_field(parent):
            return Hl7StructureInvalid(
                f"{parent.replace('_', '-')} holds components its data type does not define ({structure})",
                hl7_code="102",
                location=_location(parent),
            )
        if not first and _SEGMENT.match(parent):
            return Hl7StructureInvalid(
                f"{parent} holds more fields than its definition ({structure})",
                hl7_code="102",
                location=(parent, 1, 0),
            )
        return Hl7StructureInvalid(
            f"{first or 'an element'} is not allowed in {match.group(1)} ({structure})",
            hl7_code="100" if _SEGMENT.match(first) or not _is_field(first) else "102",
            location=_location(first),
        )
    if match := _UNKNOWN.match(text):
        kind, name = match.groups()
        return Hl7StructureInvalid(
            f"unknown {kind.lower()} {name or ''} ({structure})".replace("  ", " "),
            hl7_code="102" if kind in ("Field", "Component", "SubComponent") else "100",
            location=_location(name),
        )
    return Hl7StructureInvalid(f"the message does not follow the {structure} structure", hl7_code="100")


def _segments(element: Any) -> Iterator[Any]:
    for child in element.children:
        if child.classname == "Group":
            yield from _segments(child)
        else:
            yield child


def validate_strict(raw: bytes, header: MessageHeader) -> Hl7StructureInvalid | Hl7Unsupported | None:
    """Check ``raw`` (one message) against its version's structure; the error, or ``None``.

    Never raises: a failure inside hl7apy or this module is an ``Hl7StructureInvalid`` 207 (the
    message is quarantined and answered AE, so it is neither lost nor passed unchecked)."""
    try:
        return _validate(raw, header)
    except Exception as failure:  # noqa: BLE001 - the text may quote values: only the class is logged
        log.error("strict hl7 validation failed", extra={"error_class": type(failure).__name__})
        return Hl7StructureInvalid("strict validation could not check the message", hl7_code="207")


def _validate(raw: bytes, header: MessageHeader) -> Hl7StructureInvalid | Hl7Unsupported | None:
    import hl7apy
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message
    from hl7apy.exceptions import ValidationError
    from hl7apy.parser import get_message_info, parse_segments
    from hl7apy.validation import Validator

    version = header.version
    if version not in hl7apy.SUPPORTED_LIBRARIES:
        return Hl7Unsupported(
            f"strict validation has no message structures for version {header.version or '(empty)'}",
            hl7_code="203",
            location=("MSH", 1, 12),
        )
    messages = hl7apy.load_library(version).MESSAGES
    structure = _structure(header, messages)
    if structure is None:
        return Hl7Unsupported(
            f"strict validation has no {version} message structure for {header.message_type or 'MSH-9'}",
            hl7_code="200",
            location=("MSH", 1, 9),
        )
    text = "\r".join(lines_of(decode(raw))) + "\r"
    tolerant = VALIDATION_LEVEL.TOLERANT
    try:
        encoding, _, _ = get_message_info(text)
        message = Message(name=structure, version=version, validation_level=tolerant, encoding_chars=encoding)
        message.children = parse_segments(text, version, encoding, tolerant, message.reference, True)
    except Exception:  # noqa: BLE001 - hl7apy raises many types, texts may hold values
        return Hl7StructureInvalid(f"hl7apy cannot parse the message as {structure}", hl7_code="100")
    lines = text.split("\r")
    misplaced = _check_sequence(message, [line[:3] for line in lines if line], structure)
    if misplaced is not None:
        return misplaced
    try:
        Validator.validate(message)
    except ValidationError as error:
        return _from_validation(str(error), structure)
    except Exception:  # noqa: BLE001
        return Hl7StructureInvalid(f"the message does not follow the {structure} structure", hl7_code="100")
    return _check_values(message, version, encoding, structure)


def _check_sequence(message: Any, ids: list[str], structure: str) -> Hl7StructureInvalid | None:
    """Segments hl7apy dropped (unknown, or not placeable in the structure) and segments out of order."""
    wanted = [name for name in ids if not name.startswith("Z")]
    placed = [segment.name for segment in _segments(message) if not segment.is_z_element()]
    for index, name in enumerate(wanted):
        if index >= len(placed) or placed[index] != name:
            sequence = wanted[: index + 1].count(name)
            return Hl7StructureInvalid(
                f"segment {name} is not part of {structure} at this position",
                hl7_code="100",
                location=(name, sequence, 0),
            )
    return _check_order(message, structure, {})


def _check_order(element: Any, structure: str, sequences: dict[str, int]) -> Hl7StructureInvalid | None:
    reference = getattr(element, "reference", None)
    order = [entry[0] for entry in reference[1]] if reference and reference[0] == "sequence" else []
    last = -1
    for child in element.children:
        if child.classname == "Segment":
            sequences[child.name] = sequences.get(child.name, 0) + 1
        if child.is_z_element() or child.name not in order:
            continue
        later = [i for i in range(max(last, 0), len(order)) if order[i] == child.name]
        position = later[0] if later else order.index(child.name)
        if position < last:
            return Hl7StructureInvalid(
                f"segment or group {child.name} is out of sequence in {element.name} ({structure})",
                hl7_code="100",
                location=_location(child.name, sequences.get(child.name, 1)),
            )
        last = position
        if child.classname == "Group":
            nested = _check_order(child, structure, sequences)
            if nested is not None:
                return nested
    return None


def _check_values(message: Any, version: str, encoding: Any, structure: str) -> Hl7StructureInvalid | None:
    """Parse every field again at ``VALIDATION_LEVEL.STRICT``: values of the right data type."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_field

    sequences: dict[str, int] = {}
    for segment in _segments(message):
        sequences[segment.name] = sequences.get(segment.name, 0) + 1
        if segment.is_z_element():
            continue
        for field in segment.children:
            if field.name in ("MSH_1", "MSH_2") or field.datatype == "varies" or field.is_z_element():
                continue
            try:
                parse_field(
                    field.to_er7(),
                    name=field.name,
                    version=version,
                    encoding_chars=encoding,
                    validation_level=VALIDATION_LEVEL.STRICT,
                )
            except Exception:  # noqa: BLE001 - the text may hold the value: never used
                location = _segment_of(_location(field.name), sequences)
                return Hl7StructureInvalid(
                    f"{field.name.replace('_', '-')} does not hold a valid {field.datatype} value "
                    f"({structure})",
                    hl7_code="102",
                    location=location,
                )
    return None
