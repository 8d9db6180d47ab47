"""The test doubles in `redaction.testing` and the `DetectorRegistry` they are registered in."""

from __future__ import annotations

import pytest

from redaction import DetectorRegistry, IdentifierKind, Span
from redaction.testing import DetectorBugError, FailingDetector, FixedDetector, deterministic_pseudonymizer


def test_fixed_detector_finds_every_overlapping_occurrence_and_ignores_empty_literals() -> None:
    detector = FixedDetector("fixed", {"aa": IdentifierKind.MRN, "": IdentifierKind.SSN})
    assert detector.name == "fixed"
    assert detector.find("aaa") == [Span(0, 2, IdentifierKind.MRN), Span(1, 3, IdentifierKind.MRN)]
    assert detector.find("") == []


def test_failing_detector_always_raises() -> None:
    with pytest.raises(DetectorBugError):
        FailingDetector().find("")


def test_deterministic_pseudonymizer_is_stable_per_label() -> None:
    one, again, other = (deterministic_pseudonymizer(label) for label in ("a", "a", "b"))
    assert one.key_id == "test-a"
    assert one.token(IdentifierKind.SSN, "123456789") == again.token(IdentifierKind.SSN, "123456789")
    assert one.token(IdentifierKind.SSN, "123456789") != other.token(IdentifierKind.SSN, "123456789")


def test_registry_refuses_duplicates_and_names_unknown_detectors() -> None:
    registry = DetectorRegistry()
    registry.register(FixedDetector("fixed", {}))
    with pytest.raises(ValueError, match="fixed"):
        registry.register(FixedDetector("fixed", {}))
    with pytest.raises(KeyError, match="nope"):
        registry.get("nope")
    assert registry.names() == ["fixed"]
    assert len(registry) == 1
