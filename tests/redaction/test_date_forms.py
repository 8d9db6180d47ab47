"""`redaction.date_forms`: one date parsed from any form, and one pattern for every form of a date."""

from __future__ import annotations

import re
from datetime import date

import pytest

from redaction.date_forms import date_variants_pattern, parse_date

DAY = date(1980, 1, 5)


@pytest.mark.parametrize(
    "text",
    [
        "1980-01-05",
        "1980-1-5",
        "1980/01/05",
        "19800105",
        "198001051030",
        "19800105103000.12-0500",
        "1980-01-05T10:30:00Z",
        "01/05/1980",
        "1/5/1980",
        "1/5/80",
        "01-05-1980",
        "01.05.1980",
        "Jan 5, 1980",
        "jan. 5 1980",
        "January 05, 1980",
        "5 January 1980",
        "5th of Jan 1980",
        "05-JAN-1980",
        "05-Jan-80",
    ],
)
def test_every_form_parses_to_the_same_day(text: str) -> None:
    assert parse_date(text) == DAY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/12/1980", date(1980, 12, 25)),
        ("12/25/68", date(2068, 12, 25)),
        ("12/25/69", date(1969, 12, 25)),
        ("Sept 9, 2024", date(2024, 9, 9)),
    ],
)
def test_day_first_only_when_unambiguous_and_posix_pivot(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text", ["", "1980", "02/30/1980", "13/13/1980", "not a date", "1980-01-05 and more"]
)
def test_non_dates_do_not_parse(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("dob 1980-01-05 ok", "1980-01-05"),
        ("dob 19800105~", "19800105"),
        ("dob 01/05/1980.", "01/05/1980"),
        ("dob 1/5/80,", "1/5/80"),
        ("dob 01-05-1980", "01-05-1980"),
        ("dob JAN 5, 1980", "JAN 5, 1980"),
        ("dob January 5th 1980", "January 5th 1980"),
        ("dob 5 january 1980", "5 january 1980"),
        ("dob 05-Jan-1980", "05-Jan-1980"),
        ("dob 1980-01-05T10:00", "1980-01-05"),
    ],
)
def test_the_variants_pattern_finds_every_form(text: str, found: str) -> None:
    match = re.search(date_variants_pattern(DAY), text, re.IGNORECASE)
    assert match is not None
    assert match.group() == found


@pytest.mark.parametrize(
    "text",
    ["05/01/1980", "1980-05-01", "11/5/1980", "1/5/19801", "21/5/80", "Jan 15, 1980", "1980", "xjan 5, 1980"],
)
def test_the_variants_pattern_does_not_find_other_days(text: str) -> None:
    assert re.search(date_variants_pattern(DAY), text, re.IGNORECASE) is None
