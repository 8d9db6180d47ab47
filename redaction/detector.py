"""The `Detector` extension point: find identifier spans in free text.

A detector only *finds*; it never rewrites. The `Redactor` merges the spans of every detector and of
the known-value matcher, resolves overlaps (longest span wins) and replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from redaction.kinds import IdentifierKind


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range ``[start, end)`` of the scanned text that holds an identifier of ``kind``."""

    start: int
    end: int
    kind: IdentifierKind

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"empty or negative span {self.start}..{self.end}")


@runtime_checkable
class Detector(Protocol):
    """Finds identifiers of one or more kinds in a text.

    Contract (checked by ``tests/redaction/test_detector_contract.py`` for every registered
    detector and for the test double):

    - ``find(text)`` returns spans inside ``text`` (``0 <= start < end <= len(text)``) in any order.
    - It is pure: no I/O, no state kept between calls, the same text gives the same spans.
    - It never raises on any ``str`` input (empty, huge, control characters, any script); a bug that
      raises is turned into `DetectorFailure` by the redactor, which then fails closed.
    - It runs in time linear in ``len(text)`` (no catastrophic backtracking).
    - ``name`` is a stable identifier used in configuration and in reports.
    """

    @property
    def name(self) -> str:
        """A stable identifier used in configuration and in reports (a class attribute is fine)."""
        ...

    def find(self, text: str) -> Iterable[Span]:
        """Every span of ``text`` that this detector recognises as an identifier."""
        ...


class DetectorRegistry:
    """An explicit name -> detector map. No discovery: detectors are registered by code."""

    def __init__(self) -> None:
        self._detectors: dict[str, Detector] = {}

    def register(self, detector: Detector) -> None:
        """Add ``detector`` under its ``name``; a second detector with the same name is an error."""
        if detector.name in self._detectors:
            raise ValueError(f"detector {detector.name!r} is already registered")
        self._detectors[detector.name] = detector

    def get(self, name: str) -> Detector:
        """The detector called ``name``; `KeyError` names the unknown detector."""
        try:
            return self._detectors[name]
        except KeyError:
            raise KeyError(f"unknown detector {name!r}; known: {sorted(self._detectors)}") from None

    def names(self) -> list[str]:
        """Registered detector names, sorted."""
        return sorted(self._detectors)

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._detectors.values())

    def __len__(self) -> int:
        return len(self._detectors)


def default_detector_registry() -> DetectorRegistry:
    """A registry holding every detector that ships with rcm-gateway."""
    from redaction.detectors import builtin_detectors

    registry = DetectorRegistry()
    for detector in builtin_detectors():
        registry.register(detector)
    return registry
