"""The redactor remembers detector spans per distinct text (detectors are pure), never failures."""

from __future__ import annotations

import pytest

from redaction import Identifier, IdentifierKind, Redactor
from redaction.detector import Span
from redaction.errors import DetectorFailure
from redaction.testing import FixedDetector, deterministic_pseudonymizer


class CountingDetector:
    """`FixedDetector` that counts its calls; raises on texts holding ``boom``."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self._inner = FixedDetector("inner", {"Zed": IdentifierKind.NAME})

    def find(self, text: str) -> list[Span]:
        self.calls += 1
        if "boom" in text:
            raise RuntimeError("bug")
        return self._inner.find(text)


def test_a_repeated_text_is_scanned_once_and_redacted_the_same() -> None:
    detector = CountingDetector()
    redactor = Redactor(deterministic_pseudonymizer(), [detector])
    text = "Denied for Zed: CO-97"
    first = redactor.redact([Identifier(IdentifierKind.MRN, "MR123456", "PID-3")], {"summary": text})
    second = redactor.redact([Identifier(IdentifierKind.MRN, "MR654321", "PID-3")], {"summary": text})
    assert detector.calls == 1
    assert first.texts == second.texts and first.findings == second.findings
    assert "Zed" not in second.texts["summary"]


def test_known_values_are_still_searched_per_record() -> None:
    redactor = Redactor(deterministic_pseudonymizer(), [CountingDetector()])
    text = "Member MR123456 denied"
    plain = redactor.redact([], {"summary": text})
    known = redactor.redact([Identifier(IdentifierKind.MEMBER_ID, "MR123456", "REF*1W")], {"summary": text})
    assert "MR123456" in plain.texts["summary"]
    assert "MR123456" not in known.texts["summary"]


def test_failures_are_not_remembered() -> None:
    detector = CountingDetector()
    redactor = Redactor(deterministic_pseudonymizer(), [detector])
    expected = r"'counting' failed on text field 'summary' \(RuntimeError\)"
    for _ in range(2):
        with pytest.raises(DetectorFailure, match=expected):
            redactor.redact([], {"summary": "boom"})
    assert detector.calls == 2


def test_the_cache_can_be_switched_off() -> None:
    detector = CountingDetector()
    redactor = Redactor(deterministic_pseudonymizer(), [detector], detection_cache=0)
    for _ in range(3):
        redactor.redact_text("Zed again")
    assert detector.calls == 3
