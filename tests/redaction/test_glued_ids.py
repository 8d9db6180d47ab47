"""Distinctive ids glued to letters or digits (found by atheris: ``COPCN-7731-0099`` kept the claim
number), and short ids that keep the whole-run boundary (docs/redaction.md, "Glued identifiers")."""

from __future__ import annotations

import re

import pytest

from redaction import Identifier, IdentifierKind, Pseudonymizer, Redactor
from redaction.fastfind import IdSearch, distinctive_id
from redaction.leak import LeakChecker
from redaction.pseudonym import TOKEN_PATTERN

K = IdentifierKind
CLAIM = Identifier(K.CLAIM, "PCN-7731-0099", "CLP01")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("denied COPCN-7731-0099 today", "denied {} today"),  # glued left (letters)
        ("denied PCN-7731-0099X today", "denied {} today"),  # glued right
        ("denied xxPCN-7731-009977 today", "denied {} today"),  # glued both sides
        ("denied 12PCN-7731-0099 today", "denied {} today"),  # glued to digits
        ("denied refPCN 7731 0099abc.", "denied {}."),  # spaces inside
        ("denied pcn77310099, again", "denied {}, again"),  # no separators, lower case
        ("denied COpcn.7731.0099", "denied {}"),  # dots, at the end of the text
        ("PCN-7731-0099 denied", "{} denied"),  # not glued: exactly the id, as before
    ],
)
def test_a_glued_distinctive_id_is_replaced_with_the_run_it_is_glued_to(
    known_only: Redactor, pseudonymizer: Pseudonymizer, text: str, expected: str
) -> None:
    redacted, findings = known_only.redact_text(text, [CLAIM])
    assert redacted == expected.format(pseudonymizer.token(K.CLAIM, "PCN-7731-0099"))
    assert "7731" not in redacted and "0099" not in redacted
    assert [finding.layer for finding in findings] == ["known"]


def test_a_glued_ssn_and_member_id_are_replaced(known_only: Redactor, pseudonymizer: Pseudonymizer) -> None:
    ssn = Identifier(K.SSN, "123-45-6789", "PID-19")
    member = Identifier(K.MEMBER_ID, "XYZ123456789", "IN1-36")
    redacted, _ = known_only.redact_text("SSN#123456789X ok", [ssn, member])
    assert redacted == f"SSN#{pseudonymizer.token(K.SSN, '123-45-6789')} ok"
    redacted, _ = known_only.redact_text("mbr:MBRXYZ1234567890", [member])
    assert redacted == f"mbr:{pseudonymizer.token(K.MEMBER_ID, 'XYZ123456789')}"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("123", "ref 41234 paid"),  # three digits inside a longer number
        ("4512", "amount $14512.00"),  # four digits inside an amount
        ("A1234", "code XA1234 and A12345"),  # five characters
        ("ABCDEF12", "ZABCDEF12 and ABCDEF123"),  # long but only two digits
        ("CO45", "CARC XCO45"),  # a short code glued to a letter
    ],
)
def test_a_short_id_keeps_the_whole_run_boundary(known_only: Redactor, value: str, text: str) -> None:
    assert not distinctive_id(value.upper())
    redacted, findings = known_only.redact_text(text, [Identifier(K.ACCOUNT, value, "CLM01")])
    assert redacted == text
    assert findings == ()


@pytest.mark.parametrize(
    ("chars", "expected"),
    [
        ("PCN77310099", True),
        ("123456", True),
        ("ABC123", True),
        ("AB1234", True),
        ("12345", False),
        ("ABCDE12", False),
    ],
)
def test_the_distinctive_rule(chars: str, expected: bool) -> None:
    assert distinctive_id(chars) is expected


def test_the_leak_check_fails_closed_on_a_glued_distinctive_id() -> None:
    checker = LeakChecker([(K.CLAIM, "PCN-7731-0099"), (K.ACCOUNT, "4512")])
    assert checker.first_leak({"summary": "see COPCN-7731-0099"}) is not None
    assert checker.first_leak({"summary": "see pcn 7731 - 0099xyz"}) is not None
    assert checker.first_leak({"summary": "amount $14512.00, PCN-7731-009"}) is None


