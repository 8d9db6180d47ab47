"""Exceptions raised by normalizers.

    NormalizationError (code "normalize")              base
    +-- UnsupportedRecord (code "normalize.unsupported")  no normalizer for the record type
    +-- InvalidDraft (code "normalize.invalid")        rules produced a draft the payload rejects
    +-- SealingFailed (code "normalize.sealing")       redaction failed: fail closed, quarantine
    +-- RuleConfigError (code "normalize.rules")       a rules file is invalid (names file and line)

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


class RuleConfigError(NormalizationError):
    """Raised when a rules file cannot be loaded: bad YAML, an unknown condition or action, a bad
    value. ``path`` and ``line`` say where; the message names keys, never ticket data."""

    code = "normalize.rules"

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message
