"""Context words: what the nearest label before a number says the number is.

A bare run of digits is only an identifier in context (``SSN 123456789`` is, ``ICN 123456789`` is
not). Detectors describe the labels they care about as named alternatives; the label that ends
closest before a candidate, within a small window, decides. X12 qualifiers (``REF*SY*``,
``PER*..*TE*``) count as labels too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from redaction.detectors.anchored import AnchoredPattern


class ContextLabels:
    """Named label patterns searched in a bounded window before a position.

    Contract: ``nearest(text, position)`` looks only at the ``window`` characters before
    ``position`` (so the cost per call is bounded) and returns the name of the label whose match ends
    last there, or None. Patterns are matched case-insensitively.
    """

    def __init__(self, labels: Mapping[str, str], *, window: int = 32, word_start: bool = False) -> None:
        """``word_start`` promises that every label begins with ``\b`` and a word character, so a
        label match starts a run of word characters: the window is then searched only at those
        (`AnchoredPattern`), with the same results."""
        if not labels:
            raise ValueError("at least one context label is required")
        self._window = window
        alternatives = "|".join(f"(?P<{name}>{source})" for name, source in labels.items())
        self._pattern = re.compile(alternatives, re.IGNORECASE)
        self._anchored: AnchoredPattern | None = None
        if word_start:
            plain = "|".join(f"(?:{source})" for source in labels.values())
            self._anchored = AnchoredPattern(self._pattern, rf"(?:\W+|(?!{plain})\w+)*+(?P<at>\w+)?")

    @property
    def window(self) -> int:
        """How many characters before a position are searched."""
        return self._window

    def nearest(self, text: str, position: int) -> str | None:
        """The name of the label closest before ``position`` within the window, or None."""
        start = max(0, position - self._window)
        found: str | None = None
        scan = self._pattern if self._anchored is None else self._anchored
        for match in scan.finditer(text, start, position):
            found = match.lastgroup
        return found
