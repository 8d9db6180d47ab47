"""Web addresses (URLs) and IP addresses.

- URLs: ``http://``, ``https://``, ``ftp://`` and ``www.`` up to the next space, quote or bracket;
  trailing sentence punctuation is not part of the URL.
- IPv4: four dotted octets of 0-255, not inside a longer dotted number (``1.2.3.4.5``).
- IPv6: eight groups, or a shortened form with ``::``, of hexadecimal digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.detector import Span
from redaction.detectors.anchored import AnchoredPattern
from redaction.detectors.precheck import may_hold_network
from redaction.kinds import IdentifierKind

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_NETWORK = re.compile(
    r"(?P<url>(?<![\w])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`\])}|]{1,2000})"
    rf"|(?P<ipv4>(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.[0-9]))"
    r"|(?P<ipv6>(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?(?![\w:]))"
)
# Every form's lookbehind excludes a word character, so a match starts a run of word characters,
# one that begins with a URL scheme or ``www.``, a digit (IPv4) or one to four hex digits and ``:``
# (IPv6). The loop skips every other word whole.
_NETWORK_STARTS = AnchoredPattern(
    _NETWORK, r"(?:\W|(?!https?://|ftp://|www\.|[0-9]|[0-9A-Fa-f]{1,4}:)\w+)*+(?P<at>\w+)?"
)
_TRAILING = ".,;:!?"


class NetworkDetector:
    """Finds URLs (kind URL) and IP addresses (kind IP); see the module docstring."""

    name: ClassVar[str] = "network"

    def find(self, text: str) -> Iterator[Span]:
        """Every URL and IP address of ``text``."""
        if not may_hold_network(text):
            return
        for match in _NETWORK_STARTS.finditer(text):
            if match["url"] is not None:
                end = match.end()
                while end > match.start() + 4 and text[end - 1] in _TRAILING:
                    end -= 1
                yield Span(match.start(), end, IdentifierKind.URL)
            else:
                yield Span(match.start(), match.end(), IdentifierKind.IP)
