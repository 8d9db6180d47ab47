"""Structural marking: the fields of X12, HL7 v2 and FHIR documents that are identifiers by position.

This is the light, format-aware marking behind ``rcmgw redact --format x12|hl7|fhir``: it finds the
identifier fields of a document as `Mark` spans (offsets into the text) without parsing the whole
standard. The adapters mark the same fields on real records; this module exists so that a person or
an evaluation script can redact a pasted snippet the same way.

X12 (separators from ``ISA`` when present, else ``*`` ``~`` ``:``): ``NM1`` names and ids of persons
(entity ``QC`` patient, ``IL`` insured, ``74``, ``QD``, ``03``, ``GB`` or any ``NM102 = 1`` that is not
a provider) and the ``N3``/``N4``/``DMG``/``REF``/``PER`` segments that follow them; ``REF*EA/SY/1K/
1W/0F/EJ/F8``, ``CLP01``, ``CLP07``, ``CLM01``, ``TRN*2``; ``DTP``/``DTM`` dates except production,
process and creation dates (``405``, ``009``, ``097``).

HL7 v2: ``PID-3/5/7/11/13/14/18/19/20``, ``NK1-2/4/5/6``, ``GT1-3/5/6/7/8/12``,
``IN1-16/18/19/36/49``, ``PV1-19``, ``MRG-1/3/4/7``.

FHIR (JSON): every string under ``name``, ``address`` (but ``state``, ``country``, ``use``,
``type``), ``telecom.value``, ``identifier.value``, ``birthDate``, ``deceasedDateTime``,
``subscriberId`` and ``Patient``/``RelatedPerson`` ``text``; each string literal equal to such a value
is marked wherever it occurs in the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Literal

from redaction.kinds import IdentifierKind
from redaction.redactor import Mark

K = IdentifierKind
Format = Literal["text", "x12", "hl7", "fhir"]

_PERSON_ENTITIES = frozenset({"QC", "IL", "74", "QD", "03", "GB", "1P0", "36"})
_PROVIDER_ENTITIES = frozenset(
    {"82", "85", "87", "1P", "77", "DN", "DK", "DQ", "FA", "PR", "PE", "40", "41", "FE"}
)
_REF_KINDS = {
    "EA": K.MRN, "SY": K.SSN, "1K": K.CLAIM, "1W": K.MEMBER_ID, "0F": K.MEMBER_ID, "EJ": K.ACCOUNT,
    "F8": K.CLAIM, "D9": K.CLAIM, "HJ": K.MEMBER_ID, "IG": K.MEMBER_ID, "23": K.MEMBER_ID,
}  # fmt: skip
_KEPT_DATE_QUALIFIERS = frozenset({"405", "009", "097"})
_NM1_ID_KINDS = {"34": K.SSN, "MI": K.MEMBER_ID, "II": K.MEMBER_ID, "MR": K.MEMBER_ID, "ZZ": K.MEMBER_ID}


def _fields(text: str, start: int, end: int, separator: str) -> list[tuple[int, int]]:
    """(start, end) of each separator-delimited element of ``text[start:end]``."""
    spans: list[tuple[int, int]] = []
    cursor = start
    while True:
        found = text.find(separator, cursor, end)
        if found == -1:
            spans.append((cursor, end))
            return spans
        spans.append((cursor, found))
        cursor = found + 1


def _mark(text: str, span: tuple[int, int], kind: IdentifierKind, field: str) -> Iterator[Mark]:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield Mark(start, end, kind, field)


def _x12_separators(text: str) -> tuple[str, str]:
    if text.startswith("ISA") and len(text) > 106:
        return text[3], text[105]
    return "*", "~"


def mark_x12(text: str) -> list[Mark]:
    """Structural marks of an X12 document or snippet."""
    element, terminator = _x12_separators(text)
    marks: list[Mark] = []
    person = False
    cursor = 0
    length = len(text)
    while cursor < length:
        end = text.find(terminator, cursor)
        end = length if end == -1 else end
        seg = _fields(text, cursor, end, element)
        tag = text[seg[0][0] : seg[0][1]].strip()
        values = [text[s:e] for s, e in seg]

        def el(index: int, kind: IdentifierKind, seg: list[tuple[int, int]] = seg, tag: str = tag) -> None:
            if index < len(seg):
                marks.extend(_mark(text, seg[index], kind, f"{tag}{index:02d}"))

        if tag == "NM1" and len(values) > 2:
            entity, entity_type = values[1].strip(), values[2].strip()
            person = entity in _PERSON_ENTITIES or (entity_type == "1" and entity not in _PROVIDER_ENTITIES)
            if person:
                for index in (3, 4, 5, 7):
                    el(index, K.NAME)
                if len(values) > 9:
                    el(9, _NM1_ID_KINDS.get(values[8].strip(), K.MEMBER_ID))
        elif tag in ("N3", "N4", "DMG", "PER") and person:
            if tag == "N3":
                el(1, K.ADDRESS)
                el(2, K.ADDRESS)
            elif tag == "N4":
                el(1, K.ADDRESS)
                el(3, K.ZIP)
            elif tag == "DMG":
                el(2, K.DOB)
            else:
                el(2, K.NAME)
                for index in (4, 6, 8):
                    qualifier = values[index - 1].strip() if index - 1 < len(values) else ""
                    kind = {"FX": K.FAX, "EM": K.EMAIL}.get(qualifier, K.PHONE)
                    el(index, kind)
        elif tag == "REF" and len(values) > 2 and values[1].strip() in _REF_KINDS:
            el(2, _REF_KINDS[values[1].strip()])
        elif tag == "CLP":
            el(1, K.ACCOUNT)
            el(7, K.CLAIM)
        elif tag == "CLM":
            el(1, K.ACCOUNT)
        elif tag == "TRN" and len(values) > 2 and values[1].strip() == "2":
            el(2, K.CLAIM)
        elif tag in ("DTP", "DTM") and len(values) > 2 and values[1].strip() not in _KEPT_DATE_QUALIFIERS:
            el(3 if tag == "DTP" else 2, K.DATE)
        cursor = end + 1
        while cursor < length and text[cursor] in "\r\n":
            cursor += 1
    return marks


_HL7_FIELDS: dict[str, dict[int, IdentifierKind]] = {
    "PID": {2: K.MEMBER_ID, 3: K.MRN, 4: K.MRN, 5: K.NAME, 6: K.NAME, 7: K.DOB, 9: K.NAME, 11: K.ADDRESS,
            13: K.PHONE, 14: K.PHONE, 18: K.ACCOUNT, 19: K.SSN, 20: K.LICENSE, 21: K.MRN},
    "NK1": {2: K.NAME, 4: K.ADDRESS, 5: K.PHONE, 6: K.PHONE, 31: K.PHONE, 33: K.MRN},
    "GT1": {2: K.ACCOUNT, 3: K.NAME, 5: K.ADDRESS, 6: K.PHONE, 7: K.PHONE, 8: K.DOB, 12: K.SSN},
    "IN1": {16: K.NAME, 18: K.DOB, 19: K.ADDRESS, 36: K.MEMBER_ID, 49: K.MEMBER_ID},
    "IN2": {1: K.MEMBER_ID, 2: K.SSN, 8: K.MEMBER_ID},
    "PV1": {19: K.ACCOUNT, 50: K.ACCOUNT},
    "MRG": {1: K.MRN, 3: K.ACCOUNT, 4: K.MRN, 7: K.NAME},
}  # fmt: skip


def mark_hl7(text: str) -> list[Mark]:
    """Structural marks of HL7 v2 segments (separators from ``MSH`` when present)."""
    field_sep, component, repetition = "|", "^", "~"
    marks: list[Mark] = []
    for line in re.finditer(r"[^\r\n]+", text):
        start, end = line.span()
        if text.startswith("MSH", start) and end - start > 8:
            field_sep = text[start + 3]
            component, repetition = text[start + 4], text[start + 5]
        fields = _fields(text, start, end, field_sep)
        tag = text[fields[0][0] : fields[0][1]].strip()
        wanted = _HL7_FIELDS.get(tag)
        if not wanted:
            continue
        for index, kind in wanted.items():
            if index >= len(fields):
                continue
            for rep_start, rep_end in _fields(text, *fields[index], repetition):
                parts = _fields(text, rep_start, rep_end, component)
                if kind in (K.MRN, K.MEMBER_ID, K.ACCOUNT, K.SSN, K.LICENSE, K.PHONE):
                    marks.extend(_mark(text, parts[0], kind, f"{tag}-{index}"))
                    if kind is K.PHONE and len(parts) > 3:
                        marks.extend(_mark(text, parts[3], K.EMAIL, f"{tag}-{index}.4"))
                    if kind is K.PHONE and len(parts) > 6:
                        for part in parts[5:7]:
                            marks.extend(_mark(text, part, K.PHONE, f"{tag}-{index}"))
                elif kind is K.ADDRESS:
                    for number, part in enumerate(parts[:6], start=1):
                        if number in (1, 2, 3, 6):
                            marks.extend(_mark(text, part, K.ADDRESS, f"{tag}-{index}.{number}"))
                        elif number == 5:
                            marks.extend(_mark(text, part, K.ZIP, f"{tag}-{index}.5"))
                elif kind is K.NAME:
                    for number, part in enumerate(parts[:3], start=1):
                        marks.extend(_mark(text, part, K.NAME, f"{tag}-{index}.{number}"))
                else:
                    marks.extend(_mark(text, parts[0], kind, f"{tag}-{index}"))
    return marks


_FHIR_KEYS: dict[str, IdentifierKind] = {
    "birthDate": K.DOB,
    "deceasedDateTime": K.DATE,
    "subscriberId": K.MEMBER_ID,
}
_ADDRESS_KEPT = frozenset({"state", "country", "use", "type", "period"})


def _fhir_values(node: object, path: tuple[str, ...], found: list[tuple[IdentifierKind, str, str]]) -> None:
    if isinstance(node, dict):
        resource = node.get("resourceType")
        for key, value in node.items():
            here = (*path, key)
            if isinstance(value, str):
                kind = _fhir_kind(here, resource)
                if kind is not None and value.strip():
                    found.append((kind, value, ".".join(here)))
            else:
                _fhir_values(value, here, found)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str):
                kind = _fhir_kind(path, None)
                if kind is not None and item.strip():
                    found.append((kind, item, ".".join(path)))
            else:
                _fhir_values(item, path, found)


def _fhir_kind(path: tuple[str, ...], resource: object) -> IdentifierKind | None:
    key = path[-1]
    if key in _FHIR_KEYS:
        return _FHIR_KEYS[key]
    if "name" in path[:-1] and key in ("family", "given", "text", "prefix", "suffix"):
        return K.NAME if key != "prefix" else None
    if "address" in path[:-1]:
        if key in _ADDRESS_KEPT:
            return None
        return K.ZIP if key == "postalCode" else K.ADDRESS
    if "telecom" in path[:-1] and key == "value":
        return K.EMAIL if "@" in "".join(path) else K.PHONE
    if "identifier" in path[:-1] and key == "value":
        return K.MEMBER_ID
    if key == "name" and resource in ("Patient", "RelatedPerson", "Person"):
        return K.NAME
    return None


def mark_fhir(text: str) -> list[Mark]:
    """Structural marks of a FHIR JSON resource or bundle; nothing when the text is not JSON."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    found: list[tuple[IdentifierKind, str, str]] = []
    _fhir_values(document, (), found)
    marks: list[Mark] = []
    for kind, value, field in found:
        literal = json.dumps(value, ensure_ascii=False)[1:-1]
        for match in re.finditer(r'(?<=")' + re.escape(literal) + r'(?=")', text):
            marks.append(Mark(match.start(), match.end(), kind, field))
    return marks


