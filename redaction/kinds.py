"""Kinds of identifiers, named after the HIPAA Safe Harbor list and the revenue-cycle ids they cover.

The value of each kind is the label used inside pseudonym tokens (``[SSN:ABCD-EFGH]``), so it is
short, upper case and stable: changing one changes every token of that kind.
"""

from __future__ import annotations

import functools
from enum import StrEnum


class IdentifierKind(StrEnum):
    """A class of identifier. Adapters mark fields with these names (as plain strings)."""

    NAME = "NAME"
    ADDRESS = "ADDR"
    ZIP = "ZIP"
    DATE = "DATE"
    DOB = "DOB"
    AGE = "AGE"
    PHONE = "PHONE"
    FAX = "FAX"
    EMAIL = "EMAIL"
    SSN = "SSN"
    MRN = "MRN"
    MBI = "MBI"
    MEMBER_ID = "MEMBER"
    ACCOUNT = "ACCT"
    CLAIM = "CLAIM"
    LICENSE = "LICENSE"
    VEHICLE = "VEHICLE"
    DEVICE = "DEVICE"
    URL = "URL"
    IP = "IP"
    OTHER_ID = "ID"

    @classmethod
    def parse(cls, label: str) -> IdentifierKind:
        """The kind for a label or member name (``"SSN"``, ``"member_id"``); unknown -> OTHER_ID."""
        return _labels().get(label.strip().upper(), cls.OTHER_ID)


@functools.cache
def _labels() -> dict[str, IdentifierKind]:
    """Upper-case value and member name -> kind (the first kind wins, as in declaration order)."""
    found: dict[str, IdentifierKind] = {}
    for kind in IdentifierKind:
        found.setdefault(kind.value, kind)
        found.setdefault(kind.name, kind)
    return found
