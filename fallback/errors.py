"""Exceptions raised by the fallback package, and the translation of sqlite3 errors into them.

Each class says what the caller does next; ``code`` is a stable string for logs, metrics and the
gateway's error mapping. Messages carry ids and codes only, never ticket content, and never the text
of a remote system's error (it can echo PHI back).

    FallbackError                     "fallback"
    +-- SpoolError                    "spool"
    |   +-- SpoolUnavailable          "spool.unavailable"   cannot write or commit: do NOT acknowledge
    |   |   +-- SpoolFull             "spool.full"          ... because the disk (or database) is full
    |   +-- SpoolCorrupt              "spool.corrupt"       stored bytes fail authentication/decoding
    |   +-- LeaseLost                 "spool.lease_lost"    settle by a non-owner or after expiry
    +-- DeliveryError                 "delivery"
        +-- TransientDeliveryError    "delivery.transient"  retry later (``retry_after`` is a floor)
        +-- PermanentDeliveryError    "delivery.permanent"  never retry: dead letter
            +-- SinkGone              "delivery.gone"       HTTP 410: disable the sink for an operator

Third-party exceptions are translated at the boundary into the most specific class and raised
``from`` the original. `SQLITE_ERROR_MAP` lists every `sqlite3.Error` subclass (a test fails when one
is missing); `translate_sqlite_error` applies it, refined by the SQLite primary result code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import ClassVar, Final


class FallbackError(Exception):
    """Base of every error raised by the fallback package."""

    code: ClassVar[str] = "fallback"


class SpoolError(FallbackError):
    """The spool could not do what was asked."""

    code: ClassVar[str] = "spool"


class SpoolUnavailable(SpoolError):
    """Raised when the spool cannot write or commit (disk full, I/O error, locked, read-only, not
    open). Nothing was stored: the caller must not acknowledge its source."""

    code: ClassVar[str] = "spool.unavailable"


class SpoolFull(SpoolUnavailable):
    """Raised when a write fails for want of space: SQLite's SQLITE_FULL (the file system returned
    ENOSPC, or ``max_page_count`` was reached) or PostgreSQL's SQLSTATE 53100 (disk_full). Nothing
    was stored; the gateway stops acknowledging and /readyz reports ``spool.full`` until space
    returns (no restart needed)."""

    code: ClassVar[str] = "spool.full"


class SpoolCorrupt(SpoolError):
    """Raised when stored bytes fail authenticated decryption (wrong or unknown key id, tampered or
    damaged ciphertext), do not decode to a valid payload, or the database file itself is damaged."""

    code: ClassVar[str] = "spool.corrupt"


class LeaseLost(SpoolError):
    """Raised by ``settle`` when the entry is not leased by the caller: another owner holds it, it
    is not leased at all, it does not exist, or the caller's lease has expired. The entry will be
    (or was) leased again; the sink's idempotency makes the repeated delivery harmless."""

    code: ClassVar[str] = "spool.lease_lost"


class DeliveryError(FallbackError):
    """A sink could not deliver a ticket. ``status`` is the remote's HTTP status when there was one
    (set by the sink; it goes into the settlement reason, e.g. ``delivery.permanent:http_422``)."""

    code: ClassVar[str] = "delivery"
    status: int | None = None


class TransientDeliveryError(DeliveryError):
    """Raised by a sink when a later attempt may succeed (timeouts, 5xx, 429, connection refused).

    ``retry_after`` is the remote's requested wait in seconds (e.g. from ``Retry-After``), used as a
    floor for the next attempt, or None.
    """

    code: ClassVar[str] = "delivery.transient"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Raised by a sink when retrying cannot help (4xx other than 408/429, invalid configuration,
    a payload the remote rejects). The entry goes to the dead letter state."""

    code: ClassVar[str] = "delivery.permanent"


class SinkGone(PermanentDeliveryError):
    """Raised when the remote answers 410 Gone: the endpoint was removed on purpose. The worker
    disables the sink (persisted in the spool) and puts the entry back; nothing more is sent to it
    until an operator re-enables it (``rcmgw spool enable SINK``)."""

    code: ClassVar[str] = "delivery.gone"


SQLITE_ERROR_MAP: Final[Mapping[type[sqlite3.Error], type[SpoolError]]] = {
    sqlite3.Error: SpoolUnavailable,
    sqlite3.InterfaceError: SpoolUnavailable,
    sqlite3.DatabaseError: SpoolUnavailable,
    sqlite3.DataError: SpoolUnavailable,
    sqlite3.OperationalError: SpoolUnavailable,
    sqlite3.IntegrityError: SpoolUnavailable,
    sqlite3.InternalError: SpoolUnavailable,
    sqlite3.ProgrammingError: SpoolUnavailable,
    sqlite3.NotSupportedError: SpoolUnavailable,
}
"""Exception class to spool error. Any failure to read or commit means "not stored"."""

# SQLite primary result codes (https://sqlite.org/rescode.html) that mean the file is damaged rather
# than temporarily unusable.
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_CORRUPT_CODES: Final = frozenset({_SQLITE_CORRUPT, _SQLITE_NOTADB})
_SQLITE_FULL: Final = 13


def translate_sqlite_error(exc: sqlite3.Error) -> SpoolError:
    """Map a sqlite3 error to the spool error the caller should see; raise it ``from exc``.

    SQLITE_CORRUPT and SQLITE_NOTADB become `SpoolCorrupt`; SQLITE_FULL becomes `SpoolFull`;
    everything else (busy, locked, read-only, I/O error, cannot open, misuse) becomes the class in
    `SQLITE_ERROR_MAP`. The message holds the SQLite error name only, never SQL text or values.
    """
    errorcode = getattr(exc, "sqlite_errorcode", None)
    errorname = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if isinstance(errorcode, int) and errorcode & 0xFF in _CORRUPT_CODES:
        return SpoolCorrupt(f"spool database damaged ({errorname})")
    if isinstance(errorcode, int) and errorcode & 0xFF == _SQLITE_FULL:
        return SpoolFull(f"spool storage full ({errorname})")
    for klass in type(exc).__mro__:
        target = SQLITE_ERROR_MAP.get(klass)
        if target is not None:
            return target(f"spool storage failed ({errorname})")
    return SpoolUnavailable(f"spool storage failed ({errorname})")


__all__ = [
    "SQLITE_ERROR_MAP",
    "DeliveryError",
    "FallbackError",
    "LeaseLost",
    "PermanentDeliveryError",
    "SinkGone",
    "SpoolCorrupt",
    "SpoolError",
    "SpoolFull",
    "SpoolUnavailable",
    "TransientDeliveryError",
    "translate_sqlite_error",
]
