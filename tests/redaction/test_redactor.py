"""`Redactor`: structural tokens, known values in every spelling, detectors, overlaps, fail closed."""

from __future__ import annotations

import pytest

from redaction import POLICY_VERSION, Finding, Identifier, IdentifierKind, Pseudonymizer, Redactor
from redaction.errors import DetectorFailure, LeakCheckFailure, RedactionError
from redaction.testing import DetectorBugError, FailingDetector, FixedDetector

K = IdentifierKind
NAME = Identifier(K.NAME, "SMITH^JOHN", "PID-5")
DOB = Identifier(K.DOB, "1980-01-05", "PID-7")
SSN = Identifier(K.SSN, "123-45-6789", "PID-19")
MEMBER = Identifier(K.MEMBER_ID, "XYZ123456789", "IN1-36")
CLEAR_VALUES = [
    "SMITH",
    "JOHN",
    "Smith",
    "John",
    "01/05",
    "1980-01",
    "123-45-6789",
    "123456789",
    "6789",
    "XYZ123456789",
]


def only_token(text: str, redactor: Redactor, identifiers: list[Identifier], token: str) -> None:
    """``text`` embedded in a sentence is replaced by exactly ``token`` and nothing else changes."""
    redacted, _ = redactor.redact_text(f"Pt {text} called.", identifiers)
    assert redacted == f"Pt {token} called."


@pytest.mark.parametrize(
    "spelling", ["John Smith", "JOHN SMITH", "Smith, John", "SMITH^JOHN", "smith john", "SMITH*JOHN"]
)
def test_a_structural_name_is_caught_in_any_order_and_case(
    known_only: Redactor, pseudonymizer: Pseudonymizer, spelling: str
) -> None:
    only_token(spelling, known_only, [NAME], pseudonymizer.token(K.NAME, "SMITH^JOHN"))


def test_a_name_part_alone_is_caught_with_the_same_token(known_only: Redactor) -> None:
    outcome = known_only.redact([NAME], {"note": "Spoke to Mr. Smith; smithson is unrelated; Jo too."})
    token = outcome.tokens[0]
    assert outcome.texts["note"] == f"Spoke to Mr. {token}; smithson is unrelated; Jo too."


def test_names_that_case_folding_changes_are_caught(known_only: Redactor) -> None:
    outcome = known_only.redact([Identifier(K.NAME, "Straße^Hans", "PID-5")], {"note": "HANS STRASSE"})
    assert outcome.texts["note"] == outcome.tokens[0]


@pytest.mark.parametrize(
    "spelling",
    ["1980-01-05", "01/05/1980", "1/5/1980", "19800105", "Jan 5, 1980", "5 January 1980", "01-05-1980"],
)
def test_a_dob_is_caught_in_any_date_form(
    known_only: Redactor, pseudonymizer: Pseudonymizer, spelling: str
) -> None:
    # The year is the one part of a date Safe Harbor lets a reader keep (redaction.render).
    only_token(spelling, known_only, [DOB], pseudonymizer.token(K.DOB, "1980-01-05", kept="1980"))


@pytest.mark.parametrize(
    "spelling", ["123-45-6789", "123456789", "123 45 6789", "123.45.6789", "1 2 3-4 5-6 7 8 9"]
)
def test_an_id_is_caught_with_any_punctuation(
    known_only: Redactor, pseudonymizer: Pseudonymizer, spelling: str
) -> None:
    only_token(spelling, known_only, [SSN], pseudonymizer.token(K.SSN, "123-45-6789"))


def test_a_short_id_is_not_caught_inside_a_longer_number(known_only: Redactor) -> None:
    # Five digits are not distinctive (redaction.fastfind.distinctive_id): whole runs only.
    redacted, findings = known_only.redact_text("ICN 91234567890", [Identifier(K.CLAIM, "12345", "CLP01")])
    assert redacted == "ICN 91234567890"
    assert findings == ()


