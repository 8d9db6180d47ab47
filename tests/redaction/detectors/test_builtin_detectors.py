"""Positive and distractor examples for each built-in detector, one table per detector.

Each row is ``(text, expected)`` where ``expected`` lists the exact substrings the detector must
report and their kinds; an empty list means "finds nothing" (a distractor). One assertion helper.
"""

from __future__ import annotations

import pytest

from redaction import Detector, IdentifierKind
from redaction.detectors import DateDetector, EmailDetector, NanpPhoneDetector, SsnDetector

SSN, PHONE, FAX, EMAIL, DATE = (
    IdentifierKind.SSN,
    IdentifierKind.PHONE,
    IdentifierKind.FAX,
    IdentifierKind.EMAIL,
    IdentifierKind.DATE,
)

Row = tuple[str, list[tuple[str, IdentifierKind]]]


def assert_finds(detector: Detector, text: str, expected: list[tuple[str, IdentifierKind]]) -> None:
    spans = sorted(detector.find(text), key=lambda span: span.start)
    assert [(text[span.start : span.end], span.kind) for span in spans] == expected


SSN_ROWS: list[Row] = [
    ("SSN 123-45-6789", [("123-45-6789", SSN)]),
    ("member 078-05-1120 called", [("078-05-1120", SSN)]),
    ("ssn: 123 45 6789", [("123 45 6789", SSN)]),
    ("SSN: 123456789", [("123456789", SSN)]),
    ("claim for member 123-45-6789", [("123-45-6789", SSN)]),
    ("SSN on file, ICN 123456789", []),
    ("SS# 123456789", [("123456789", SSN)]),
    ("social security number 123456789.", [("123456789", SSN)]),
    ("REF*SY*123456789~", [("123456789", SSN)]),
    ("000-12-3456 666-12-3456 900-12-3456", []),
    ("123-00-4567 and 123-45-0000", []),
    ("ICN 123456789", []),
    ("123456789 without any label", []),
    ("claim 123456789", []),
    ("TIN 123-45-6789", []),
    ("EIN 12-3456789", []),
    ("REF*EI*123456789~", []),
    ("ISA*00*          *00*          *ZZ*SUBMITTER*ZZ*RECEIVER*240105*1253*^*00501*000000905*0*P*:~", []),
    ("NPI 1234567890", []),
    ("SSN 1234567890", []),
    ("123-45-67890", []),
    ("phone 555-123-4567", []),
    ("CO-97 N290 M15 paid 123.45", []),
]

PHONE_ROWS: list[Row] = [
    ("(555) 123-4567", [("(555) 123-4567", PHONE)]),
    ("call 555-123-4567 today", [("555-123-4567", PHONE)]),
    ("555.123.4567", [("555.123.4567", PHONE)]),
    ("+1 555 123 4567", [("+1 555 123 4567", PHONE)]),
    ("1-555-123-4567", [("1-555-123-4567", PHONE)]),
    ("call 5551234567", [("5551234567", PHONE)]),
    ("tel +15551234567", [("+15551234567", PHONE)]),
    ("phone: 555 123 4567", [("555 123 4567", PHONE)]),
    ("fax 555-123-4567", [("555-123-4567", FAX)]),
    ("Fax: (555) 123-4567", [("(555) 123-4567", FAX)]),
    (
        "PER*IC*JANE*TE*5551234567*FX*5551234568~",
        [("5551234567", PHONE), ("5551234568", FAX)],
    ),
    ("5551234567", []),
    ("NPI 1234567890", []),
    ("NPI: 2345678901", []),
    ("phone on file; NPI 2345678901", []),
    ("TIN 555123456", []),
    ("ICN 000000905", []),
    ("123-45-6789", []),
    ("01-05-1980", []),
    ("paid 123.45 CO-97 N290 M15", []),
    ("555-1234", []),
    ("155-123-4567", []),
    ("call 5551234567890", []),
    ("call 555123456", []),
]

