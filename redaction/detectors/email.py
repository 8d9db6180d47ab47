"""E-mail addresses.

``local@domain.tld`` with the RFC 5321 length limits (local part up to 64 characters, labels up to
63, at most eight labels, a top-level domain of 2-24 letters). The match may not start inside a
longer local-part run, which together with the bounded repetition keeps the scan linear even on a
text made of one very long word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.detector import Span
from redaction.kinds import IdentifierKind

_LOCAL = r"[\w.%+\-]{1,64}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"(?<![\w.%+\-]){_LOCAL}@(?:{_LABEL}\.){{1,8}}[A-Za-z]{{2,24}}(?![\w\-])",
    re.IGNORECASE,
)


class EmailDetector:
    """Finds e-mail addresses (kind EMAIL); see the module docstring for the limits."""

    name: ClassVar[str] = "email"

    def find(self, text: str) -> Iterator[Span]:
        """Every e-mail address in ``text``."""
        if "@" not in text:
            return
        for match in _EMAIL.finditer(text):
            yield Span(match.start(), match.end(), IdentifierKind.EMAIL)
