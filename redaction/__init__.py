"""PHI detection and pseudonymization. Imports nothing else of rcm-gateway.

Public surface: `Redactor` (the one object that turns clear values and text into pseudonyms and
redacted text), `Identifier` (a value an adapter marked as PHI), `Detector` (finds spans in free
text), `Pseudonymizer` (keyed HMAC tokens) and the exceptions in `redaction.errors`.
"""

from redaction.detector import Detector, DetectorRegistry, Span, default_detector_registry
from redaction.errors import DetectorFailure, LeakCheckFailure, PseudonymKeyError, RedactionError
from redaction.kinds import IdentifierKind
from redaction.pseudonym import Pseudonymizer, PseudonymKey
from redaction.redactor import (
    POLICY_VERSION,
    Finding,
    Identifier,
    Mark,
    RedactionOutcome,
    Redactor,
    TokenObserver,
)

__all__ = [
    "POLICY_VERSION",
    "Detector",
    "DetectorFailure",
    "DetectorRegistry",
    "Finding",
    "Identifier",
    "IdentifierKind",
    "LeakCheckFailure",
    "Mark",
    "PseudonymKey",
    "PseudonymKeyError",
    "Pseudonymizer",
    "RedactionError",
    "RedactionOutcome",
    "Redactor",
    "Span",
    "TokenObserver",
    "default_detector_registry",
]
