"""Person names in free text, title case and ALL CAPS, from a name dictionary plus context words.

One regular expression finds runs of capitalised words (``John Smith``, ``SMITH, JOHN Q``,
``SMITH^JOHN``, ``O'Brien-Walsh``); each run is split at stop words (ordinary English and
revenue-cycle vocabulary that happens to be a name, such as ``May``, ``Price``, ``Claim``) and each
piece is accepted as a NAME when

- a context word stands right before it (``patient``, ``pt``, ``member``, ``subscriber``,
  ``guarantor``, ``insured``, ``Mr.``, ``Mrs.``, ``name:``, ``spoke with`` ...): any piece of one to
  four words; after a weak context word (``for``, ``with``, ``from``, ``by``) the piece needs two
  words of which one is in the dictionary;
- or without context, the piece has two to four words, the first a known first name and another a
  known first name or surname, or it is written ``Last, First`` / ``LAST^FIRST`` with a known surname
  and a known first name.

The dictionary is `redaction/data` (US Census 1990 first names and the 12,000 most frequent
surnames, plus names of many origins the Census lists miss). Single words without context are never
names: ``Young``, ``King`` and ``Long`` are far more often something else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import ClassVar

from redaction.detector import Span
from redaction.kinds import IdentifierKind

_APOSTROPHES = "'\u2019"
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_TITLE_WORD = (
    rf"(?:[{_UPPER}][{_LOWER}]{{0,2}}[{_APOSTROPHES}]?)?[{_UPPER}][{_LOWER}]+(?:-[{_UPPER}][{_LOWER}]+)?"
)
_CAPS_WORD = rf"[{_UPPER}](?:[{_UPPER}{_APOSTROPHES}\-]{{0,30}}[{_UPPER}])"
_WORD = rf"(?:{_TITLE_WORD}|{_CAPS_WORD}|[{_UPPER}]\.?)"
_PARTICLE = r"(?:de|del|della|la|le|van|von|der|den|da|di|dos|das|du|bin|ibn|al|el|ben|y)"
_SEPARATOR = rf"(?:,? {{1,2}}(?:{_PARTICLE} {{1,2}}){{0,2}}|\^|\*|, ?)"
_RUN = re.compile(rf"(?<![\w@./])(?:{_WORD})(?:{_SEPARATOR}(?:{_WORD})){{0,7}}(?![\w@])")
_PIECE = re.compile(rf"{_TITLE_WORD}|{_CAPS_WORD}|[{_UPPER}]\.?")

STRONG_CONTEXT = frozenset(
    """patient pt pt. pat member mbr subscriber sub insured guarantor gtor dependent dep beneficiary
    spouse mother father son daughter child wife husband parent guardian caller mr mr. mrs mrs. ms
    ms. miss mx dr dr. name name: patient: named dear attn attn: resident decedent deceased""".split()  # noqa: SIM905
)
WEAK_CONTEXT = frozenset(["for", "with", "from", "by", "to", "and", "of"])
_CONTEXT_BEFORE = re.compile(r"([A-Za-z.:]+)[\s:#,\-]{0,3}$")
_TWO_WORD_CONTEXT = re.compile(r"(spoke\s+(?:with|to)|called\s+by|named|name\s+is|per)[\s:,\-]{0,3}$", re.I)


def _load(name: str) -> frozenset[str]:
    text = resources.files("redaction.data").joinpath(name).read_text("utf-8")
    return frozenset(word for line in text.splitlines() if not line.startswith("#") for word in line.split())


@cache
def name_lists() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(first names, surnames, stop words), lower case, loaded once per process."""
    return _load("first_names.txt"), _load("surnames.txt"), _load("name_stopwords.txt")


def _context(text: str, start: int) -> str | None:
    """``"strong"``, ``"weak"`` or None for the word just before ``start``."""
    window = text[max(0, start - 24) : start]
    if _TWO_WORD_CONTEXT.search(window):
        return "strong"
    match = _CONTEXT_BEFORE.search(window)
    if match is None:
        return None
    word = match[1].lower()
    if word in STRONG_CONTEXT or word.rstrip(".:") in STRONG_CONTEXT:
        return "strong"
    if word in WEAK_CONTEXT:
        return "weak"
    return None


class _Unknown:
    """Marks a context not looked up yet."""


_UNKNOWN = _Unknown()


class NameDetector:
    """Finds person names (kind NAME); see the module docstring for the rules."""

    name: ClassVar[str] = "name"

    def __init__(self) -> None:
        self._first, self._last, self._stop = name_lists()

    def find(self, text: str) -> Iterator[Span]:
        """Every name-like run of ``text`` that the dictionary or a context word supports."""
        for run in _RUN.finditer(text):
            yield from self._pieces(text, run.start(), run.group())

    def _pieces(self, text: str, offset: int, run: str) -> Iterator[Span]:
        words: list[re.Match[str]] = list(_PIECE.finditer(run))
        group: list[re.Match[str]] = []
        # The context before the run is looked up only when a group needs it (most runs are stop
        # words alone: ``Claim``, ``The``, ``CLP``).
        context: str | _Unknown | None = _UNKNOWN
        for word in [*words, None]:
            lowered = word.group().lower().rstrip(".") if word is not None else ""
            initial = word is not None and len(lowered) == 1
            is_stop = word is None or (not initial and (lowered in self._stop or lowered in STRONG_CONTEXT))
            if not is_stop:
                group.append(word)  # type: ignore[arg-type]
                continue
            if group:
                if isinstance(context, _Unknown):
                    context = _context(text, offset)
                span = self._accept(run, group, context)
                if span is not None:
                    yield Span(offset + span[0], offset + span[1], IdentifierKind.NAME)
                group = []
            if word is not None:
                context = (
                    "strong" if lowered in STRONG_CONTEXT else ("weak" if lowered in WEAK_CONTEXT else None)
                )

    def _accept(self, run: str, group: list[re.Match[str]], context: str | None) -> tuple[int, int] | None:
        # Initials alone (``J.``) never make a name; trim them from both ends.
        while group and len(group[0].group().rstrip(".")) == 1:
            group = group[1:]
        while group and len(group[-1].group().rstrip(".")) == 1 and not group[-1].group().endswith("."):
            group = group[:-1]
        if not group:
            return None
        full = [w.group().lower().rstrip(".") for w in group if len(w.group().rstrip(".")) > 1]
        start, end = group[0].start(), group[-1].end()
        if context == "strong" and len(full) <= 4:
            return start, end
        if not 2 <= len(full) <= 4:
            return None
        first = [w in self._first for w in full]
        last = [w in self._last for w in full]
        if context == "weak" and any(f or s for f, s in zip(first, last, strict=True)):
            return start, end
        joined = run[group[0].end() : group[1].start()]
        if ("," in joined or "^" in joined or "*" in joined) and last[0] and first[1]:
            return start, end
        if first[0] and any(first[i] or last[i] for i in range(1, len(full))):
            return start, end
        return None
