"""Known names matched word by word, without compiling a pattern per name.

The known-value layer used to compile one regular expression per name (see `redaction.known`); on
a stream where every record brings a new patient that compilation dominated. Here a text is cut once
into its letter runs (a run of letters and digits is cut at the digits, so ``SMITH`` is a word of
``SMITH01``, ``01SMITH`` and ``01SMITH02``, but not of ``BLACKSMITH``), or into its word-character
runs for a name with a digit or ``_`` in a part (`glues_to_digits`: ``LAST17``), and each name looks
its parts up in a dict:

- a *sequence* is two or more consecutive words of the text that are all parts of the name (at most
  as many words as the name has distinct parts), separated by one to three characters of
  whitespace, ``,``, ``^``, ``.`` or ``*``;
- a *single* is one word equal to a part of at least ``min_single`` characters (three in
  `redaction.known`).

Words are compared casefolded, which accepts every spelling the IGNORECASE pattern accepted (and a
few more, such as ``STRASSE`` for ``Straße``). The results are the same spans as the pattern's
left-to-right, longest-sequence-first matches, each widened over the letters and digits glued to
it (`redaction.fastfind.glued_run`: ``SMITH01`` is replaced as a whole, as a glued id is). Only
names whose parts are plain word-character runs take this path (`word_name_parts`); names with
``-`` or ``'`` inside a part keep their pattern, which has the same boundaries.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Sequence

from redaction.fastfind import glued_run

_WORD = re.compile(r"\w+")
_LETTERS = re.compile(r"[^\W\d_]+")  # letter runs: digits and "_" end a word
_PLAIN = _WORD
_DIGIT_OR_UNDERSCORE = re.compile(r"[\d_]")
_GAP = re.compile(r"[\s,^.*]{1,3}")


def glues_to_digits(parts: Sequence[str]) -> bool:
    """Whether a name (all its parts) is matched glued to digits: no part holds a digit or ``_``.
    A name with such a part (``LAST17``, ``3RD``) keeps the whole-word boundary, so its
    digits are not cut off (the known-value layer and the leak check decide alike)."""
    return not any(_DIGIT_OR_UNDERSCORE.search(part) for part in parts)


def word_name_parts(parts: Sequence[str]) -> frozenset[str] | None:
    """The casefolded parts when every part is a plain word, else None (use the pattern)."""
    if not parts or not all(_PLAIN.fullmatch(part) and _PLAIN.fullmatch(part.casefold()) for part in parts):
        return None
    return frozenset(part.casefold() for part in parts)


@functools.lru_cache(maxsize=64)
def text_words(text: str, letters: bool) -> tuple[str, ...]:
    """The casefolded letter runs (``letters``) or word-character runs of ``text`` (memoized)."""
    return tuple(word.casefold() for word in (_LETTERS if letters else _WORD).findall(text))


@functools.lru_cache(maxsize=64)
def text_word_spans(text: str, letters: bool) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` of each run of ``text``, in `text_words` order (memoized)."""
    return tuple(match.span() for match in (_LETTERS if letters else _WORD).finditer(text))


class NameWords:
    """One name's parts, matched against a text's words (see the module docstring)."""

    __slots__ = ("_distinct", "_letters", "_parts", "_singles")

    def __init__(self, parts: frozenset[str], *, min_single: int) -> None:
        self._parts = parts
        self._letters = glues_to_digits(list(parts))
        self._distinct = len(parts)
        self._singles = frozenset(part for part in parts if len(part) >= min_single)

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of every sequence or single of this name in ``text``, left to right."""
        folded = text_words(text, self._letters)
        parts = self._parts
        # Indexes of the words that are parts of this name, found without a Python-level loop.
        hits = list(itertools.compress(range(len(folded)), map(parts.__contains__, folded)))
        if not hits:
            return
        spans = text_word_spans(text, self._letters)
        count = len(folded)
        following = 0  # the first word not yet taken by a sequence
        for index in hits:
            if index < following:
                continue
            last = index
            if self._distinct >= 2:
                while (
                    last - index + 1 < self._distinct
                    and last + 1 < count
                    and folded[last + 1] in parts
                    and _GAP.fullmatch(text, spans[last][1], spans[last + 1][0]) is not None
                ):
                    last += 1
            if last > index:
                yield glued_run(text, spans[index][0], spans[last][1])
            elif folded[index] in self._singles:
                yield glued_run(text, *spans[index])
            following = last + 1
