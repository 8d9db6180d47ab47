"""`MllpWritebackSink`: the write-back as an outbound HL7 v2 message over MLLP, for sites whose
revenue platform takes status notifications on an interface engine.

One message per write-back ticket (ids and codes only, see `gateway.sync_status`)::

    MSH|^~\\&|RCMGW|RCM-GATEWAY|<receiving app>|<receiving facility>|<YYYYMMDDHHMMSS>||
        ZRC^Z01^ZRC|<control id>|P|2.5.1
    ZRC|<gateway ticket id>|<status>|<ticketing system>|<remote id>|<category>|<payer id>|
        <tier>|<code system^code~...>

(each segment on one line)

The control id (MSH-10) is derived from the write-back ticket id, so a retry carries the same one
and the receiver can de-duplicate. The sink waits for the ACK: ``AA``/``CA`` delivered, ``AE``/``CE``
(or no ACK, a timeout, a dropped connection) is retried through the spool, ``AR``/``CR`` is a dead
letter. Field values are HL7-escaped. TLS when ``tls`` is set (server certificate verified).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from datetime import UTC

from fallback.errors import PermanentDeliveryError, TransientDeliveryError
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket

START, END = b"\x0b", b"\x1c\x0d"
_ESCAPES = (
    ("\\", "\\E\\"),
    ("|", "\\F\\"),
    ("^", "\\S\\"),
    ("&", "\\T\\"),
    ("~", "\\R\\"),
    ("\r", " "),
    ("\n", " "),
)


def _esc(value: object) -> str:
    text = "" if value is None else str(value)
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def control_id(ticket: SealedTicket) -> str:
    """MSH-10 of a write-back ticket: stable across retries, at most 20 characters."""
    return "RC" + hashlib.sha256(ticket.id.encode()).hexdigest()[:18]


def writeback_message(ticket: SealedTicket, receiving_app: str, receiving_facility: str) -> bytes:
    """The HL7 v2 message of a write-back ticket (see the module docstring)."""
    p = ticket.payload
    ids = p.source.control_ids
    stamp = p.received_at.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    codes = "~".join(f"{_esc(c.system)}^{_esc(c.code)}" for c in p.codes)
    msh = (
        f"MSH|^~\\&|RCMGW|RCM-GATEWAY|{_esc(receiving_app)}|{_esc(receiving_facility)}|{stamp}||ZRC^Z01^ZRC|"
        f"{control_id(ticket)}|P|2.5.1"
    )
    zrc = "|".join([
        "ZRC",
        _esc(p.lifecycle.of if p.lifecycle is not None else ""),
        _esc(ids.get("status", "")),
        _esc(ids.get("sink", "")),
        _esc(ids.get("remote_id", "")),
        _esc(p.category),
        _esc(p.payer.id if p.payer is not None else ""),
        str(p.tier),
        codes,
    ])  # fmt: skip
    return (msh + "\r" + zrc + "\r").encode("utf-8")


def ack_code(frame: bytes) -> str | None:
    """MSA-1 of an ACK message, or None when there is no MSA segment."""
    for segment in frame.decode("utf-8", "replace").replace("\n", "\r").split("\r"):
        if segment.startswith("MSA|"):
            fields = segment.split("|")
            return fields[1] if len(fields) > 1 else None
    return None


class MllpWritebackSink:
    """A `fallback.sink.Sink` (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str = "hl7-writeback",
        receiving_app: str = "RCM",
        receiving_facility: str = "",
        tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._host, self._port = host, port
        self._receiving = (receiving_app, receiving_facility)
        self._ssl = ssl.create_default_context() if tls else None
        self._timeout = timeout
        self._open = False

    async def open(self) -> None:
        """Nothing to prepare (one connection per message)."""
        self._open = True

    async def aclose(self) -> None:
        """Idempotent."""
        self._open = False

    async def deliver(self, ticket: SealedTicket, idempotency_key: str) -> DeliveryReceipt:
        """Send the message, wait for its ACK."""
        if not self._open:
            raise RuntimeError(f"sink {self.name!r} is not open")
        message = writeback_message(ticket, *self._receiving)
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._ssl)
                try:
                    writer.write(START + message + END)
                    await writer.drain()
                    frame = await reader.readuntil(END)
                finally:
                    writer.close()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            raise TransientDeliveryError(f"{self.name}: no ACK ({type(error).__name__})") from None
        code = ack_code(frame.removeprefix(START).removesuffix(END))
        if code in ("AA", "CA"):
            return DeliveryReceipt(remote_id=control_id(ticket), duplicate=False)
        if code in ("AR", "CR"):
            raise PermanentDeliveryError(f"{self.name}: message rejected ({code})")
        raise TransientDeliveryError(f"{self.name}: message not accepted ({code or 'no MSA'})")


__all__ = ["MllpWritebackSink", "ack_code", "control_id", "writeback_message"]
