"""Calendar dates: every element of a date except the year alone is PHI under Safe Harbor.

Found forms (month first when numeric and ambiguous, see `redaction.date_forms`):

- ISO ``1980-01-05`` and ISO datetimes ``1980-01-05T10:30:00Z``; ``1980/01/05``, ``1980.01.05``;
- compact ``19800105`` (X12 ``D8``, HL7 ``DT``) with an optional HL7 time and offset
  (``198001051030-0500``), years 1900-2099 only;
- ``01/05/1980``, ``1/5/80``, ``01-05-1980``, ``01.05.1980`` (two-digit years only with ``/``);
- ``Jan 5, 1980``, ``January 05 1980``, ``5 January 1980``, ``5th of Jan, 1980``, ``05-JAN-1980``,
  ``05-Jan-80``, and month with year ``January 1980``.

Dates whose nearest label says they belong to a file or a payment run (``file``, ``transmission``,
``interchange``, ``batch``, ``created``, ``processed``, ``check``, ``EFT``, ``ISA`` ...) are not tied
to a person and are kept; a closer person label (``DOB``, ``admitted``, ``service``, ``DOS``, ``on``)
wins over them, and dates without any label are redacted.

Every candidate must be a real day (``02/30/1980`` is not). Years alone, other four-digit numbers,
amounts (``1980.05``), X12 control numbers (``000000905``) and digit runs longer than a date are
left alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date
from typing import ClassVar

from redaction.date_forms import MONTH_PATTERN, expand_year, make_date, month_first_date, month_number
from redaction.detector import Span
from redaction.detectors.anchored import AnchoredPattern
from redaction.detectors.context import ContextLabels
from redaction.detectors.precheck import has_digit
from redaction.kinds import IdentifierKind

_YEAR = r"(?:1[89]|2[01])[0-9]{2}"
_TIME = r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+\-][0-9]{2}:?[0-9]{2})?)?"
_MONTH = rf"(?P<{{0}}>{MONTH_PATTERN})\.?(?![a-z])"
_ORDINAL = r"(?:st|nd|rd|th)?"

_FORMS = (
    rf"(?<![0-9.])(?P<iy>{_YEAR})(?P<isep>[\-/.])(?P<im>[0-9]{{1,2}})(?P=isep)(?P<id>[0-9]{{1,2}})"
    rf"(?![0-9]){_TIME}(?![0-9])",
    r"(?<![0-9.])(?P<cy>(?:19|20)[0-9]{2})(?P<cm>[0-9]{2})(?P<cd>[0-9]{2})"
    r"(?:[0-9]{4}(?:[0-9]{2}(?:\.[0-9]{1,4})?)?)?(?:[+\-][0-9]{4})?(?![0-9]|\.[0-9])",
    rf"(?<![0-9.\-/])(?P<ua>[0-9]{{1,2}})(?P<usep>[\-/.])(?P<ub>[0-9]{{1,2}})(?P=usep)"
    rf"(?P<uy>{_YEAR}|[0-9]{{2}})(?![0-9]|[\-/.][0-9])",
    rf"(?<![a-z]){_MONTH.format('nm')}\s{{0,3}}(?P<nd>[0-9]{{1,2}}){_ORDINAL},?\s{{0,3}}(?P<ny>{_YEAR})"
    r"(?![0-9])",
    rf"(?<![0-9])(?P<dd>[0-9]{{1,2}}){_ORDINAL}(?:\s+of)?[\s\-/]{{0,3}}{_MONTH.format('dm')},?"
    rf"[\s\-/]{{0,3}}(?P<dy>{_YEAR})(?![0-9])",
    rf"(?<![0-9])(?P<xd>[0-9]{{1,2}})-{_MONTH.format('xm')}-(?P<xy>[0-9]{{2}})(?![0-9])",
    rf"(?<![a-z]){_MONTH.format('ym')},?\s{{1,3}}(?P<yy>{_YEAR})(?![0-9])",
)
DATE_PATTERN = re.compile("|".join(f"(?:{form})" for form in _FORMS), re.IGNORECASE)
# Where a date can start: every numeric form's lookbehind excludes a digit before it, so it starts
# a run of digits, one of eight digits or more (compact), or of one to four digits and a separator
# and a digit (ISO, US), or of one or two digits, an ordinal and a letter (day and month name); the
# month-name forms start a run of letters (``(?<![a-z])``, same flags) that begins like a month.
# The loop skips other characters and other runs whole.
_DATE_STARTS = AnchoredPattern(
    DATE_PATTERN,
    r"(?:[^0-9a-z]+|(?!ja|fe|ma|ap|ju|au|se|oc|no|de)[a-z]+"
    r"|(?![0-9]{8}|[0-9]{1,4}[\-/.][0-9]|[0-9]{1,2}(?:st|nd|rd|th)?(?:\s+of)?[\s\-/]{0,3}[a-z])[0-9]+)*+"
    r"(?P<at>[0-9]+|[a-z]+)?",
)

DATE_LABELS_SOURCES = {
    "system": (
        r"\b(?:file|files|transmission|transmitted|interchange|batch|created|generated|production"
        r"|processed|process|run|report|printed|posted|check|eft|deposit|deposited|remittance|era"
        r"|acknowledg(?:ed|ement|ment)|ack|as\s+of|isa|gs|bht|sent|uploaded|downloaded|received\s+by)\b"
    ),
    "person": (
        r"\b(?:dob|d\.o\.b|birth|born|birthdate|adm\w*|discharg\w*|service|services|dos|death|died"
        r"|deceased|expired|seen|visit|surgery|procedure|onset|injury|accident|through|thru)\b"
    ),
}
DATE_LABELS = ContextLabels(
    DATE_LABELS_SOURCES,
    window=40,
    word_start=True,  # every label is \b(?:words)\b
)


def _month(name: str) -> int:
    return month_number(name) or 0


def matched_date(match: re.Match[str]) -> date | None:
    """The day a match denotes, or None when its parts are not a real date."""
    if match["iy"] is not None:
        return make_date(int(match["iy"]), int(match["im"]), int(match["id"]))
    if match["cy"] is not None:
        return make_date(int(match["cy"]), int(match["cm"]), int(match["cd"]))
    if match["ua"] is not None:
        if match["usep"] != "/" and len(match["uy"]) == 2:
            return None
        return month_first_date(int(match["ua"]), int(match["ub"]), expand_year(match["uy"]))
    if match["nm"] is not None:
        return make_date(int(match["ny"]), _month(match["nm"]), int(match["nd"]))
    if match["dm"] is not None:
        return make_date(int(match["dy"]), _month(match["dm"]), int(match["dd"]))
    if match["xm"] is not None:
        return make_date(expand_year(match["xy"]), _month(match["xm"]), int(match["xd"]))
    return make_date(int(match["yy"]), _month(match["ym"]), 1)


@functools.lru_cache(maxsize=32)
def written_dates(text: str) -> tuple[tuple[int, int, date], ...]:
    """``(start, end, day)`` of every written date in ``text`` (the date detector's pattern).

    Memoized for the last few texts: the date detector, the known-value layer and the leak check
    all scan the same text for dates, so one record costs one scan.
    """
    if not has_digit(text):
        return ()
    found: list[tuple[int, int, date]] = []
    for match in _DATE_STARTS.finditer(text):
        day = matched_date(match)
        if day is not None:
            found.append((match.start(), match.end(), day))
    return tuple(found)


class DateDetector:
    """Finds dates (kind DATE) in every common written form; see the module docstring."""

    name: ClassVar[str] = "date"

    def find(self, text: str) -> Iterator[Span]:
        """Every real calendar date written in ``text`` (years alone are not dates)."""
        for start, end, _ in written_dates(text):
            if DATE_LABELS.nearest(text, start) != "system":
                yield Span(start, end, IdentifierKind.DATE)
