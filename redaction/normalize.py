"""Normal forms of identifier values: the same identifier written two ways normalizes the same.

Every kind belongs to one `ValueFamily`, and the family decides what "the same value" means:

========  ==========================================================  ==============================
family    rule                                                        example
========  ==========================================================  ==============================
ID        letters and digits only, upper case                         ``123-45-6789`` -> ``123456789``
PHONE     digits only, a leading NANP country code ``1`` dropped      ``+1 (555) 123-4567`` -> ``5551234567``
NAME      casefolded parts split on ``^``, ``,``, whitespace, sorted  ``SMITH^JOHN`` -> ``john smith``
DATE      ISO date when parseable, else the TEXT rule                 ``01/05/1980`` -> ``1980-01-05``
EMAIL     trimmed and casefolded                                      ``Jo@X.org`` -> ``jo@x.org``
TEXT      casefolded words joined by one space                        ``12 Main St.`` -> ``12 main st``
========  ==========================================================  ==============================

The pseudonymizer hashes the normal form, the known-value matcher searches for its variants and the
leak check looks for it in the output. Changing a rule here changes tokens: bump the policy version.
"""

from __future__ import annotations

import re
from enum import StrEnum

from redaction.date_forms import parse_date
from redaction.kinds import IdentifierKind


class ValueFamily(StrEnum):
    """How values of a kind are compared, searched for and leak-checked."""

    ID = "id"
    PHONE = "phone"
    NAME = "name"
    DATE = "date"
    EMAIL = "email"
    TEXT = "text"


_FAMILIES: dict[IdentifierKind, ValueFamily] = {
    IdentifierKind.NAME: ValueFamily.NAME,
    IdentifierKind.DATE: ValueFamily.DATE,
    IdentifierKind.DOB: ValueFamily.DATE,
    IdentifierKind.PHONE: ValueFamily.PHONE,
    IdentifierKind.FAX: ValueFamily.PHONE,
    IdentifierKind.EMAIL: ValueFamily.EMAIL,
    IdentifierKind.ADDRESS: ValueFamily.TEXT,
    IdentifierKind.URL: ValueFamily.TEXT,
    IdentifierKind.IP: ValueFamily.TEXT,
}

_NAME_SEPARATORS = re.compile(r"[\^,\s]+")
_WORDS = re.compile(r"\w+")


def family_of(kind: IdentifierKind) -> ValueFamily:
    """The family of ``kind``; every kind not listed otherwise is an ID."""
    return _FAMILIES.get(kind, ValueFamily.ID)


def id_chars(value: str) -> str:
    """The letters and digits of ``value``, upper case (the ID normal form)."""
    return "".join(filter(str.isalnum, value)).upper()


def phone_digits(value: str) -> str:
    """The digits of a phone number without a leading NANP country code (the PHONE normal form)."""
    digits = "".join(filter(str.isdigit, value))
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return digits


def name_parts(value: str) -> list[str]:
    """The parts of a name as written (case kept), split on ``^``, ``,`` and whitespace.

    Trailing dots are dropped (``Q.`` -> ``Q``) and empty HL7 components are skipped.
    """
    parts = (part.strip(".") for part in _NAME_SEPARATORS.split(value))
    return [part for part in parts if part]


def words(value: str) -> list[str]:
    """The word-character runs of ``value`` in order (the TEXT family's pieces)."""
    return _WORDS.findall(value)


def normalize(kind: IdentifierKind, value: str) -> str:
    """The normal form of ``value`` as an identifier of ``kind`` (see the module table)."""
    family = family_of(kind)
    if family is ValueFamily.ID:
        return id_chars(value)
    if family is ValueFamily.PHONE:
        return phone_digits(value)
    if family is ValueFamily.NAME:
        return " ".join(sorted(part.casefold() for part in name_parts(value)))
    if family is ValueFamily.EMAIL:
        return value.strip().casefold()
    if family is ValueFamily.DATE:
        parsed = parse_date(value)
        if parsed is not None:
            return parsed.isoformat()
    return " ".join(word.casefold() for word in words(value))
