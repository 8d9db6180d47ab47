"""`AnchoredPattern`: each detector's anchored scan finds exactly what a plain ``finditer`` finds."""

from __future__ import annotations

import random
import re

import pytest
from testkit import REPO

from redaction.detectors.anchored import AnchoredPattern
from redaction.detectors.context import ContextLabels
from redaction.detectors.dates import _DATE_STARTS, DATE_LABELS, DATE_LABELS_SOURCES
from redaction.detectors.ids import _LABELLED_STARTS
from redaction.detectors.network import _NETWORK_STARTS
from redaction.detectors.phone import _PHONE_STARTS
from redaction.detectors.ssn import _SSN_STARTS
from redaction.evaluation import load_labelled

ANCHORED = {
    "date": _DATE_STARTS,
    "ssn": _SSN_STARTS,
    "phone": _PHONE_STARTS,
    "network": _NETWORK_STARTS,
    "context-id": _LABELLED_STARTS,
}

# Pieces that start matches of every anchored pattern, next to the characters whose case folding or
# word-ness is unusual (long s, Kelvin sign, dotted and dotless i, Latin-1 letters, underscore).
_PIECES = [
    "1980-01-05", "19800105", "1/5/80", "01.05.1980", "Jan 5, 1980", "5th of SEPT 1980", "05-Jan-80",
    "\u017fep 3 2001", "January 1980", "(617) 555-0123", "+1 617 555 0123", "617.555.0123", "6175550123",
    "123-45-6789", "123456789", "http://x.example/a?b", "www.example.org", "ftp://h/", "10.0.0.1",
    "1.2.3.4.5", "fe80::1", "2001:db8:0:0:0:0:2:1", "abcd:", "\u017f", "\u212a", "\u0130", "\u0131", "é", "_",
    "-", ".", "/", "*", "+", "(", ")", ":", " ", "  ", "\n", "a", "Z", "0", "9", "ja", "dec", "x", "www",
    "MRN: A12345", "REF*EA*778899", "NM1*IL*1*DOE*JOHN****MI*W123456789", "*mi*12345", "member id 99A88",
    "claim # 12-345/6", "s/n SN-4455", "a/c 123456", "Patient Control 77123", "fin 5566",
    "DOB", "d.o.b.", "file", "processed", "as of", "EFT", "seen", "birthday",
]  # fmt: skip


def _fuzz_texts(count: int) -> list[str]:
    chooser = random.Random(20261127)
    return ["".join(chooser.choice(_PIECES) for _ in range(chooser.randint(1, 30))) for _ in range(count)]


def _spans(matches: object) -> list[tuple[int, int, str | None]]:
    return [(m.start(), m.end(), m.lastgroup) for m in matches]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(ANCHORED))
def test_anchored_scan_equals_the_plain_scan(name: str) -> None:
    anchored = ANCHORED[name]
    texts = [row.text for row in load_labelled(REPO / "fixtures" / "redaction" / "eval.jsonl")]
    texts += _fuzz_texts(1500)
    for text in texts:
        assert _spans(anchored.finditer(text)) == _spans(anchored.pattern.finditer(text)), text


def test_a_starts_pattern_without_an_at_group_is_refused() -> None:
    with pytest.raises(ValueError, match="'at'"):
        AnchoredPattern(re.compile("a"), "a")


def test_positions_inside_a_match_are_not_tried_again() -> None:
    anchored = AnchoredPattern(re.compile(r"[0-9]{2}"), r"(?P<at>[0-9])")
    assert _spans(anchored.finditer("12345")) == [(0, 2, None), (2, 4, None)]


def test_word_start_context_labels_equal_the_plain_search() -> None:
    labels = {"system": r"\b(?:file|batch|as\s+of|eft)\b", "person": r"\b(?:dob|d\.o\.b|birth|seen)\b"}
    anchored = ContextLabels(labels, window=40, word_start=True)
    plain = ContextLabels(labels, window=40)
    texts = [row.text for row in load_labelled(REPO / "fixtures" / "redaction" / "eval.jsonl")[::4]]
    texts += _fuzz_texts(200)
    texts += ["file dob 1980-01-05 batch D.O.B. 01/05/1980 as  of x birthday births seen", "efteft eft|dob"]
    for text in texts:
        for position in range(len(text) + 1):
            assert anchored.nearest(text, position) == plain.nearest(text, position), (text, position)


def test_date_labels_are_word_start_labels() -> None:
    # DATE_LABELS relies on the promise; the plain search over the same labels must agree.
    plain = ContextLabels(
        {"system": DATE_LABELS_SOURCES["system"], "person": DATE_LABELS_SOURCES["person"]}, window=40
    )
    for text in [*_fuzz_texts(150), "filed on 01/02/2003; DOB: 1/2/1980, processed 2003-01-02 seen"]:
        for position in range(len(text) + 1):
            assert DATE_LABELS.nearest(text, position) == plain.nearest(text, position), (text, position)
