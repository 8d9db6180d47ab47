"""Errors of the X12 reader. Both are `adapters.errors.InputRejected` subclasses (quarantine, exit 65).

    InputRejected
    +-- X12Rejected (code "input.x12")               the file, an interchange or a transaction set
        |                                            is malformed; names interchange, segment, reason
        +-- X12NotRecognized (code "input.x12.not_x12")  the bytes are not X12 at all (no ISA)

Messages never quote element values (they may be PHI): only segment ids, positions, control
numbers (not PHI) and counts.
"""

from __future__ import annotations

from adapters.errors import InputRejected


class X12Rejected(InputRejected):
    """Raised (or reported as an `adapters.x12.reader.X12Problem`) when X12 input is malformed.
    ``interchange`` is ISA13 (or ``"-"``), ``segment`` the 1-based segment number in the file."""

    code = "input.x12"

    def __init__(self, interchange: str, segment: int, reason: str) -> None:
        self.interchange = interchange
        self.segment = segment
        self.reason = reason
        text = f"interchange {interchange}, segment {segment}: {reason}"
        super().__init__(text, [(f"interchange {interchange} segment {segment}", reason)])


class X12NotRecognized(X12Rejected):
    """Raised when the input does not start with an ISA header (after a BOM and whitespace)."""

    code = "input.x12.not_x12"