def test_id_search_widens_a_glued_match_over_the_glued_characters() -> None:
    search = IdSearch("a xPCN-7731-0099yz. PCN77310099")
    assert list(search.find("PCN77310099", 3, glued=True)) == [(2, 18), (20, 31)]
    assert list(search.find("PCN77310099", 3)) == [(20, 31)]


def test_the_redactor_output_never_holds_a_glued_distinctive_id(redactor: Redactor) -> None:
    """The production layering (detectors, known values, leak check) on a glued id."""
    outcome = redactor.redact([CLAIM], {"summary": "COPCN-7731-0099", "description": "lPCN-7731-0099"})
    for text in outcome.texts.values():
        assert "PCN-7731-0099" not in text.upper()


@pytest.mark.parametrize("text", ["seen by Dr Smith", "seen by Dr.Smith", "seen by DR. SMITH"])
def test_a_known_name_after_a_title_is_replaced(known_only: Redactor, text: str) -> None:
    redacted, _ = known_only.redact_text(text, [Identifier(K.NAME, "SMITH^JOHN", "PID-5")])
    assert "smith" not in redacted.casefold()


@pytest.mark.parametrize("text", ["seen by DRSMITH", "BLACKSMITH shop", "JOHNSON"])
def test_a_known_name_glued_to_letters_is_left_alone(known_only: Redactor, text: str) -> None:
    """Decided (docs/redaction.md): a name part inside a longer letter run is not matched, in the
    known-value layer nor in the leak check; "DRSMITH" cannot be told from "BLACKSMITH" or "JOHNSON"
    (name part JOHN) without a dictionary of words, and matching every such run would redact ordinary
    words wherever a patient has a short common surname."""
    name = Identifier(K.NAME, "SMITH^JOHN", "PID-5")
    redacted, findings = known_only.redact_text(text, [name])
    assert redacted == text
    assert findings == ()
    assert LeakChecker([(K.NAME, "SMITH^JOHN")]).first_leak({"summary": text}) is None


NAME = Identifier(K.NAME, "SMITH^JOHN", "PID-5")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seen SMITH01 today", "seen {} today"),  # glued right
        ("seen 01SMITH today", "seen {} today"),  # glued left
        ("seen 01SMITH02 today", "seen {} today"),  # glued both sides
        ("seen smith01, today", "seen {}, today"),  # lower case, comma after
        ("seen (01Smith).", "seen ({})."),  # parentheses and a full stop
        ("pt#01SMITH02x;", "pt#{};"),  # the whole letter-and-digit run, letters after the digits too
        ("JOHN2", "{}"),  # the given name, the whole text
        ("seen SMITH-01", "seen {}-01"),  # a hyphen is a separator, as before: not glued
    ],
)
def test_a_known_name_glued_to_digits_is_replaced_with_the_run_it_is_glued_to(
    known_only: Redactor, pseudonymizer: Pseudonymizer, text: str, expected: str
) -> None:
    redacted, findings = known_only.redact_text(text, [NAME])
    assert redacted == expected.format(pseudonymizer.token(K.NAME, "SMITH^JOHN"))
    assert [finding.layer for finding in findings] == ["known"]
    assert LeakChecker([(K.NAME, "SMITH^JOHN")]).first_leak({"summary": text}) is not None
    assert LeakChecker([(K.NAME, "SMITH^JOHN")]).first_leak({"summary": redacted}) is None


@pytest.mark.parametrize(
    "text", ["seen SMITH01 JOHN", "seen JOHN SMITH01", "seen SMITH01JOHN", "seen 7JOHN^SMITH7"]
)
def test_a_multi_part_name_glued_to_digits_leaves_no_part(known_only: Redactor, text: str) -> None:
    redacted, _ = known_only.redact_text(text, [NAME])
    assert "smith" not in redacted.casefold() and "john" not in redacted.casefold()
    assert not any(char.isdigit() for char in re.sub(TOKEN_PATTERN, " ", redacted))
    assert LeakChecker([(K.NAME, "SMITH^JOHN")]).first_leak({"summary": redacted}) is None