EMAIL_ROWS: list[Row] = [
    ("mail jo@example.org.", [("jo@example.org", EMAIL)]),
    ("John.Smith+rcm@mail.hospital.example.com", [("John.Smith+rcm@mail.hospital.example.com", EMAIL)]),
    ("PER*IC*JANE*EM*jane.doe@payer.example~", [("jane.doe@payer.example", EMAIL)]),
    ("<JO@EXAMPLE.ORG>", [("JO@EXAMPLE.ORG", EMAIL)]),
    ("user@localhost", []),
    ("@example.com", []),
    ("a@b", []),
    ("john at example dot com", []),
    ("CO-97 N290 123.45", []),
]

DATE_ROWS: list[Row] = [
    ("DOB 1980-01-05.", [("1980-01-05", DATE)]),
    ("at 1980-01-05T10:30:00Z", [("1980-01-05T10:30:00Z", DATE)]),
    ("at 2024-03-02T10:30:00.123+05:30 ok", [("2024-03-02T10:30:00.123+05:30", DATE)]),
    ("2024/03/02", [("2024/03/02", DATE)]),
    ("dob 01/05/1980", [("01/05/1980", DATE)]),
    ("1/5/1980", [("1/5/1980", DATE)]),
    ("1/5/80", [("1/5/80", DATE)]),
    ("01-05-1980", [("01-05-1980", DATE)]),
    ("01.05.1980", [("01.05.1980", DATE)]),
    ("25/12/1980", [("25/12/1980", DATE)]),
    ("19800105", [("19800105", DATE)]),
    ("PID|||||||198001051030-0500|", [("198001051030-0500", DATE)]),
    ("DTP*472*D8*20240105~", [("20240105", DATE)]),
    ("DTP*472*RD8*20240101-20240131~", [("20240101", DATE), ("20240131", DATE)]),
    ("seen Jan 5, 1980", [("Jan 5, 1980", DATE)]),
    ("January 05 1980", [("January 05 1980", DATE)]),
    ("Sept. 9, 2024", [("Sept. 9, 2024", DATE)]),
    ("5 January 1980", [("5 January 1980", DATE)]),
    ("5th of January, 1980", [("5th of January, 1980", DATE)]),
    ("05-JAN-1980", [("05-JAN-1980", DATE)]),
    ("05-Jan-80", [("05-Jan-80", DATE)]),
    ("admitted March 2024", [("March 2024", DATE)]),
    ("in 1980", []),
    ("plan year 2024, code 1234", []),
    ("paid 123.45 and 1980.05", []),
    ("ICN 000000905", []),
    ("CO-97 N290 M15", []),
    ("02/30/1980 13/13/1980", []),
    ("19801305", []),
    ("amount 20240105.00", []),
    ("NPI 1234567890", []),
    ("ISA*00*          *00*          *ZZ*SUBMITTER*ZZ*RECEIVER*240105*1253*^*00501*000000905*0*P*:~", []),
    ("3/4 of claims, version 1.2.3", []),
    ("may 5 claims", []),
]


@pytest.mark.parametrize(("text", "expected"), SSN_ROWS)
def test_ssn(text: str, expected: list[tuple[str, IdentifierKind]]) -> None:
    assert_finds(SsnDetector(), text, expected)


@pytest.mark.parametrize(("text", "expected"), PHONE_ROWS)
def test_phone(text: str, expected: list[tuple[str, IdentifierKind]]) -> None:
    assert_finds(NanpPhoneDetector(), text, expected)


@pytest.mark.parametrize(("text", "expected"), EMAIL_ROWS)
def test_email(text: str, expected: list[tuple[str, IdentifierKind]]) -> None:
    assert_finds(EmailDetector(), text, expected)


@pytest.mark.parametrize(("text", "expected"), DATE_ROWS)
def test_date(text: str, expected: list[tuple[str, IdentifierKind]]) -> None:
    assert_finds(DateDetector(), text, expected)
