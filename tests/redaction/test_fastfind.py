"""`IdSearch` against a character-by-character reference of the same rule."""

from __future__ import annotations

import itertools
import random

import pytest

from redaction.fastfind import IdSearch


def _reference(text: str, chars: str, max_gap: int | None) -> list[tuple[int, int]]:
    """Each occurrence of ``chars`` among the text's letters and digits (upper case) whose characters
    lie at most ``max_gap`` apart and that does not continue a run of the same class."""
    alnum = [(i, c.upper()) for i, c in enumerate(text) if c.isalnum()]
    folded = "".join(c for _, c in alnum)

    def same(a: str, b: str) -> bool:
        return (a.isdigit() and b.isdigit()) or (a.isalpha() and b.isalpha())

    found = []
    for at in range(len(folded) - len(chars) + 1):
        if folded[at : at + len(chars)] != chars:
            continue
        positions = [alnum[j][0] for j in range(at, at + len(chars))]
        if max_gap is not None and any(b - a > max_gap + 1 for a, b in itertools.pairwise(positions)):
            continue
        start, end = positions[0], positions[-1] + 1
        if start > 0 and same(text[start - 1], chars[0]):
            continue
        if end < len(text) and same(text[end], chars[-1]):
            continue
        found.append((start, end))
    return found


_PIECES = ["A1", "B", "12", "3", "-", " ", "  ", "/", "....", "x", "Z9", "_", "1A2B", "(", ")", "ab"]


@pytest.mark.parametrize("max_gap", [None, 0, 1, 3])
def test_id_search_equals_the_reference(max_gap: int | None) -> None:
    chooser = random.Random(11)
    for _ in range(600):
        text = "".join(chooser.choice(_PIECES) for _ in range(chooser.randint(0, 25)))
        search = IdSearch(text)
        for chars in ("A1B", "12", "123", "1A2B3", "AB12", "B3", "Z9A1"):
            assert list(search.find(chars, max_gap)) == _reference(text, chars, max_gap), (text, chars)
