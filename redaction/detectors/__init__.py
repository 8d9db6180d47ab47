"""The detectors that ship with rcm-gateway, one module per family of identifiers.

Each module holds one family and its rules in its docstring: `ssn`, `phone` (and fax), `email`,
`dates`, `names`, `address` (and ZIP), `ids` (labelled MRN, member, account, claim, license,
vehicle and device numbers; MBI), `network` (URL, IP) and `age`. Adding a family means adding a
module and one line to `builtin_detectors`; nothing is discovered by name. ``context`` holds the
label-before-a-number helper the number detectors share.
"""

from __future__ import annotations

from redaction.detector import Detector
from redaction.detectors.address import AddressDetector
from redaction.detectors.age import AgeDetector
from redaction.detectors.dates import DateDetector
from redaction.detectors.email import EmailDetector
from redaction.detectors.ids import ContextIdDetector, MbiDetector
from redaction.detectors.names import NameDetector
from redaction.detectors.network import NetworkDetector
from redaction.detectors.phone import NanpPhoneDetector
from redaction.detectors.ssn import SsnDetector

__all__ = [
    "AddressDetector",
    "AgeDetector",
    "ContextIdDetector",
    "DateDetector",
    "EmailDetector",
    "MbiDetector",
    "NameDetector",
    "NanpPhoneDetector",
    "NetworkDetector",
    "SsnDetector",
    "builtin_detectors",
]


def builtin_detectors() -> list[Detector]:
    """A new instance of every built-in detector, in the order the redactor runs them."""
    return [
        SsnDetector(),
        NanpPhoneDetector(),
        EmailDetector(),
        DateDetector(),
        NameDetector(),
        AddressDetector(),
        ContextIdDetector(),
        MbiDetector(),
        NetworkDetector(),
        AgeDetector(),
    ]