@pytest.mark.parametrize("value", ["O'BRIEN^MARY-KATE", "SMITH-JONES^JOHN"])
def test_names_on_the_pattern_path_have_the_same_boundary(known_only: Redactor, value: str) -> None:
    """Names with ``'`` or ``-`` in a part are matched by a pattern, not word by word."""
    name = Identifier(K.NAME, value, "PID-5")
    checker = LeakChecker([(K.NAME, value)])
    first = value.split("^", maxsplit=1)[0]
    for text in (f"seen {first}01 today", f"seen 01{first} today"):
        redacted, findings = known_only.redact_text(text, [name])
        assert first.casefold() not in redacted.casefold() and "01" not in re.sub(
            TOKEN_PATTERN, " ", redacted
        )
        assert findings
        assert checker.first_leak({"summary": text}) is not None
        assert checker.first_leak({"summary": redacted}) is None
    last_piece = re.split("[-']", first)[-1]
    for text in (f"seen {last_piece}X today", f"seen X{last_piece} today"):
        redacted, findings = known_only.redact_text(text, [name])
        assert redacted == text and findings == ()
        assert checker.first_leak({"summary": text}) is None


@pytest.mark.parametrize("text", ["BLACKSMITH01", "01BLACKSMITH", "JOHNSON2", "7SMITHS7", "SMITHY01"])
def test_a_known_name_inside_a_letter_run_glued_to_digits_is_left_alone(
    known_only: Redactor, text: str
) -> None:
    redacted, findings = known_only.redact_text(text, [NAME])
    assert redacted == text
    assert findings == ()
    assert LeakChecker([(K.NAME, "SMITH^JOHN")]).first_leak({"summary": text}) is None


@pytest.mark.parametrize("value", ["SMITH^JOHN", "LI^AL", "CO^AB"])
def test_codes_glued_to_digits_are_not_names(known_only: Redactor, value: str) -> None:
    """No false positives: only a known name's own parts (three letters or more) are matched glued."""
    text = "CARC CO45 and A1234, AL2 LI3 AB12 X12 835 N4"
    redacted, findings = known_only.redact_text(text, [Identifier(K.NAME, value, "PID-5")])
    assert redacted == text
    assert findings == ()
    assert LeakChecker([(K.NAME, value)]).first_leak({"summary": text}) is None


def test_the_redactor_output_never_holds_a_name_glued_to_digits(redactor: Redactor) -> None:
    """The production layering (detectors, known values, leak check) on a glued name."""
    outcome = redactor.redact(
        [NAME], {"summary": "called SMITH01 back", "description": "pt 01john re-billed"}
    )
    for text in outcome.texts.values():
        assert "smith" not in text.casefold() and "john" not in text.casefold()


@pytest.mark.parametrize("value", ["LAST17^PATRICK", "PATRICK 3RD^LAST"])
def test_a_name_with_a_digit_in_a_part_keeps_the_whole_word_boundary(
    known_only: Redactor, pseudonymizer: Pseudonymizer, value: str
) -> None:
    """``LAST17`` is found as a whole word (its digits are part of it), and none of the name's
    parts is found glued to other digits, in either layer (`redaction.namewords.glues_to_digits`)."""
    name = Identifier(K.NAME, value, "PID-5")
    checker = LeakChecker([(K.NAME, value)])
    for text in ("seen PATRICK01 and LAST1701 today", "seen 3RDPATRICK today"):
        redacted, findings = known_only.redact_text(text, [name])
        assert redacted == text and findings == ()
        assert checker.first_leak({"summary": text}) is None
    redacted, _ = known_only.redact_text("seen PATRICK today", [name])
    assert redacted == f"seen {pseudonymizer.token(K.NAME, value)} today"
