"""Regex-free searches for a record's own ids and dates, so a record costs no pattern compilation.

Compiling one regular expression per identifier (an id with optional separators between every two
characters, every written form of a date) costs about a millisecond each, which dominated the cost
of redacting a structured record. These searches give the same answers without compiling anything:

- `IdSearch`: the text's letters and digits are collected once (upper case, with their positions);
  an id is a substring of that string whose characters lie at most ``max_gap`` positions apart in
  the text and that does not continue a run of the same class (digit after digit, letter after
  letter) on either side, which is exactly what `redaction.known.id_pattern` matches. A
  *distinctive* id (`distinctive_id`: at least six letters and digits, three of them digits) is
  found glued to letters or digits too (``COPCN-7731-0099``, ``PCN-7731-0099X``), and the match is
  widened over the letters and digits glued to it (``COPCN-7731-0099`` as a whole): the glued
  characters may belong to a longer spelling of the same value (a prefix, a suffix such as
  ``-01``), so the safe choice over-redacts them rather than leave a fragment next to a token;
- `DateSearch`: the date detector's one compiled pattern finds every written date once; a date
  matches when it denotes the same day.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from datetime import date

from redaction.detectors.dates import written_dates

_ALNUM_RUN = re.compile(r"[^\W_]+")  # runs of str.isalnum() characters (\w minus "_")
_NOT_ALNUM = re.compile(r"[\W_]+")
GLUED_MIN_LENGTH = 6
GLUED_MIN_DIGITS = 3


def distinctive_id(chars: str) -> bool:
    """Whether a normalized id is long and numeric enough to be searched inside longer letter or
    digit runs: at least `GLUED_MIN_LENGTH` characters, `GLUED_MIN_DIGITS` of them digits. Shorter
    ids (codes, amounts, "123") keep the whole-run boundary, which avoids matching "123" in "41234"."""
    return len(chars) >= GLUED_MIN_LENGTH and sum(char.isdigit() for char in chars) >= GLUED_MIN_DIGITS


def _same_class(a: str, b: str) -> bool:
    return (a.isdigit() and b.isdigit()) or (a.isalpha() and b.isalpha())


def glued_run(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` grown over the letters and digits glued to it on either side."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


class IdSearch:
    """Every occurrence of normalized ids (`redaction.normalize.id_chars`) in one text."""

    def __init__(self, text: str) -> None:
        self._text = text
        # The text's letters and digits, upper case, joined; most searches end at the first
        # ``str.find`` miss, so the offsets back into the text are only worked out when one hits.
        joined = _NOT_ALNUM.sub("", text)
        self._folded = joined.upper()
        self._exact = len(self._folded) == len(joined)
        self._run_at: list[int] | None = None
        self._run_offset: list[int] = []

    def _runs(self) -> list[int]:
        # Run i starts at text offset ``_run_at[i]`` and at offset ``_run_offset[i]`` of the folded
        # string; when upper() changed a length ("ß" -> "SS") every character is its own run.
        runs = [(match.start(), match.group()) for match in _ALNUM_RUN.finditer(self._text)]
        if self._exact:
            self._run_at = [start for start, _ in runs]
            self._run_offset = list(itertools.accumulate((len(run) for _, run in runs[:-1]), initial=0))
        else:
            chars = [(start + i, char.upper()) for start, run in runs for i, char in enumerate(run)]
            self._run_at = [start for start, _ in chars]
            self._run_offset = list(itertools.accumulate((len(up) for _, up in chars[:-1]), initial=0))
        return self._run_at

    def _position(self, index: int) -> int:
        run_at = self._run_at if self._run_at is not None else self._runs()
        run = bisect.bisect_right(self._run_offset, index) - 1
        return run_at[run] + (index - self._run_offset[run] if self._exact else 0)

    def _gaps_within(self, at: int, length: int, max_gap: int) -> bool:
        """Whether the folded characters ``[at, at + length)`` lie in runs that are at most
        ``max_gap`` text characters apart (exact mode: within a run, characters are adjacent)."""
        run_at = self._run_at if self._run_at is not None else self._runs()
        offsets = self._run_offset
        first = bisect.bisect_right(offsets, at) - 1
        last = bisect.bisect_right(offsets, at + length - 1) - 1
        return all(
            run_at[run + 1] - (run_at[run] + offsets[run + 1] - offsets[run]) <= max_gap
            for run in range(first, last)
        )

    def find(self, chars: str, max_gap: int | None, *, glued: bool = False) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of each occurrence of ``chars``; ``max_gap`` None allows any separator run.

        ``glued``: an occurrence glued to letters or digits counts too (even one that continues a run
        of the same class), widened over every letter and digit glued to it on either side (callers
        pass `distinctive_id`)."""
        if not chars:
            return
        text, length, position = self._text, len(chars), self._position
        at = self._folded.find(chars)
        while at != -1:
            start, end = position(at), position(at + length - 1) + 1
            spaced = (
                max_gap is None
                or (self._exact and end - start == length)
                or (self._exact and self._gaps_within(at, length, max_gap))
                or (
                    not self._exact
                    and all(position(i + 1) - position(i) <= max_gap + 1 for i in range(at, at + length - 1))
                )
            )
            before_ok = start == 0 or not _same_class(text[start - 1], chars[0])
            after_ok = end == len(text) or not _same_class(text[end], chars[-1])
            if spaced and glued:
                yield glued_run(text, start, end)
            elif spaced and before_ok and after_ok:
                yield start, end
            at = self._folded.find(chars, at + 1)


class DateSearch:
    """Every written date of one text with the day it denotes."""

    def __init__(self, text: str) -> None:
        self._dates = written_dates(text)

    def find(self, day: date) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of each written form of ``day``."""
        for start, end, found in self._dates:
            if found == day:
                yield start, end
