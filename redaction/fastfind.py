"""Regex-free searches for a record's own ids and dates, so a record costs no pattern compilation.

Compiling one regular expression per identifier (an id with optional separators between every two
characters, every written form of a date) costs about a millisecond each, which dominated the cost
of redacting a structured record. These searches give the same answers without compiling anything:

- `IdSearch`: the text's letters and digits are collected once (upper case, with their positions);
  an id is a substring of that string whose characters lie at most ``max_gap`` positions apart in
  the text and that does not continue a run of the same class (digit after digit, letter after
  letter) on either side, which is exactly what `redaction.known.id_pattern` matches;
- `DateSearch`: the date detector's one compiled pattern finds every written date once; a date
  matches when it denotes the same day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from redaction.detectors.dates import DATE_PATTERN, matched_date


def _same_class(a: str, b: str) -> bool:
    return (a.isdigit() and b.isdigit()) or (a.isalpha() and b.isalpha())


class IdSearch:
    """Every occurrence of normalized ids (`redaction.normalize.id_chars`) in one text."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._positions = [index for index, char in enumerate(text) if char.isalnum()]
        self._folded = "".join(text[index] for index in self._positions).upper()

    def find(self, chars: str, max_gap: int | None) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of each occurrence of ``chars``; ``max_gap`` None allows any separator run."""
        if not chars:
            return
        text, positions, length = self._text, self._positions, len(chars)
        at = self._folded.find(chars)
        while at != -1:
            start, end = positions[at], positions[at + length - 1] + 1
            spaced = max_gap is None or all(
                positions[i + 1] - positions[i] <= max_gap + 1 for i in range(at, at + length - 1)
            )
            before_ok = start == 0 or not _same_class(text[start - 1], chars[0])
            after_ok = end == len(text) or not _same_class(text[end], chars[-1])
            if spaced and before_ok and after_ok:
                yield start, end
            at = self._folded.find(chars, at + 1)


class DateSearch:
    """Every written date of one text with the day it denotes."""

    def __init__(self, text: str) -> None:
        self._dates: list[tuple[int, int, date]] = []
        for match in DATE_PATTERN.finditer(text):
            day = matched_date(match)
            if day is not None:
                self._dates.append((match.start(), match.end(), day))

    def find(self, day: date) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of each written form of ``day``."""
        for start, end, found in self._dates:
            if found == day:
                yield start, end
