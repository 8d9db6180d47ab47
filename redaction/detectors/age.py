"""Ages over 89, which Safe Harbor treats as identifying (they must become "90 or older").

Found as ``93 y/o``, ``93yo``, ``93 yrs``, ``93 years old``, ``93-year-old``, ``age 93``,
``aged 101``, ``age: 95``. Ages of 89 and under, and numbers without an age word, are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.detector import Span
from redaction.detectors.precheck import has_digit
from redaction.kinds import IdentifierKind

_OLD = r"(?:9[0-9]|1[0-2][0-9])"
_AGE = re.compile(
    rf"(?<![\w.]){_OLD}\s?-?\s?(?:y/?o|y\.o\.|yrs?\.?(?:\s+old)?|years?(?:\s?-?\s?old)?|-?year-old)(?![\w])"
    rf"|(?<![\w])age[ds]?\s{{0,2}}[:=]?\s{{0,2}}{_OLD}(?![\w.])",
    re.IGNORECASE,
)


class AgeDetector:
    """Finds ages of 90 and over (kind AGE); see the module docstring."""

    name: ClassVar[str] = "age"

    def find(self, text: str) -> Iterator[Span]:
        """Every age over 89 written with an age word in ``text``."""
        if not has_digit(text):
            return
        for match in _AGE.finditer(text):
            yield Span(match.start(), match.end(), IdentifierKind.AGE)
