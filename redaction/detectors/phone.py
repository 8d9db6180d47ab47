"""North American (NANP) telephone and fax numbers.

Found anywhere when written in a telephone format: ``(555) 123-4567``, ``555-123-4567``,
``555.123.4567``, ``1-555-123-4567``, ``+1 555 123 4567``. Found as ``555 123 4567`` or as a bare
``5551234567`` / ``15551234567`` only when a telephone label is the nearest label before it
(``phone``, ``tel``, ``cell``, ``call``, ``fax``, X12 ``PER`` qualifiers ``TE``, ``FX``, ``CP``...).
Bare digits whose nearest label is an NPI, tax id, payer id or control number are left alone.

The kind is FAX when the nearest label is a fax label (``fax``, ``facsimile``, X12 ``FX``), else
PHONE. The area code must start with 2-9; the exchange is not checked (test data uses ``123``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.detector import Span
from redaction.detectors.anchored import AnchoredPattern
from redaction.detectors.context import ContextLabels
from redaction.detectors.precheck import may_hold_phone
from redaction.kinds import IdentifierKind

_COUNTRY = r"(?:\+?1[\s.\-]?)?"
_FORMATTED = (
    rf"(?<![\w+]){_COUNTRY}\(\s?[2-9][0-9]{{2}}\s?\)[\s.\-]?[0-9]{{3}}[\s.\-][0-9]{{4}}"
    rf"|(?<![\w+.\-]){_COUNTRY}[2-9][0-9]{{2}}(?P<sep>[.\-])[0-9]{{3}}(?P=sep)[0-9]{{4}}"
    r"|(?<![\w+])\+1[\s.\-]?[2-9][0-9]{2}[\s.\-][0-9]{3}[\s.\-][0-9]{4}"
)
_IN_CONTEXT = r"(?<![\w+.\-])(?:\+?1)?[2-9][0-9]{9}|(?<![\w+.\-])[2-9][0-9]{2} [0-9]{3} [0-9]{4}"
_PHONE = re.compile(rf"(?P<formatted>{_FORMATTED})(?![0-9]|[.\-][0-9])|(?:{_IN_CONTEXT})(?![0-9]|[.\-][0-9])")
# Every form starts with ``+``, ``(`` or a digit whose lookbehind excludes a word character (so a
# digit that starts a run of digits).
_PHONE_STARTS = AnchoredPattern(_PHONE, r"(?P<at>[+(]|[0-9]+)")

PHONE_LABELS = ContextLabels(
    {
        "fax": r"\bfax\b|\bfacsimile\b|(?:^|[*|^~])FX[*|^]",
        "phone": (
            r"\b(?:phone|ph|tel|telephone|cell|mobile|mob|home|work|contact|call(?:back)?|pager)\b"
            r"|(?:^|[*|^~])(?:TE|CP|HP|WP|BN)[*|^]"
        ),
        "other": r"\b(?:npi|tin|ein|tax\s*id|payer\s*id|icn|isa|control|claim|acct|account|mrn)\b",
    }
)


class NanpPhoneDetector:
    """Finds NANP telephone (PHONE) and fax (FAX) numbers; see the module docstring for the rules."""

    name: ClassVar[str] = "phone"

    def find(self, text: str) -> Iterator[Span]:
        """Every telephone-formatted number, and bare numbers with a telephone label, in ``text``."""
        if not may_hold_phone(text):
            return
        for match in _PHONE_STARTS.finditer(text):
            label = PHONE_LABELS.nearest(text, match.start())
            if match["formatted"] is None and label not in ("phone", "fax"):
                continue
            kind = IdentifierKind.FAX if label == "fax" else IdentifierKind.PHONE
            yield Span(match.start(), match.end(), kind)
