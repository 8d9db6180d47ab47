"""Building ACK messages: MSA-1 code, MSA-2 echoing MSH-10, and an ERR segment in the style of the
message's version (ERR-1 for v2.4 and earlier; ERR-2..ERR-8 from v2.5).

Original mode answers AA/AE/AR; enhanced mode (MSH-15 or MSH-16 valued) answers the commit codes
CA/CE/CR. ACKs use the sender's delimiters and version, so a sender with ``^~|\\&`` gets them back.
Every text written here is the gateway's own (codes, field names): never a value from the message.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from adapters.hl7v2.encoding import STANDARD, Encoding
from adapters.hl7v2.errors import Location
from adapters.hl7v2.header import MessageHeader

GATEWAY_APPLICATION = "RCMGW"
_ENHANCED = {"AA": "CA", "AE": "CE", "AR": "CR"}
_ERROR_NAMES = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
_PREFIX = secrets.token_hex(4)
_COUNTER = itertools.count(1)


class AckCode(StrEnum):
    """Original-mode acknowledgement codes; `ack_code_for` maps them to enhanced mode."""

    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


@dataclass(frozen=True, slots=True)
class AckError:
    """What goes into the ERR segment. ``text`` is the gateway's own PHI-free sentence;
    ``application_code`` is a gateway error code (``input.hl7.invalid``, ``spool.unavailable``);
    ``diagnostic`` an operator hint such as the quarantine id."""

    hl7_code: str
    text: str
    location: Location = ("", 0, 0)
    application_code: str = ""
    diagnostic: str = ""
    severity: str = "E"


def ack_code_for(code: AckCode, header: MessageHeader) -> str:
    """MSA-1 for ``code``: the commit code (CA/CE/CR) in enhanced mode, else the original code."""
    return _ENHANCED[code.value] if header.enhanced_mode else code.value


def new_control_id() -> str:
    """A control id for an ACK: unique within this process, random across processes (19 chars)."""
    return f"{_PREFIX}{next(_COUNTER) % 10**11:011d}"


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def build_ack(
    header: MessageHeader,
    code: AckCode,
    *,
    error: AckError | None = None,
    now: datetime | None = None,
    control_id: str | None = None,
) -> str:
    """The ACK for a message with ``header``, as text with CR segment ends."""
    enc = header.encoding
    esc = enc.escape_text
    f = enc.field
    c = enc.component
    version = header.version or "2.5"
    if header.trigger and version not in ("2.2",):
        message_type = f"ACK{c}{esc(header.trigger)}" + (f"{c}ACK" if header.err_style_v25 else "")
    else:
        message_type = "ACK"
    msh = f.join(
        [
            "MSH" + f + enc.msh2[:4],
            esc(header.receiving_application or GATEWAY_APPLICATION),
            esc(header.receiving_facility),
            esc(header.sending_application),
            esc(header.sending_facility),
            _timestamp(now or datetime.now(UTC)),
            "",
            message_type,
            control_id or new_control_id(),
            esc(header.processing_id or "P"),
            esc(version),
        ]
    )
    msa_fields = ["MSA", ack_code_for(code, header), esc(header.control_id)]
    if error is not None:
        msa_fields.append(esc(error.text))
    segments = [msh, f.join(msa_fields)]
    if error is not None:
        segments.append(_err_segment(header, error, enc))
    return "\r".join(segments) + "\r"


def _err_segment(header: MessageHeader, error: AckError, enc: Encoding) -> str:
    esc = enc.escape_text
    f, c, s = enc.field, enc.component, enc.subcomponent
    segment_id, sequence, position = error.location
    name = _ERROR_NAMES.get(error.hl7_code, "Application internal error")
    if header.err_style_v25:
        location = (
            c.join([segment_id, str(sequence or 1), str(position)]) if segment_id and position else segment_id
        )
        fields = [
            "ERR",
            "",
            location,
            c.join([error.hl7_code, esc(name), "HL70357"]),
            error.severity,
            esc(error.application_code),
            "",
            esc(error.diagnostic),
            esc(error.text),
        ]
        return f.join(fields).rstrip(f)
    code = s.join([error.hl7_code, esc(name), "HL70357"])
    eld = c.join([segment_id, str(sequence) if segment_id else "", str(position) if position else "", code])
    return f.join(["ERR", eld])


def build_batch_ack(acks: list[str], *, now: datetime | None = None) -> str:
    """Acknowledgements of a batch, wrapped in BHS ... BTS (BTS-1 counts the messages)."""
    enc = STANDARD
    stamp = _timestamp(now or datetime.now(UTC))
    bhs = enc.field.join(["BHS" + enc.field + enc.msh2[:4], GATEWAY_APPLICATION, "", "", "", stamp])
    bts = enc.field.join(["BTS", str(len(acks))])
    return bhs + "\r" + "".join(acks) + bts + "\r"
