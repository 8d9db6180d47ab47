"""The known-value layer: find a record's own identifiers, in any common spelling, in its free text.

Adapters know which fields are identifiers (PID-5, NM1, DMG). The same values are often typed again
in comments, so every identifier is turned into one regular expression that matches its variants:

- ID and PHONE values match with up to three spaces or punctuation marks between any two of their
  characters (``123-45-6789``, ``123456789``, ``123 45 6789``), case-insensitively, and never as
  part of a longer run of digits (or letters) of the same class, unless the value is distinctive
  (`redaction.fastfind.distinctive_id`: six or more characters, three or more digits), which is
  found glued to letters or digits too and then redacted with the whole run it is glued to;
- NAME values match as any sequence of their parts, in any order, joined by ``^``, ``,``, ``.``, X12's ``*``
  or whitespace (``SMITH^JOHN``, ``John Smith``, ``Smith, John``); each part of three or more letters
  also matches alone, a lower-confidence variant that over-redacts rather than leaks; a part is
  found glued to digits (``SMITH01``, ``01SMITH``), never inside a longer letter run
  (``BLACKSMITH``), and a match glued to digits is replaced with the whole letter-and-digit run
  (a name with a digit in a part, ``LAST17``, keeps the whole-word boundary);
- DATE values match every common form of the same day (`redaction.date_forms`);
- EMAIL values match literally, case-insensitively; TEXT values (addresses, URLs, IPs) match word by
  word with up to three separator characters between words.

Values shorter than three characters in normal form are not searched (they would match everywhere).
All patterns use bounded or possessive repetition over disjoint character classes, so a scan is
linear in the text for each identifier.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from redaction.date_forms import date_variants_pattern, parse_date
from redaction.fastfind import DateSearch, IdSearch, distinctive_id, glued_run
from redaction.kinds import IdentifierKind
from redaction.namewords import NameWords, glues_to_digits, word_name_parts
from redaction.normalize import ValueFamily, family_of, id_chars, name_parts, phone_digits, words

MIN_SEARCH_LENGTH = 3
ID_SEPARATOR = r"[\W_]{0,3}+"
_NAME_SEPARATOR = r"[\s,^.*]{1,3}+"
_WORD_SEPARATOR = r"[\W_]{1,3}+"
_NOT_AFTER_LETTER = r"(?<![^\W\d_])"
_NOT_BEFORE_LETTER = r"(?![^\W\d_])"


def id_pattern(chars: str, separator: str) -> str:
    """Regex source for ``chars`` with ``separator`` between every two characters.

    The match may not continue a run of the same class: a value starting with a digit may not
    follow a digit, one starting with a letter may not follow a letter (and likewise at the end).
    """
    before = "(?<![0-9])" if chars[0].isdigit() else _NOT_AFTER_LETTER
    after = "(?![0-9])" if chars[-1].isdigit() else _NOT_BEFORE_LETTER
    return before + separator.join(re.escape(char) for char in chars) + after


def text_pattern(pieces: Sequence[str], separator: str) -> str:
    """Regex source for the words ``pieces`` joined by ``separator``, on word boundaries."""
    return r"(?<!\w)" + separator.join(re.escape(piece) for piece in pieces) + r"(?!\w)"


def _spellings(parts: Sequence[str]) -> list[str]:
    # Both the written and the casefolded form: IGNORECASE cannot match "ß" against "SS".
    found = {spelling for part in parts for spelling in (part, part.casefold())}
    return sorted(found, key=lambda spelling: (-len(spelling), spelling))


def name_piece_pattern(piece: str, glued: bool) -> str:
    """Regex source for one name piece on name boundaries. ``glued`` (`glues_to_digits` of the
    whole name): an end that is a letter may not touch another letter but may touch a digit
    (``SMITH`` in ``SMITH01``, not in ``BLACKSMITH``); any other end may not touch a letter, digit
    or ``_``, and neither may any end when not ``glued``."""
    before = _NOT_AFTER_LETTER if glued and piece[:1].isalpha() else r"(?<!\w)"
    after = _NOT_BEFORE_LETTER if glued and piece[-1:].isalpha() else r"(?!\w)"
    return before + re.escape(piece) + after


def _name_pattern(value: str) -> str | None:
    parts = name_parts(value)
    glued = glues_to_digits(parts)
    alternatives: list[str] = []
    distinct = len({part.casefold() for part in parts})
    if distinct >= 2:
        unit = "(?:" + "|".join(name_piece_pattern(s, glued) for s in _spellings(parts)) + ")"
        alternatives.append(rf"{unit}(?:{_NAME_SEPARATOR}{unit}){{1,{distinct - 1}}}")
    pieces = {piece for part in parts for piece in [*re.split(r"[-']", part), part]}
    singles = [piece for piece in pieces if len(piece) >= MIN_SEARCH_LENGTH]
    if singles:
        alternatives.append("(?:" + "|".join(name_piece_pattern(s, glued) for s in _spellings(singles)) + ")")
    return "|".join(alternatives) or None


def _text_pattern(value: str) -> str | None:
    pieces = words(value)
    if sum(len(piece) for piece in pieces) < MIN_SEARCH_LENGTH:
        return None
    return text_pattern(pieces, _WORD_SEPARATOR)


def variants_pattern(kind: IdentifierKind, value: str) -> str | None:
    """Regex source (compile with IGNORECASE) matching ``value`` and its variants as ``kind``.

    None when the value is too short to search for without matching unrelated text.
    """
    family = family_of(kind)
    if family in (ValueFamily.ID, ValueFamily.PHONE):
        chars = id_chars(value) if family is ValueFamily.ID else phone_digits(value)
        return id_pattern(chars, ID_SEPARATOR) if len(chars) >= MIN_SEARCH_LENGTH else None
    if family is ValueFamily.NAME:
        return _name_pattern(value)
    if family is ValueFamily.EMAIL:
        address = value.strip()
        if len(address) < MIN_SEARCH_LENGTH:
            return None
        return r"(?<![\w.%+\-])" + re.escape(address) + r"(?![\w\-])"
    if family is ValueFamily.DATE:
        parsed = parse_date(value)
        if parsed is not None:
            return date_variants_pattern(parsed)
    return _text_pattern(value)


@functools.lru_cache(maxsize=4096)
def compile_ignorecase(source: str) -> re.Pattern[str]:
    """``re.compile(source, re.IGNORECASE)``, memoized: the same patient's or payer's names come
    back record after record, and compiling a pattern costs far more than scanning a text with it
    (``re``'s own cache holds only 512 patterns, shared with every other module)."""
    return re.compile(source, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KnownMatch:
    """Identifier number ``index`` (position in the record's list) was found at ``[start, end)``."""

    start: int
    end: int
    index: int


class KnownValueMatcher:
    """Finds a record's identifiers in free text, compiled once per record.

    Contract: ``find(text)`` returns every match of every identifier's variants, possibly
    overlapping one another (the redactor resolves overlaps), in identifier order. Identifiers whose
    variants are identical to an earlier identifier's are searched once, under the earlier index.
    """

    def __init__(self, values: Sequence[tuple[IdentifierKind, str]]) -> None:
        self._patterns: list[tuple[int, re.Pattern[str] | NameWords]] = []
        self._name_patterns: set[int] = set()  # positions in _patterns of NAME patterns
        seen_names: set[frozenset[str]] = set()
        self._ids: dict[str, int] = {}
        self._distinctive: set[str] = set()  # ids also found glued to letters or digits
        self._dates: dict[date, int] = {}
        seen: set[str] = set()
        for index, (kind, value) in enumerate(values):
            family = family_of(kind)
            if family in (ValueFamily.ID, ValueFamily.PHONE):
                chars = id_chars(value) if family is ValueFamily.ID else phone_digits(value)
                if len(chars) >= MIN_SEARCH_LENGTH:
                    self._ids.setdefault(chars, index)
                    if distinctive_id(chars):
                        self._distinctive.add(chars)
                continue
            if family is ValueFamily.DATE and (day := parse_date(value)) is not None:
                self._dates.setdefault(day, index)
                continue
            if family is ValueFamily.NAME and (plain := word_name_parts(name_parts(value))) is not None:
                if plain not in seen_names:
                    seen_names.add(plain)
                    self._patterns.append((index, NameWords(plain, min_single=MIN_SEARCH_LENGTH)))
                continue
            source = variants_pattern(kind, value)
            if source is None or source in seen:
                continue
            seen.add(source)
            if family is ValueFamily.NAME:
                self._name_patterns.add(len(self._patterns))
            self._patterns.append((index, compile_ignorecase(source)))

    def find(self, text: str) -> list[KnownMatch]:
        """Every match of every identifier in ``text``."""
        found: list[KnownMatch] = []
        for position, (index, pattern) in enumerate(self._patterns):
            if isinstance(pattern, NameWords):
                found += [KnownMatch(start, end, index) for start, end in pattern.find(text)]
            elif position in self._name_patterns:
                found += [
                    KnownMatch(*glued_run(text, *match.span()), index)
                    for match in pattern.finditer(text)
                    if match.end() > match.start()
                ]
            else:
                found += [
                    KnownMatch(match.start(), match.end(), index)
                    for match in pattern.finditer(text)
                    if match.end() > match.start()
                ]
        if self._ids:
            ids = IdSearch(text)
            for chars, index in self._ids.items():
                found += [
                    KnownMatch(start, end, index)
                    for start, end in ids.find(chars, max_gap=3, glued=chars in self._distinctive)
                ]
        if self._dates:
            dates = DateSearch(text)
            for day, index in self._dates.items():
                found += [KnownMatch(start, end, index) for start, end in dates.find(day)]
        return found
