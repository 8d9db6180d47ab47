"""US Social Security numbers.

Found as ``123-45-6789`` or ``123 45 6789`` anywhere, and as a bare ``123456789`` only when an SSN
label (``SSN``, ``SS#``, ``social security``, X12 ``REF*SY*``) is the nearest label before it (an
``NPI``, ``ICN`` or ``claim`` label in between wins). A number of either shape whose nearest label
says it is a tax id (``TIN``, ``EIN``, ``tax id``, X12 ``REF*EI*`` / ``REF*TJ*``) is left alone.
The SSA's validity rules filter the rest: the area is never ``000``, ``666`` or ``900``-``999``,
the group never ``00`` and the serial never ``0000``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.detector import Span
from redaction.detectors.anchored import AnchoredPattern
from redaction.detectors.context import ContextLabels
from redaction.detectors.precheck import may_hold_ssn
from redaction.kinds import IdentifierKind

_SSN = re.compile(
    r"(?<![0-9\-])(?P<area>[0-9]{3})(?P<sep>[\- ])(?P<group>[0-9]{2})(?P=sep)(?P<serial>[0-9]{4})"
    r"(?![0-9]|-[0-9])"
    r"|(?<![0-9\-.])(?P<bare_area>[0-9]{3})(?P<bare_group>[0-9]{2})(?P<bare_serial>[0-9]{4})"
    r"(?![0-9]|[.\-][0-9])"
)
# Both forms' lookbehinds exclude a digit before, so a match starts a run of digits, one that
# begins three digits, two digits and four digits (each group after an optional "-" or space).
_SSN_STARTS = AnchoredPattern(
    _SSN, r"(?:[^0-9]+|(?![0-9]{3}[\- ]?[0-9]{2}[\- ]?[0-9]{4})[0-9]+)*+(?P<at>[0-9]+)?"
)

SSN_LABELS = ContextLabels(
    {
        "ssn": r"\bssn\b|\bss\s?#|\bss\s?(?:no|num(?:ber)?)\b|\bsoc(?:ial)?\.?\s*sec(?:urity)?\b|\*SY\*",
        "tax": r"\b(?:tin|ein|fein|tax\s*id)\b|\*(?:EI|TJ)\*",
        "other": r"\b(?:npi|payer\s*id|icn|isa|control|claim)\b|\*XX\*",
    }
)


def is_valid_ssn(area: str, group: str, serial: str) -> bool:
    """Whether the three parts of an SSN could have been issued (SSA rules, not a lookup)."""
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


class SsnDetector:
    """Finds Social Security numbers (kind SSN); see the module docstring for the rules."""

    name: ClassVar[str] = "ssn"

    def find(self, text: str) -> Iterator[Span]:
        """Every SSN-shaped, valid, in-context number of ``text``."""
        if not may_hold_ssn(text):
            return
        for match in _SSN_STARTS.finditer(text):
            bare = match["area"] is None
            prefix = "bare_" if bare else ""
            if not is_valid_ssn(match[prefix + "area"], match[prefix + "group"], match[prefix + "serial"]):
                continue
            label = SSN_LABELS.nearest(text, match.start())
            if label == "tax" or (bare and label != "ssn"):
                continue
            yield Span(match.start(), match.end(), IdentifierKind.SSN)
