"""The written forms of a calendar date: parsing one value, and a pattern for every form of one date.

Two users share this module so that they agree on what "the same date" means:

- normalization (`redaction.normalize`) parses an identifier's date value into an ISO date, so a DOB
  written ``19800105`` (X12, HL7) and ``01/05/1980`` gives the same pseudonym;
- the known-value matcher (`redaction.known`) turns that date back into one regular expression that
  matches every common way of writing it in free text.

Numeric dates are read the US way (month first). A day-first reading is only used when it is the only
valid one (``25/12/1980``), so an ambiguous date never matches a different day. Two-digit years follow
the POSIX ``strptime`` pivot (``00``-``68`` -> 20xx, ``69``-``99`` -> 19xx) so that parsing never
depends on today's date.
"""

from __future__ import annotations

import re
from datetime import date

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)

# One alternative per month, full name or three-letter abbreviation (and "sept"), no trailing dot.
MONTH_PATTERN = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)

_ORDINAL = r"(?:st|nd|rd|th)?"

_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:[0-9]{2,6}(?:\.[0-9]+)?)?(?:[+-][0-9]{4})?")
_TIME = r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
_YEAR_FIRST = re.compile(rf"([0-9]{{4}})[-/.]([0-9]{{1,2}})[-/.]([0-9]{{1,2}}){_TIME}")
_MONTH_FIRST = re.compile(r"([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})")
_NAME_FIRST = re.compile(rf"({MONTH_PATTERN})\.?\s*([0-9]{{1,2}}){_ORDINAL},?\s*([0-9]{{4}})", re.IGNORECASE)
_DAY_FIRST = re.compile(
    rf"([0-9]{{1,2}}){_ORDINAL}(?:\s+of)?[\s\-/]*({MONTH_PATTERN})\.?,?[\s\-/]*([0-9]{{4}}|[0-9]{{2}})",
    re.IGNORECASE,
)


def month_number(name: str) -> int | None:
    """The month (1-12) for an English month name or abbreviation, any case; None when unknown."""
    prefix = name.strip().rstrip(".").lower()[:3]
    for index, month in enumerate(MONTH_NAMES, start=1):
        if month.startswith(prefix) and len(prefix) == 3:
            return index
    return None


def expand_year(year: str) -> int:
    """A four-digit year from a two- or four-digit one, with the POSIX pivot (69 -> 1969, 68 -> 2068)."""
    value = int(year)
    if len(year) == 2:
        return value + (1900 if value >= 69 else 2000)
    return value


def make_date(year: int, month: int, day: int) -> date | None:
    """The date, or None when the parts do not form a real day in years 1800-2199."""
    if not 1800 <= year <= 2199:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def month_first_date(first: int, second: int, year: int) -> date | None:
    """A numeric date read month first, or day first only when that is the single valid reading."""
    found = make_date(year, first, second)
    if found is None and first > 12:
        found = make_date(year, second, first)
    return found


def parse_date(value: str) -> date | None:
    """The date written in ``value`` in any common form, or None when it is not exactly one date.

    Accepts ``19800105`` (with an HL7 time and offset), ``1980-01-05`` (and ISO datetimes),
    ``1980/1/5``, ``01/05/1980``, ``1/5/80``, ``01-05-1980``, ``Jan 5, 1980``, ``January 05 1980``,
    ``5 January 1980``, ``5th of Jan 1980`` and ``05-JAN-1980``.
    """
    text = value.strip()
    if match := _COMPACT.fullmatch(text):
        return make_date(int(match[1]), int(match[2]), int(match[3]))
    if match := _YEAR_FIRST.fullmatch(text):
        return make_date(int(match[1]), int(match[2]), int(match[3]))
    if match := _MONTH_FIRST.fullmatch(text):
        return month_first_date(int(match[1]), int(match[3]), expand_year(match[4]))
    if match := _NAME_FIRST.fullmatch(text):
        month = month_number(match[1])
        return None if month is None else make_date(int(match[3]), month, int(match[2]))
    if match := _DAY_FIRST.fullmatch(text):
        month = month_number(match[2])
        return None if month is None else make_date(expand_year(match[3]), month, int(match[1]))
    return None


def _month_name_pattern(month: int) -> str:
    full = MONTH_NAMES[month - 1]
    if full == "september":
        return r"sep(?:t(?:ember)?)?\.?"
    rest = full[3:]
    return f"{full[:3]}(?:{rest})?\\.?" if rest else full[:3] + r"\.?"


def date_variants_pattern(day: date) -> str:
    """Regex source (compile with IGNORECASE) matching every common written form of ``day``.

    Numeric forms must not touch another digit on either side; month-name forms must not follow a
    letter. The pattern has no capturing groups and only bounded repetition.
    """
    year = f"{day.year:04d}"
    short_year = year[2:]
    mm, dd = f"{day.month:02d}", f"{day.day:02d}"
    m = f"0?{day.month}" if day.month < 10 else mm
    d = f"0?{day.day}" if day.day < 10 else dd
    any_year = f"(?:{year}|{short_year})"
    name = _month_name_pattern(day.month)
    numeric = [
        f"{year}{mm}{dd}(?:[0-9]{{4}}(?:[0-9]{{2}})?)?",
        f"{year}[-/.]{m}[-/.]{d}",
        f"{m}/{d}/{any_year}",
        f"{m}-{d}-{year}",
        f"{m}\\.{d}\\.{year}",
    ]
    if day.day > 12:
        numeric.append(f"{d}[-/.]{m}[-/.]{year}")
    numeric.append(f"{d}{_ORDINAL}(?:\\s+of)?[\\s\\-/]{{0,3}}{name}(?![a-z]),?[\\s\\-/]{{0,3}}{year}")
    numeric.append(f"{d}-{name}-{short_year}")
    named = f"{name}(?![a-z])\\s{{0,3}}{d}{_ORDINAL},?\\s{{0,3}}(?:{year}|'?{short_year})"
    return f"(?:(?<![0-9])(?:{'|'.join(numeric)})|(?<![a-z]){named})(?![0-9])"