def test_a_distinctive_id_inside_a_longer_number_takes_the_whole_run(
    known_only: Redactor, pseudonymizer: Pseudonymizer
) -> None:
    # Nine digits are distinctive: a longer number holding them would disclose them.
    redacted, _ = known_only.redact_text("ICN 91234567890", [Identifier(K.CLAIM, "123456789", "CLP01")])
    assert redacted == f"ICN {pseudonymizer.token(K.CLAIM, '123456789')}"


def test_an_ssn_in_text_without_any_identifier_is_found_by_its_detector(
    redactor: Redactor, pseudonymizer: Pseudonymizer
) -> None:
    redacted, findings = redactor.redact_text("caller gave SSN 078-05-1120 twice")
    token = pseudonymizer.token(K.SSN, "078-05-1120")
    assert redacted == f"caller gave SSN {token} twice"
    assert findings == (Finding(16, 27, K.SSN, token, "detector", "ssn"),)


def test_outcome_tokens_texts_findings_counts(redactor: Redactor, pseudonymizer: Pseudonymizer) -> None:
    texts = {
        "summary": "CO-97 for John Smith",
        "description": "Smith, John (DOB 01/05/1980) SSN 123456789, call (555) 123-4567, seen 2024-03-02.",
        "empty": "",
    }
    outcome = redactor.redact([NAME, DOB, SSN, MEMBER], texts)
    assert outcome.tokens == tuple(pseudonymizer.token(i.kind, i.value) for i in (NAME, DOB, SSN, MEMBER))
    assert outcome.key_id == pseudonymizer.key_id
    assert outcome.policy_version == POLICY_VERSION
    assert set(outcome.texts) == set(texts)
    assert outcome.texts["empty"] == ""
    assert outcome.findings["empty"] == ()
    assert outcome.texts["summary"] == f"CO-97 for {outcome.tokens[0]}"
    layers = [(f.kind, f.layer, f.detector) for f in outcome.findings["description"]]
    assert layers == [
        (K.NAME, "known", None),
        (K.DOB, "known", None),
        (K.SSN, "known", None),
        (K.PHONE, "detector", "phone"),
        (K.DATE, "detector", "date"),
    ]
    assert outcome.counts == {"DATE": 1, "DOB": 2, "MEMBER": 1, "NAME": 3, "PHONE": 1, "SSN": 2}


def test_findings_point_into_the_original_text(redactor: Redactor) -> None:
    original = "Smith, John (DOB 01/05/1980) SSN 123456789, mail jo@example.org, fax 555.123.4567"
    outcome = redactor.redact([NAME, DOB, SSN], {"d": original})
    expected = ["Smith, John", "01/05/1980", "123456789", "jo@example.org", "555.123.4567"]
    assert [original[f.start : f.end] for f in outcome.findings["d"]] == expected
    rebuilt, cursor = "", 0
    for finding in outcome.findings["d"]:
        rebuilt += original[cursor : finding.start] + finding.token
        cursor = finding.end
    assert rebuilt + original[cursor:] == outcome.texts["d"]


def test_the_same_value_gets_the_same_token_in_every_field(redactor: Redactor) -> None:
    outcome = redactor.redact([SSN], {"a": "SSN 123-45-6789", "b": "ssn 123 45 6789"})
    assert outcome.texts["a"] == f"SSN {outcome.tokens[0]}"
    assert outcome.texts["b"] == f"ssn {outcome.tokens[0]}"


def test_on_overlap_the_longest_span_wins(pseudonymizer: Pseudonymizer) -> None:
    longer = FixedDetector("fixed", {"John Smith Jr": K.NAME})
    redacted, findings = Redactor(pseudonymizer, [longer]).redact_text("Pt John Smith Jr.", [NAME])
    assert redacted == f"Pt {pseudonymizer.token(K.NAME, 'John Smith Jr')}."
    assert [(f.layer, f.detector) for f in findings] == [("detector", "fixed")]


