"""Exceptions raised by adapters.

    AdapterError (code "adapter")                         base
    +-- InputRejected (code "input.rejected")             the input is malformed; quarantine it, tell
    |   |                                                 the sender (HTTP 4xx, MLLP AE, exit 65)
    |   +-- InputTooLarge (code "input.too_large")        over the configured size limit
    |   +-- UnsupportedInput (code "input.unsupported")   well formed but of a type we do not take (AR)
    +-- SourceUnavailable (code "source.unavailable")     the upstream cannot be reached; retry later

`InputRejected` carries ``problems``: a list of (location, message) pairs that name the field and
say what is wrong without ever quoting the value (values may be PHI).
"""

from __future__ import annotations

from collections.abc import Sequence


class AdapterError(Exception):
    """Base class of adapter errors."""

    code = "adapter"


class InputRejected(AdapterError):
    """Raised when an input cannot be parsed or fails validation. Quarantine it; never retry it."""

    code = "input.rejected"

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        self.quarantine_id: str | None = None


class InputTooLarge(InputRejected):
    """Raised when an input is larger than the configured limit, before it is parsed."""

    code = "input.too_large"


class UnsupportedInput(InputRejected):
    """Raised for a well-formed input of a type or version the adapter does not handle."""

    code = "input.unsupported"


class SourceUnavailable(AdapterError):
    """Raised when the upstream system cannot be reached; the caller backs off and tries again."""

    code = "source.unavailable"
