"""Exceptions raised by normalizers.

    NormalizationError (code "normalize")              base
    +-- UnsupportedRecord (code "normalize.unsupported")  no normalizer for the record type
    +-- InvalidDraft (code "normalize.invalid")        rules produced a draft the payload rejects
    +-- SealingFailed (code "normalize.sealing")       redaction failed: fail closed, quarantine

Messages carry record types, rule ids and field names, never values.
"""

from __future__ import annotations


class NormalizationError(Exception):
    """Base class of normalization errors."""

    code = "normalize"


class UnsupportedRecord(NormalizationError):
    """Raised when no normalizer handles a record type."""

    code = "normalize.unsupported"


class InvalidDraft(NormalizationError):
    """Raised when a draft cannot become a valid `TicketPayload` (a bug in a rule or a table)."""

    code = "normalize.invalid"


class SealingFailed(NormalizationError):
    """Raised when the redactor fails on a draft. The record is quarantined, never spooled."""

    code = "normalize.sealing"
