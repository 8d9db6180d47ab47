# ruff: noqa: E501 - one example per line
"""The detectors added for the rest of the Safe Harbor list: what each finds and what it keeps."""

from __future__ import annotations

import pytest

from redaction import Detector, IdentifierKind
from redaction.detectors import (
    AddressDetector,
    AgeDetector,
    ContextIdDetector,
    DateDetector,
    MbiDetector,
    NameDetector,
    NetworkDetector,
)

K = IdentifierKind
FOUND: list[tuple[Detector, str, list[tuple[str, IdentifierKind]]]] = [
    (NameDetector(), "Claim for John Smith denied", [("John Smith", K.NAME)]),
    (NameDetector(), "PATIENT WANG, XIAOMING DOB", [("WANG, XIAOMING", K.NAME)]),
    (NameDetector(), "Spoke with Mrs. Okafor today", [("Okafor", K.NAME)]),
    (NameDetector(), "Guarantor Maria de la Cruz", [("Maria de la Cruz", K.NAME)]),
    (NameDetector(), "pt Keanu A. Tran seen", [("Keanu A. Tran", K.NAME)]),
    (NameDetector(), "SMITH^JOHN^Q in note", [("SMITH^JOHN", K.NAME)]),
    (AddressDetector(), "lives at 1420 Oak Ridge Dr, Apt 5B now", [("1420 Oak Ridge Dr, Apt 5B", K.ADDRESS)]),
    (AddressDetector(), "Springfield, IL 62704-1234", [("Springfield", K.ADDRESS), ("62704-1234", K.ZIP)]),
    (AddressDetector(), "PO Box 4410 and zip code 02115", [("PO Box 4410", K.ADDRESS), ("02115", K.ZIP)]),
    (AgeDetector(), "a 93 y/o female, aged 101", [("93 y/o", K.AGE), ("aged 101", K.AGE)]),
    (ContextIdDetector(), "MRN: E1234567, Member ID W123456789", [("E1234567", K.MRN), ("W123456789", K.MEMBER_ID)]),
    (ContextIdDetector(), "acct# 4400123987; claim # CLM-000042", [("4400123987", K.ACCOUNT), ("CLM-000042", K.CLAIM)]),
    (ContextIdDetector(), "DL S530-4417-9921, VIN 1HGCM82633A004352", [("S530-4417-9921", K.LICENSE), ("1HGCM82633A004352", K.VEHICLE)]),
    (ContextIdDetector(), "serial number SN-88A7-1290", [("SN-88A7-1290", K.DEVICE)]),
    (MbiDetector(), "MBI 1EG4-TE5-MK73 and 1EG4TE5MK73", [("1EG4-TE5-MK73", K.MBI), ("1EG4TE5MK73", K.MBI)]),
    (NetworkDetector(), "see https://portal.example.org/p?id=7. from 10.1.2.3", [("https://portal.example.org/p?id=7", K.URL), ("10.1.2.3", K.IP)]),
    (NetworkDetector(), "host fe80::1ff:fe23:4567:890a up", [("fe80::1ff:fe23:4567:890a", K.IP)]),
]  # fmt: skip

KEPT = [
    "Example Health Plan denied CO-97 N290 for Medicare Part B; billed 310.00, paid 0.00.",
    "NPI 1487263749, TIN 12-3456789, payer id 87726, ICN 000000905, CPT 99213, E11.9.",
    "Blue Cross Blue Shield of Texas, Aetna Better Health, UnitedHealthcare: 3 claims.",
    "Transmission file date 2024-01-05, batch created 2024-01-06, check issued 01/07/2024.",
    "A 45 year old, age 89, May payment run, version 2.2.366.",
    "CAS*CO*45*120.00~NM1*PR*2*ACME PLAN*****PI*87726~",
]


@pytest.mark.parametrize(("detector", "text", "expected"), FOUND, ids=lambda v: getattr(v, "name", None))
def test_finds(detector: Detector, text: str, expected: list[tuple[str, IdentifierKind]]) -> None:
    assert [
        (text[s.start : s.end], s.kind) for s in sorted(detector.find(text), key=lambda s: s.start)
    ] == expected


@pytest.mark.parametrize("text", KEPT)
def test_keeps_what_people_need(text: str) -> None:
    detectors: list[Detector] = [
        NameDetector(), AddressDetector(), AgeDetector(), ContextIdDetector(), MbiDetector(), NetworkDetector(), DateDetector(),
    ]  # fmt: skip
    found = [(d.name, text[s.start : s.end]) for d in detectors for s in d.find(text)]
    assert found == []
