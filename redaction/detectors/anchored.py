"""Run a detector's pattern only at the positions where one of its matches can start.

Most detector patterns begin with a lookbehind (``(?<![\\w])``, ``(?<![0-9.])``) and an alternation
of several forms. Python's ``re`` cannot skip ahead in such a pattern: at every position of the text
it enters the pattern, checks the lookbehind and tries every alternative, which made these scans the
largest part of a detector's cost. An `AnchoredPattern` pairs the pattern with a much simpler
*starts* pattern that ``re`` scans cheaply (it begins with a character class, or skips whole words
in one possessive loop) and tries the full pattern only at the positions the starts pattern reports:
the start of its group ``at`` in each of its matches.

Contract: ``AnchoredPattern(pattern, starts).finditer(text)`` yields exactly the matches that
``pattern.finditer(text)`` yields, in the same order, provided that

- every position at which ``pattern`` can match is the start of group ``at`` in one of the matches
  of ``starts.finditer(text)`` (the candidates are a superset of the real starts; each detector's
  docstring or comment says why its starts pattern is one), and
- ``pattern`` never matches the empty string.

``starts`` is compiled with the pattern's own flags, so ``IGNORECASE`` folds characters the same way
in both. This is exact:
``finditer`` tries positions left to right and reports the first one at which the pattern matches,
then continues at the end of that match; positions where ``starts`` fails cannot match, so skipping
them changes nothing. ``re`` lookbehinds look at the characters before ``pos`` in ``match(text,
pos)``, so each match attempt sees the same context as in a scan of the whole text.
``tests/redaction/detectors/test_anchored.py`` checks every detector's pair against the plain scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


class AnchoredPattern:
    """``pattern.finditer`` that tries ``pattern`` only where ``starts`` matches (see the module)."""

    def __init__(self, pattern: re.Pattern[str], starts: str) -> None:
        self._pattern = pattern
        self._starts = re.compile(starts, pattern.flags)
        if "at" not in self._starts.groupindex:
            raise ValueError("a starts pattern needs a group named 'at'")

    @property
    def pattern(self) -> re.Pattern[str]:
        """The full pattern (for tests that compare with a plain scan)."""
        return self._pattern

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[re.Match[str]]:
        """The matches ``pattern.finditer(text, pos, endpos)`` gives, trying only candidate starts
        (``starts`` is scanned over the same ``pos`` and ``endpos``)."""
        end = len(text) if endpos is None else endpos
        match_at = self._pattern.match
        position = pos
        for candidate in self._starts.finditer(text, pos, end):
            start = candidate.start("at")
            if start < position:  # inside the previous match, or ``at`` did not take part (-1)
                continue
            match = match_at(text, start, end)
            if match is not None:
                yield match
                position = match.end()