def test_on_a_tie_the_known_value_wins(pseudonymizer: Pseudonymizer) -> None:
    same = FixedDetector("fixed", {"John Smith": K.OTHER_ID})
    redacted, findings = Redactor(pseudonymizer, [same]).redact_text("Pt John Smith.", [NAME])
    assert redacted == f"Pt {pseudonymizer.token(K.NAME, 'SMITH^JOHN')}."
    assert [(f.kind, f.layer) for f in findings] == [(K.NAME, "known")]


def test_a_value_the_layers_miss_fails_the_leak_check(pseudonymizer: Pseudonymizer) -> None:
    # Seven separator characters between digit groups: more than the matcher allows (three), so
    # the known-value layer misses it and the detector double finds something else entirely.
    redactor = Redactor(pseudonymizer, [FixedDetector("fixed", {"nothing here": K.OTHER_ID})])
    with pytest.raises(LeakCheckFailure) as caught:
        redactor.redact([SSN], {"description": "ref 123 -- -- 45 -- -- 6789 end"})
    message = str(caught.value)
    assert "SSN" in message
    assert "PID-19" in message
    assert "description" in message
    assert not any(part in message for part in ("123", "45 ", "6789"))
    assert caught.value.code == "redaction.leak"


def test_a_raising_detector_fails_closed(pseudonymizer: Pseudonymizer) -> None:
    redactor = Redactor(pseudonymizer, [FailingDetector("boom")])
    with pytest.raises(DetectorFailure) as caught:
        redactor.redact([SSN], {"note": "SSN 123-45-6789 for John Smith"})
    assert isinstance(caught.value.__cause__, DetectorBugError)
    assert "boom" in str(caught.value)
    assert "note" in str(caught.value)
    assert "123-45-6789" not in str(caught.value)
    assert "Smith" not in str(caught.value)
    assert isinstance(caught.value, RedactionError)


class _OutOfBounds:
    name = "out-of-bounds"

    def find(self, text: str) -> list[object]:
        from redaction import Span

        return [Span(0, len(text) + 5, K.OTHER_ID)]


def test_a_span_outside_the_text_fails_closed(pseudonymizer: Pseudonymizer) -> None:
    redactor = Redactor(pseudonymizer, [_OutOfBounds()])  # type: ignore[list-item]
    with pytest.raises(DetectorFailure, match="invalid span"):
        redactor.redact_text("short")


def test_no_clear_value_in_any_repr_or_message(redactor: Redactor) -> None:
    identifiers = [NAME, DOB, SSN, MEMBER]
    outcome = redactor.redact(identifiers, {"d": "Smith, John 01/05/1980 SSN 123-45-6789 XYZ 123456789"})
    rendered = [repr(outcome), str(outcome), *map(repr, identifiers), *map(str, identifiers)]
    for text in rendered:
        for value in CLEAR_VALUES:
            assert value not in text.replace(POLICY_VERSION, "")


def test_redaction_is_deterministic(redactor: Redactor) -> None:
    texts = {"d": "John Smith 01/05/1980 (555) 123-4567 jo@example.org"}
    assert redactor.redact([NAME, DOB], texts) == redactor.redact([NAME, DOB], texts)


def test_known_value_matching_completes_on_pathological_text(redactor: Redactor) -> None:
    identifiers = [NAME, DOB, SSN, MEMBER, Identifier(K.ADDRESS, "12 Main St", "PID-11")]
    texts = {
        "digits": "123-45-678" * 20_000,
        "names": "Smith, " * 30_000,
        "dates": "01/05/19" * 25_000,
        "spaces": "1 2 3 4 5 " * 20_000,
        "words": "12 Main " * 25_000,
    }
    outcome = redactor.redact(identifiers, texts)
    assert set(outcome.texts) == set(texts)
