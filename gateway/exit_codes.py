"""CLI exit codes (from BSD sysexits), and the one mapping from exception class to code."""

from __future__ import annotations

from enum import IntEnum

from adapters.errors import AdapterError, InputRejected, SourceUnavailable
from fallback.errors import SpoolError
from gateway.pipeline import RecordQuarantined
from normalizers.errors import NormalizationError


class ExitCode(IntEnum):
    """What ``rcmgw`` returns."""

    OK = 0
    USAGE = 2
    DATA_ERROR = 65
    UNAVAILABLE = 69
    INTERNAL = 70


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code for an exception that ended a command."""
    if isinstance(error, InputRejected | RecordQuarantined | NormalizationError):
        return ExitCode.DATA_ERROR
    if isinstance(error, SpoolError | SourceUnavailable):
        return ExitCode.UNAVAILABLE
    if isinstance(error, AdapterError):
        return ExitCode.DATA_ERROR
    return ExitCode.INTERNAL
