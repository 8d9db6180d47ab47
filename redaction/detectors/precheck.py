"""Cheap pre-checks that let a detector skip a text it cannot match.

Every pattern of the number-shaped detectors (SSN, phone, date, address, labelled ids, MBI, age)
needs at least one ASCII digit, an e-mail address needs an ``@`` and a URL or IP address a ``.``
or ``:``. Testing that with one C-level search is far cheaper than running the full pattern, and
most free-text error messages and notes fail at least one of these tests.
"""

from __future__ import annotations

import re

_DIGIT = re.compile(r"[0-9]").search


def has_digit(text: str) -> bool:
    """Whether ``text`` holds an ASCII digit (every number-shaped pattern needs one)."""
    return _DIGIT(text) is not None


def may_hold_network(text: str) -> bool:
    """Whether ``text`` could hold a URL or IP address (each needs a ``.`` or a ``:``)."""
    return "." in text or ":" in text


_PHONE_SHAPE = re.compile(r"[0-9]{3}[\s.\-)]{0,3}[0-9]{3}[\s.\-]?[0-9]{4}").search
_SSN_SHAPE = re.compile(r"[0-9]{3}[\- ]?[0-9]{2}[\- ]?[0-9]{4}").search


def may_hold_phone(text: str) -> bool:
    """Whether ``text`` holds ten digits grouped 3-3-4 with at most the separators a NANP number
    allows (``) ``, ``-``, ``.``, spaces); every phone form needs that. This pattern starts with a
    character class, which the regex engine skips to quickly, unlike the lookbehinds of the
    detector's own pattern."""
    return _PHONE_SHAPE(text) is not None


def may_hold_ssn(text: str) -> bool:
    """Whether ``text`` holds nine digits grouped 3-2-4 (optionally by ``-`` or a space)."""
    return _SSN_SHAPE(text) is not None
