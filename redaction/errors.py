"""Exceptions raised by redaction.

    RedactionError (code "redaction")            base; the record must fail closed (quarantine)
    +-- PseudonymKeyError (code "redaction.key") the pseudonym key is missing, short or unreadable
    +-- DetectorFailure (code "redaction.detector")  a detector raised; the text was not redacted
    +-- LeakCheckFailure (code "redaction.leak")     a clear identifier survived redaction
    +-- VaultError (code "redaction.vault")          the re-identification vault failed

Messages carry kinds, detector names and counts, never the values.
"""

from __future__ import annotations


class RedactionError(Exception):
    """Base class: redaction could not guarantee a PHI-free result; the caller fails closed."""

    code = "redaction"


class PseudonymKeyError(RedactionError):
    """Raised when the pseudonym key cannot be loaded or is shorter than 32 bytes."""

    code = "redaction.key"


class DetectorFailure(RedactionError):
    """Raised when a detector fails on a text; the text is treated as unredactable."""

    code = "redaction.detector"


class LeakCheckFailure(RedactionError):
    """Raised when the final check finds a known clear value still present in redacted output."""

    code = "redaction.leak"


class VaultError(RedactionError):
    """Raised when the re-identification vault cannot store or read a token (a bad key, a damaged
    or unwritable database); while sealing, the record fails closed."""

    code = "redaction.vault"
