"""Errors of the HL7 v2 adapter; they sit in the `adapters.errors` tree.

    InputRejected (code "input.rejected")
    +-- Hl7Rejected (code "input.hl7.invalid")         cannot be parsed or fails validation: ACK AE/CE
    |   +-- MllpFrameTooLarge (code "input.hl7.frame_too_large")  an MLLP frame over the size limit
    |   +-- Hl7StructureInvalid (code "input.hl7.structure_invalid")  strict mode: fails hl7apy's structure
    +-- UnsupportedInput (code "input.unsupported")
        +-- Hl7Unsupported (code "input.hl7.unsupported")  a message type, version or processing id
                                                           we do not take: ACK AR/CR

Each carries ``hl7_code`` (HL7 table 0357: 100 segment sequence, 101 required field missing, 102
data type error, 200 unsupported message type, 203 unsupported version, 207 application internal
error...) and ``location`` (segment id, segment sequence, field position) for the ERR segment.
Messages name segments and fields, never their values.
"""

from __future__ import annotations

from adapters.errors import InputRejected, InputTooLarge, UnsupportedInput

Location = tuple[str, int, int]
"""(segment id, 1-based sequence of that segment in the message, field position); "" / 0 unknown."""


class Hl7Rejected(InputRejected):
    """Raised when a message cannot be parsed or fails validation (bad MSH, missing required
    segment or field, control characters). Answered with AE (CE in enhanced mode); quarantined."""

    code = "input.hl7.invalid"

    def __init__(self, message: str, *, hl7_code: str = "102", location: Location = ("", 0, 0)) -> None:
        where = f"{location[0]}-{location[2]}" if location[0] and location[2] else location[0] or "message"
        super().__init__(message, [(where, message)])
        self.hl7_code = hl7_code
        self.location = location


class MllpFrameTooLarge(Hl7Rejected, InputTooLarge):
    """Raised when an MLLP frame grows past the configured maximum before its end marker."""

    code = "input.hl7.frame_too_large"


class Hl7StructureInvalid(Hl7Rejected):
    """Raised (returned) when strict mode is on and hl7apy finds the message does not follow its
    version's message structure: a required segment or field missing, too many repetitions, an
    unknown segment, a value of the wrong data type. Answered with AE (CE); quarantined."""

    code = "input.hl7.structure_invalid"


class Hl7Unsupported(UnsupportedInput):
    """Raised for a well-formed message we do not take: unknown message type (200), unknown trigger
    (201), processing id (202) or version (203). Answered with AR (CR in enhanced mode)."""

    code = "input.hl7.unsupported"

    def __init__(self, message: str, *, hl7_code: str = "200", location: Location = ("MSH", 1, 9)) -> None:
        super().__init__(message, [(f"{location[0]}-{location[2]}", message)])
        self.hl7_code = hl7_code
        self.location = location
