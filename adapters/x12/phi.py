"""Which X12 elements identify a person, and how they are marked for the redactor.

Marked: NM1 names and ids (every entity but the payer), N3/N4 address lines, DMG birth date,
REF*EA (medical record), REF*SY (SSN), REF*1K (payer claim number) and other claim-level REFs,
CLP01 and CLP07, TRN02 of a claim trace (TRN*2), patient DTP/DTM dates, PLB references, and the
bad-data copies in IK4-04 / AK4-04 (an acknowledgment echoes whatever was sent).

Kind ``CLAIM`` is kept for the provider's own claim reference (CLM01 as echoed back: the 277CA's
claim TRN02, the 835's CLP01), the one value that is the same on a rejection, the resubmission's
acceptance and the payment. The dedup lifecycle matches auto-resolve evidence by the pseudonyms of
``CLAIM`` values (every one of a ticket's must be accepted or paid), so the payer's and the
clearinghouse's numbers (CLP07, REF*1K, REF*D9), which change when a claim is resubmitted or
reprocessed, are marked as ``ID``: still redacted, never a match key.
"""

from __future__ import annotations

from adapters.base import PhiValue
from adapters.x12.context import element

_ID_KINDS = {"MI": "MEMBER", "34": "SSN", "MR": "MRN", "HN": "MEMBER", "II": "MEMBER", "XX": "ID"}
_REF_KINDS = {"EA": "MRN", "SY": "SSN", "1K": "ID", "D9": "ID", "BLT": "ID", "6R": "ID", "6P": "ID"}
PAYER_ENTITIES = frozenset({"PR"})


def _value(kind: str, field: str, value: str) -> list[PhiValue]:
    return [PhiValue(kind=kind, field=field, value=value)] if value else []


def nm1(elements: list[str]) -> list[PhiValue]:
    """Names and the id of an NM1 (not called for the payer, whose ids are business ids)."""
    entity = element(elements, 1)
    found = _value("NAME", f"NM1*{entity}-03", element(elements, 3))
    found += _value("NAME", f"NM1*{entity}-04", element(elements, 4))
    found += _value("NAME", f"NM1*{entity}-05", element(elements, 5))
    kind = _ID_KINDS.get(element(elements, 8), "ID")
    return found + _value(kind, f"NM1*{entity}-09", element(elements, 9))


def address(elements: list[str]) -> list[PhiValue]:
    """N3 street lines and N4 city / postal code."""
    tag = elements[0]
    if tag == "N3":
        return _value("ADDR", "N3-01", element(elements, 1)) + _value("ADDR", "N3-02", element(elements, 2))
    return _value("ADDR", "N4-01", element(elements, 1)) + _value("ZIP", "N4-03", element(elements, 3))


def ref(elements: list[str]) -> list[PhiValue]:
    """A claim- or patient-level REF value."""
    qualifier = element(elements, 1)
    return _value(_REF_KINDS.get(qualifier, "ID"), f"REF*{qualifier}-02", element(elements, 2))


def date(elements: list[str], index: int) -> list[PhiValue]:
    """A patient-related date (DTP03 or DTM02)."""
    return _value("DATE", f"{elements[0]}*{element(elements, 1)}", element(elements, index))


def dmg(elements: list[str]) -> list[PhiValue]:
    """DMG02, the birth date."""
    return _value("DOB", "DMG-02", element(elements, 2))


def value(kind: str, field: str, text: str) -> list[PhiValue]:
    """Any other marked value (CLP01, TRN02, IK4-04 ...)."""
    return _value(kind, field, text)
