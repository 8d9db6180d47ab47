"""One input (an MLLP frame, an HTTP body, a file) -> one `ParsedMessage` per message in it.

Each message is parsed, its header checked and its record built on its own: a bad message yields a
`ParsedMessage` with ``error`` set and never affects its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.base import SourceRecord
from adapters.hl7v2.errors import Hl7Rejected, Hl7Unsupported
from adapters.hl7v2.header import MessageHeader, check_header, read_header, salvage_header
from adapters.hl7v2.message import Chunk, Envelope, parse_chunk, split_envelope
from adapters.hl7v2.records import build_record


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One message of an input: its header (salvaged when it did not parse), and either a record
    or the error that decides its AE/AR."""

    header: MessageHeader
    raw: bytes = field(repr=False)
    record: SourceRecord | None = None
    error: Hl7Rejected | Hl7Unsupported | None = None


@dataclass(frozen=True, slots=True)
class ParsedInput:
    """Every message of an input, in order; ``batch`` when it came in FHS/BHS."""

    messages: list[ParsedMessage]
    batch: bool


def parse_one(chunk: Chunk, *, received_at: datetime, source_system: str | None = None) -> ParsedMessage:
    """Parse, check and build the record of one message chunk; errors are returned, not raised."""
    try:
        message = parse_chunk(chunk)
    except Hl7Rejected as error:
        return ParsedMessage(header=salvage_header(chunk), raw=chunk.raw, error=error)
    header = read_header(message)
    try:
        check_header(header)
        record = build_record(header, message, received_at=received_at, source_system=source_system)
    except (Hl7Rejected, Hl7Unsupported) as error:
        return ParsedMessage(header=header, raw=chunk.raw, error=error)
    return ParsedMessage(header=header, raw=chunk.raw, record=record)


def parse_input(
    data: bytes, *, received_at: datetime | None = None, source_system: str | None = None
) -> ParsedInput:
    """Every message in ``data``."""
    envelope: Envelope = split_envelope(data)
    when = received_at or datetime.now(UTC)
    messages = [parse_one(chunk, received_at=when, source_system=source_system) for chunk in envelope.chunks]
    return ParsedInput(messages=messages, batch=envelope.batch)
