"""The detectors that ship with rcm-gateway, one module per family of identifiers.

Each module holds one family (`ssn`, `phone`, `email`, `dates`) and its rules in its docstring.
Adding a family means adding a module and one line to `builtin_detectors`; nothing is discovered by
name. ``context`` holds the label-before-a-number helper the number detectors share.
"""

from __future__ import annotations

from redaction.detector import Detector
from redaction.detectors.dates import DateDetector
from redaction.detectors.email import EmailDetector
from redaction.detectors.phone import NanpPhoneDetector
from redaction.detectors.ssn import SsnDetector

__all__ = ["DateDetector", "EmailDetector", "NanpPhoneDetector", "SsnDetector", "builtin_detectors"]


def builtin_detectors() -> list[Detector]:
    """A new instance of every built-in detector, in the order the redactor runs them."""
    return [SsnDetector(), NanpPhoneDetector(), EmailDetector(), DateDetector()]
