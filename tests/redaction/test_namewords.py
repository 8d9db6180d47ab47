"""Word-by-word name matching finds what the per-name pattern found (`redaction.namewords`)."""

from __future__ import annotations

import pytest

from redaction.fastfind import glued_run
from redaction.kinds import IdentifierKind
from redaction.known import MIN_SEARCH_LENGTH, compile_ignorecase, variants_pattern
from redaction.namewords import NameWords, word_name_parts
from redaction.normalize import name_parts

TEXTS = [
    "Patient SMITH^JOHN^Q was seen; John Smith called, smith, john confirmed.",
    "NM1*QC*1*SMITH*JOHN****MI*W123~ claim for JOHN SMITH SMITH JOHN",
    "Smithson and Johnny are other people; SMITH...JOHN and SMITH    JOHN differ.",
    "Al Li met AL^LI, li al, and Ali (no match), Lin too.",
    "Glued to digits: SMITH01, 01smith, 01SMITH02 JOHN, JOHN2SMITH, BLACKSMITH, JOHNSON, SMITH_JOHN.",
    "LAST17 PAT, PAT LAST17, LAST1701, 01LAST17, PAT01, LAST17_PAT.",
    "José GARCÍA-LÓPEZ and jose garcía; JOSÉ,GARCÍA",
    "",
    "nothing here at all",
]
NAMES = ["SMITH^JOHN^Q", "John Smith", "Li, Al", "José García", "Jo Jo Anne", "LAST17^PAT"]


@pytest.mark.parametrize("name", NAMES)
def test_word_matching_equals_the_pattern(name: str) -> None:
    plain = word_name_parts(name_parts(name))
    assert plain is not None
    words = NameWords(plain, min_single=MIN_SEARCH_LENGTH)
    source = variants_pattern(IdentifierKind.NAME, name)
    assert source is not None
    pattern = compile_ignorecase(source)
    for text in TEXTS:
        expected = [
            glued_run(text, *match.span()) for match in pattern.finditer(text) if match.end() > match.start()
        ]
        assert list(words.find(text)) == expected, text


def test_parts_with_hyphens_or_apostrophes_keep_the_pattern() -> None:
    assert word_name_parts(name_parts("O'Brien, Mary-Kate")) is None
    assert word_name_parts([]) is None
