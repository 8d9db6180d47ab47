"""`SealedTicket`: a `TicketPayload` that has been through the redactor, the only type that the spool
and the sinks accept.

It cannot be built by calling the class. It is made in exactly two places:

- `normalizers.sealing.seal`, which runs the draft through the `redaction.Redactor` first; a test
  checks that no other module references the sealing capability;
- `SealedTicket.restore`, for bytes that come back out of the spool. The spool stores only the
  ``body`` of sealed tickets, encrypted with an authenticated cipher (AES-256-GCM), so what it
  decrypts was sealed when it went in.
"""

from __future__ import annotations

from typing import Final, NoReturn

from normalizers.payload import TicketPayload

_SEAL_CAPABILITY: Final = object()


class SealedTicket:
    """A PHI-free ticket payload plus its canonical JSON bytes (what is stored and delivered)."""

    __slots__ = ("_body", "_payload")
    _payload: TicketPayload
    _body: bytes

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "SealedTicket is made only by normalizers.sealing.seal() (or restored from the spool)"
        )

    @classmethod
    def _create(cls, capability: object, payload: TicketPayload) -> SealedTicket:
        if capability is not _SEAL_CAPABILITY:
            raise TypeError("SealedTicket._create needs the sealing capability")
        ticket = object.__new__(cls)
        object.__setattr__(ticket, "_payload", payload)
        object.__setattr__(ticket, "_body", payload.canonical_json())
        return ticket

    @classmethod
    def restore(cls, body: bytes) -> SealedTicket:
        """Rebuild a sealed ticket from bytes that the spool decrypted (see the module docstring).

        Raises `pydantic.ValidationError` when ``body`` is not a valid payload.
        """
        payload = TicketPayload.model_validate_json(body)
        ticket = object.__new__(cls)
        object.__setattr__(ticket, "_payload", payload)
        object.__setattr__(ticket, "_body", bytes(body))
        return ticket

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("SealedTicket is immutable")

    @property
    def payload(self) -> TicketPayload:
        """The validated payload."""
        return self._payload

    @property
    def body(self) -> bytes:
        """Canonical JSON bytes of the payload."""
        return self._body

    @property
    def id(self) -> str:
        """The ticket id (``tkt_...``), stable for the same input: sinks use it as idempotency key."""
        return self._payload.id

    @property
    def fingerprint(self) -> str:
        """The dedup fingerprint of the problem (``fp_...``)."""
        return self._payload.fingerprint

    def __repr__(self) -> str:
        return f"SealedTicket(id={self.id!r}, fingerprint={self.fingerprint!r})"
