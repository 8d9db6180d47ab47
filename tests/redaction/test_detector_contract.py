"""The `Detector` contract, run against every registered detector and the `FixedDetector` double."""

from __future__ import annotations

import pytest

from redaction import Detector, IdentifierKind, Span, default_detector_registry
from redaction.testing import FixedDetector

DETECTORS: list[Detector] = [
    *default_detector_registry(),
    FixedDetector(
        "fixed",
        {"John Smith": IdentifierKind.NAME, "123-45-6789": IdentifierKind.SSN, "": IdentifierKind.OTHER_ID},
    ),
]

SAMPLE = (
    "Denial CO-97 N290 for John Smith, SSN 123-45-6789, DOB 01/05/1980 (1980-01-05). "
    "Call (555) 123-4567 or fax 555.123.4568, mail jsmith@example.org. NPI 1234567890, "
    "ICN 000000905, paid 123.45 in 2024. PER*IC*JANE*TE*5551234567~DTP*472*D8*20240105~ "
    "Lives at 12 Main St, Springfield, IL 62704; MRN 00123456, MBI 1EG4-TE5-MK73, aged 93, "
    "portal https://portal.example.org/p?id=7 from 10.1.2.3."
)

HOSTILE = {
    "empty": "",
    "single_char": "1",
    "control_chars": "\x00\x01\x02\x1b[31m\r\n\t\x0b\x0c\x7f\x85\u2028" * 50,
    "unicode": (
        "Ünïcødé \U0001d7d9\U0001d7da\U0001d7db "
        "\u0661\u0662\u0663-\u0664\u0665-\u0666\u0667\u0668\u0669 "
        "\u0661\u0669\u0668\u0660-\u0660\u0661-\u0660\u0665 "
        "\uff11\uff12\uff13-\uff14\uff15-\uff16\uff17\uff18\uff19 "
        "日本語 שלום \u202e\ufeff\u200d 🎉 Ǆ ß ﬁ"
    ),
    "lone_surrogate": "ssn \ud800 123-45-6789 \udfff",
    "long_digit_run": "1234567890" * 2_000,
    "one_megabyte": (SAMPLE * (1_000_000 // len(SAMPLE) + 1))[:1_000_000],
}

PATHOLOGICAL = {
    "digits": "1" * 200_000,
    "digit_dash": "12-" * 66_667,
    "digit_space": "1 " * 100_000,
    "digit_dot": "1." * 100_000,
    "long_local_part": "a" * 200_000 + "@example.com",
    "many_at_signs": "a@" * 100_000,
    "long_domain": "a@" + "b" * 200_000,
    "dotted_domain": "a@" + "b." * 100_000,
    "partial_dates": "01/01/" * 33_334,
    "month_names": "January " * 25_000,
    "parentheses": "(555) " * 33_334,
    "ssn_labels": "SSN " * 50_000,
    "phone_labels": "phone fax " * 20_000,
    "capital_words": "Smith " * 40_000,
    "caps_words": "SMITH, " * 30_000,
    "street_words": "12 Main Main Main " * 10_000,
    "labels": "MRN " * 50_000,
    "colons": "1:" * 100_000,
    "urls": "http://" * 30_000,
}


@pytest.fixture(params=DETECTORS, ids=lambda detector: detector.name)
def detector(request: pytest.FixtureRequest) -> Detector:
    return request.param  # type: ignore[no-any-return]


def assert_valid_spans(spans: list[Span], text: str) -> None:
    for span in spans:
        assert isinstance(span, Span)
        assert 0 <= span.start < span.end <= len(text)
        assert isinstance(span.kind, IdentifierKind)


def test_is_a_detector_with_a_stable_name(detector: Detector) -> None:
    assert isinstance(detector, Detector)
    assert detector.name
    assert detector.name == detector.name.strip().lower()


def test_registry_names_are_the_documented_ones() -> None:
    assert default_detector_registry().names() == [
        "address",
        "age",
        "context-id",
        "date",
        "email",
        "mbi",
        "name",
        "network",
        "phone",
        "ssn",
    ]


def test_finds_something_in_the_sample(detector: Detector) -> None:
    spans = list(detector.find(SAMPLE))
    assert spans
    assert_valid_spans(spans, SAMPLE)


def test_is_deterministic_and_keeps_no_state(detector: Detector) -> None:
    first = sorted(detector.find(SAMPLE), key=lambda s: (s.start, s.end))
    list(detector.find("SSN 987-65-4320 and a different text 2024-02-03"))
    again = sorted(detector.find(SAMPLE), key=lambda s: (s.start, s.end))
    assert first == again


def test_spans_are_relative_to_the_text_given(detector: Detector) -> None:
    prefix = "x" * 17 + " "
    plain = sorted((s.start, s.end) for s in detector.find(SAMPLE))
    shifted = sorted((s.start - len(prefix), s.end - len(prefix)) for s in detector.find(prefix + SAMPLE))
    assert plain == shifted


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_never_raises_on_hostile_input(detector: Detector, name: str) -> None:
    text = HOSTILE[name]
    assert_valid_spans(list(detector.find(text)), text)


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_completes_on_pathological_input(detector: Detector, name: str) -> None:
    # No timing assertion: a catastrophic-backtracking regex would not finish on 200 KB at all.
    text = PATHOLOGICAL[name]
    assert_valid_spans(list(detector.find(text)), text)
