"""Street addresses, city names before a state and ZIP code, and ZIP codes in context.

- a street line: a house number, one to four words (or an ordinal such as ``5th``), a street
  suffix (``Street``, ``St``, ``Ave``, ``Blvd``, ``Rd``, ``Lane``, ``Dr``, ``Court``, ``Way`` ...),
  optionally a unit (``Apt 4B``, ``Suite 200``, ``# 12``); any case;
- ``PO Box 123`` and ``P.O. Box 123``;
- ``City, ST 12345`` (a capitalised city of up to three words, a USPS state code, a ZIP or ZIP+4):
  the city is an ADDR span and the ZIP a ZIP span;
- a ZIP or ZIP+4 after ``zip``, ``zip code`` or ``postal code``.

Bare five-digit numbers are never ZIP codes on their own: payer ids (``87726``) look the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.detector import Span
from redaction.detectors.precheck import has_digit
from redaction.kinds import IdentifierKind

_SUFFIXES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter"
    r"|circle|cir|parkway|pkwy|highway|hwy|trail|trl|square|sq|loop|pike|row|alley|crossing|xing"
)
_STREET_WORD = r"(?:[A-Z][A-Za-z'\-]{0,24}|[0-9]{1,3}(?:st|nd|rd|th|ST|ND|RD|TH))"
_UNIT = (
    r"(?:,?\s{1,2}(?i:apt|apartment|suite|ste|unit|bldg|fl|floor|rm|room|#)\.?\s?#?\s?[A-Za-z0-9\-]{1,6})?"
)
_STREET = (
    rf"(?<![\w\-/.])[0-9]{{1,6}}[A-Za-z]?\s{{1,2}}(?:(?i:[NSEW]|north|south|east|west)\.?\s{{1,2}})?"
    rf"(?:{_STREET_WORD}\s{{1,2}}){{1,4}}(?i:{_SUFFIXES})\.?(?![\w])"
    rf"(?:\s[0-9]{{1,4}}(?![\w\-]))?{_UNIT}"
)
_PO_BOX = r"(?<![\w])(?i:p\.?\s?o\.?\s?box|post\s+office\s+box)\s{1,2}[0-9]{1,6}(?![\w])"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY"
    "|NC|ND|OH|OK|OR|PA|PR|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|GU|VI|AS|MP"
)
_CITY_WORD = r"[A-Z][A-Za-z'.\-]{1,24}"
_CITY_STATE_ZIP = (
    rf"(?<![\w])(?P<city>{_CITY_WORD}(?:\s{_CITY_WORD}){{0,2}}),?\s{{1,2}}(?:{_STATES})\.?,?\s{{1,2}}"
    r"(?P<zip>[0-9]{5}(?:-[0-9]{4})?)(?![\w\-])"
)
_LABELLED_ZIP = (
    r"(?<![\w])(?i:zip(?:\s?code)?|postal\s+code)[\s:#]{1,3}(?P<lzip>[0-9]{5}(?:-[0-9]{4})?)(?![\w\-])"
)
_ADDRESS = re.compile(rf"(?P<street>{_STREET})|(?P<box>{_PO_BOX})|(?:{_CITY_STATE_ZIP})|(?:{_LABELLED_ZIP})")


class AddressDetector:
    """Finds street lines and cities (kind ADDR) and ZIP codes (kind ZIP); see the module docstring."""

    name: ClassVar[str] = "address"

    def find(self, text: str) -> Iterator[Span]:
        """Every address part of ``text``."""
        if not has_digit(text):
            return
        for match in _ADDRESS.finditer(text):
            if match["street"] is not None or match["box"] is not None:
                yield Span(match.start(), match.end(), IdentifierKind.ADDRESS)
            elif match["city"] is not None:
                yield Span(match.start("city"), match.end("city"), IdentifierKind.ADDRESS)
                yield Span(match.start("zip"), match.end("zip"), IdentifierKind.ZIP)
            else:
                yield Span(match.start("lzip"), match.end("lzip"), IdentifierKind.ZIP)
