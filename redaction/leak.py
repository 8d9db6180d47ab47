"""The final leak check: no identifier's clear value may survive in redacted text.

This is the safety net under the known-value and detector layers, so it is deliberately looser than
the matcher: after every pseudonym token is blanked out of the output,

- ID and PHONE values are looked for with *any* run of spaces and punctuation between their
  characters (the matcher allows at most three), and distinctive ones glued to letters or digits
  too, as the matcher finds them;
- NAME parts are looked for in the casefolded text, so spellings that regular-expression case
  folding cannot match (``STRASSE`` for ``Straße``) are still caught, with the matcher's name
  boundary (glued to digits, ``SMITH01``, counts; inside a letter run, ``BLACKSMITH``, does not);
- EMAIL values are looked for as casefolded substrings, TEXT values word by word with any separator
  run, DATE values in every common form of the same day.

Only values whose normal form is at least four characters long are checked (shorter ones occur by
chance). A hit raises `LeakCheckFailure` in the redactor, naming the kind and the fields only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from redaction.date_forms import date_variants_pattern, parse_date
from redaction.fastfind import DateSearch, IdSearch, distinctive_id
from redaction.kinds import IdentifierKind
from redaction.known import compile_ignorecase, id_pattern, name_piece_pattern, text_pattern
from redaction.namewords import glues_to_digits, text_words, word_name_parts
from redaction.normalize import ValueFamily, family_of, name_parts, normalize, words
from redaction.pseudonym import TOKEN_PATTERN

MIN_LEAK_LENGTH = 4
_TOKENS = re.compile(TOKEN_PATTERN)
_ANY_SEPARATOR = r"[\W_]*+"
_ANY_WORD_SEPARATOR = r"[\W_]++"


@dataclass(frozen=True, slots=True)
class Leak:
    """Identifier number ``index`` still occurs in text field ``field``."""

    index: int
    field: str


@dataclass(frozen=True, slots=True)
class _Probe:
    index: int
    pattern: re.Pattern[str]
    casefolded: bool


def _probe_source(kind: IdentifierKind, value: str) -> tuple[str, bool] | None:
    """Regex source for the leak probe and whether it runs on casefolded text; None to skip."""
    normal = normalize(kind, value)
    if len(normal) < MIN_LEAK_LENGTH:
        return None
    family = family_of(kind)
    if family in (ValueFamily.ID, ValueFamily.PHONE):
        return id_pattern(normal, _ANY_SEPARATOR), False
    if family is ValueFamily.NAME:
        glued = glues_to_digits(name_parts(value))
        parts = sorted({part.casefold() for part in name_parts(value) if len(part) >= MIN_LEAK_LENGTH})
        if not parts:
            return None
        return "(?:" + "|".join(name_piece_pattern(part, glued) for part in parts) + ")", True
    if family is ValueFamily.EMAIL:
        return re.escape(normal), True
    if family is ValueFamily.DATE:
        parsed = parse_date(value)
        if parsed is not None:
            return date_variants_pattern(parsed), False
    return text_pattern(words(normal), _ANY_WORD_SEPARATOR), True


_FAST_FAMILIES = (ValueFamily.ID, ValueFamily.PHONE)


class LeakChecker:
    """Looks for a record's identifiers in redacted text; built once per record.

    Contract: ``first_leak(texts)`` returns the first (identifier order, then field order)
    identifier whose clear value occurs in a text, or None. It never returns the value itself.
    """

    def __init__(self, values: Sequence[tuple[IdentifierKind, str]]) -> None:
        self._probes: list[_Probe] = []
        self._ids: list[tuple[int, str, bool]] = []  # index, normal form, distinctive_id
        self._dates: list[tuple[int, date]] = []
        self._names: list[tuple[int, frozenset[str], bool]] = []  # index, parts, glues_to_digits
        for index, (kind, value) in enumerate(values):
            family = family_of(kind)
            normal = normalize(kind, value)
            if family in _FAST_FAMILIES:
                if len(normal) >= MIN_LEAK_LENGTH:
                    self._ids.append((index, normal, distinctive_id(normal)))
                continue
            if family is ValueFamily.DATE and (day := parse_date(value)) is not None:
                self._dates.append((index, day))
                continue
            if family is ValueFamily.NAME:
                long_parts = [part for part in name_parts(value) if len(part) >= MIN_LEAK_LENGTH]
                if not long_parts:
                    continue
                plain = word_name_parts(long_parts)
                if plain is not None:
                    self._names.append((index, plain, glues_to_digits(name_parts(value))))
                    continue
            probe = _probe_source(kind, value)
            if probe is not None:
                source, casefolded = probe
                self._probes.append(_Probe(index, compile_ignorecase(source), casefolded))

    def first_leak(self, texts: Mapping[str, str]) -> Leak | None:
        """The first identifier still present in any of ``texts``, or None when all are clean."""
        if not (self._probes or self._ids or self._dates or self._names):
            return None
        hits: dict[str, list[int]] = {}  # each distinct text is searched once (summary == description)
        for text in texts.values():
            if text not in hits:
                hits[text] = self._present(text)
        found = [Leak(index, field) for field, text in texts.items() for index in hits[text]]
        if not found:
            return None
        fields = list(texts)
        return min(found, key=lambda leak: (leak.index, fields.index(leak.field)))

    def _present(self, text: str) -> list[int]:
        """Indexes of the identifiers that occur in one redacted text."""
        blanked = _TOKENS.sub(" ", text)
        found: list[int] = []
        if self._ids:
            ids = IdSearch(blanked)
            found += [
                index for index, chars, glued in self._ids if next(ids.find(chars, None, glued=glued), None)
            ]
        if self._dates:
            dates = DateSearch(blanked)
            found += [index for index, day in self._dates if next(dates.find(day), None)]
        folded = blanked.casefold()
        if self._names:
            present = {glued: frozenset(text_words(folded, glued)) for _, _, glued in self._names}
            found += [index for index, parts, glued in self._names if not parts.isdisjoint(present[glued])]
        for probe in self._probes:
            if probe.pattern.search(folded if probe.casefolded else blanked):
                found.append(probe.index)
        return found
