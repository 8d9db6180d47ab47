"""Test doubles for code that uses redaction (shipped in the package, like ``httpx.MockTransport``).

- `FixedDetector` finds the literal strings it was given; it passes the same contract suite as the
  real detectors (``tests/redaction/test_detector_contract.py``).
- `FailingDetector` raises on every call, to test that callers fail closed. It breaks the
  "never raises" clause of the contract on purpose and is not in the contract suite.
- `deterministic_pseudonymizer` gives a fixed key derived from a label, so test tokens are stable
  across runs. Never use it outside tests: anyone can derive its key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from redaction.detector import Span
from redaction.kinds import IdentifierKind
from redaction.pseudonym import Pseudonymizer, PseudonymKey


class FixedDetector:
    """Finds every occurrence of each given literal (case-sensitive, may overlap) as its kind.

    Empty literals are ignored. Spans are returned sorted by start, then by end.
    """

    def __init__(self, name: str, literals: Mapping[str, IdentifierKind]) -> None:
        self._name = name
        self._literals = {literal: kind for literal, kind in literals.items() if literal}

    @property
    def name(self) -> str:
        """The name given at construction."""
        return self._name

    def find(self, text: str) -> list[Span]:
        """Every occurrence of every literal in ``text``."""
        spans: list[Span] = []
        for literal, kind in self._literals.items():
            start = text.find(literal)
            while start != -1:
                spans.append(Span(start, start + len(literal), kind))
                start = text.find(literal, start + 1)
        return sorted(spans, key=lambda span: (span.start, span.end))


class DetectorBugError(RuntimeError):
    """What `FailingDetector` raises; its message carries the text to prove callers hide it."""


class FailingDetector:
    """Raises `DetectorBugError` (whose message includes the scanned text) on every ``find``."""

    def __init__(self, name: str = "failing") -> None:
        self._name = name

    @property
    def name(self) -> str:
        """The name given at construction."""
        return self._name

    def find(self, text: str) -> list[Span]:
        """Always raises."""
        raise DetectorBugError(f"detector bug while scanning {text!r}")


def deterministic_pseudonymizer(label: str = "test") -> Pseudonymizer:
    """A pseudonymizer whose key is derived from ``label`` (key id ``test-<label>``); tests only."""
    secret = hashlib.sha256(f"rcmgw-test-key:{label}".encode()).digest()
    return Pseudonymizer(PseudonymKey(key_id=f"test-{label}", secret=secret))
