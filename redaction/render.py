"""How a replaced span is written into text: its token, plus what Safe Harbor lets a reader keep.

A text token is the identifier's pseudonym (`Pseudonymizer.token`) with, for two kinds, a public
part added to its label; the code after the colon is the same as the structural token's, so tickets
still group by it:

- ZIP codes keep their first three digits (``[ZIP_021:ABCD-EFGH]``), except the three-digit areas
  that the Census counts at 20,000 people or fewer, which Safe Harbor requires to become ``000``
  (``[ZIP_000:...]``);
- dates (DATE, DOB) keep their year (``[DOB_1980:ABCD-EFGH]``) unless the year is more than 89
  years back, which would reveal an age over 89: then no year is kept (``[DOB:ABCD-EFGH]``).

Everything else is its plain token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from redaction.date_forms import parse_date
from redaction.kinds import IdentifierKind
from redaction.normalize import ValueFamily, family_of, id_chars
from redaction.pseudonym import Pseudonymizer

# 45 CFR 164.514(b)(2)(i)(B): the three-digit ZIP areas with 20,000 or fewer people (2000 Census),
# as listed by HHS in its de-identification guidance.
RESTRICTED_ZIP3 = frozenset(
    {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
     "884", "890", "893"}
)  # fmt: skip
MAX_KEPT_AGE_YEARS = 89


def today_utc() -> date:
    """Today's date in UTC (the default clock for the year rule)."""
    return datetime.now(UTC).date()


def zip3(value: str) -> str:
    """The ZIP3 Safe Harbor lets a reader keep for ``value``: its first three digits, or ``000``."""
    digits = id_chars(value)[:3]
    if len(digits) < 3 or not digits.isdigit() or digits in RESTRICTED_ZIP3:
        return "000"
    return digits


class TokenRenderer:
    """Writes text tokens: `Pseudonymizer.token` plus the kept part of ZIPs and dates.

    Contract: ``render(kind, value)`` always matches ``redaction.pseudonym.TOKEN_PATTERN`` and its
    code (after the colon) equals ``pseudonymizer.token(kind, value)``'s.
    """

    def __init__(self, pseudonymizer: Pseudonymizer, today: Callable[[], date] = today_utc) -> None:
        self._pseudonymizer = pseudonymizer
        self._today = today

    def kept(self, kind: IdentifierKind, value: str) -> str | None:
        """The public part kept for ``value`` as ``kind``, or None."""
        if kind is IdentifierKind.ZIP:
            return zip3(value)
        if family_of(kind) is ValueFamily.DATE:
            parsed = parse_date(value)
            if parsed is not None and self._today().year - parsed.year <= MAX_KEPT_AGE_YEARS:
                return f"{parsed.year:04d}"
        return None

    def render(self, kind: IdentifierKind, value: str) -> str:
        """The text token for ``value`` as ``kind``."""
        return self._pseudonymizer.token(kind, value, kept=self.kept(kind, value))

    def render_pair(self, kind: IdentifierKind, value: str) -> tuple[str, str]:
        """``(pseudonymizer.token(kind, value), render(kind, value))`` with one HMAC."""
        return self._pseudonymizer.token_pair(kind, value, kept=self.kept(kind, value))