_X12_QUIET = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "BHT", "BPR", "TRN", "LX", "TS3", "TS2", "PLB"})
_HL7_QUIET = frozenset({"MSH", "EVN", "MSA", "ERR", "BHS", "BTS", "FHS", "FTS"})


def quiet_regions(text: str, fmt: Format) -> list[tuple[int, int]]:
    """Envelope and control segments (X12 ``ISA``/``GS``/``ST``/``BHT``/``BPR``/``TRN``..., HL7
    ``MSH``/``EVN``/``MSA``) whose dates and numbers are transmission facts, not PHI: detectors
    are not applied inside them (known values and structural marks still are)."""
    regions: list[tuple[int, int]] = []
    if fmt == "x12":
        element, terminator = _x12_separators(text)
        cursor = 0
        while cursor < len(text):
            end = text.find(terminator, cursor)
            end = len(text) if end == -1 else end
            segment = text[cursor:end]
            tag = segment.lstrip().split(element, 1)[0]
            if tag in _X12_QUIET and not (
                tag == "TRN" and segment.lstrip().startswith(f"TRN{element}2{element}")
            ):
                regions.append((cursor, end))
            cursor = end + 1
    elif fmt == "hl7":
        for line in re.finditer(r"[^\r\n]+", text):
            if line.group()[:3] in _HL7_QUIET:
                regions.append(line.span())
    return regions


def structural_marks(text: str, fmt: Format) -> list[Mark]:
    """The structural marks of ``text`` read as ``fmt`` (none for plain text)."""
    if fmt == "x12":
        return mark_x12(text)
    if fmt == "hl7":
        return mark_hl7(text)
    if fmt == "fhir":
        return mark_fhir(text)
    return []
