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
