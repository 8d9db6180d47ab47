"""The hot-path HL7 v2 parser: bytes -> messages -> segments -> fields, with no schema.

It is deliberately small and fast (see docs/PERFORMANCE.md: hl7apy builds a typed tree and parses
about 10-15 of our messages per second here). Structure checks that matter for acknowledging and
ticketing (MSH, versions, required segments) are done by `adapters.hl7v2.validate`.

Input quirks handled: CR, LF or CRLF segment ends, a UTF-8 BOM, Latin-1 bytes (when the bytes are
not UTF-8 or MSH-18 says 8859/1), any delimiters declared by MSH-1/MSH-2, blank lines, batches
(FHS/BHS ... BTS/FTS) with or without trailers, and several MSH in one input without batch headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adapters.hl7v2.encoding import Encoding
from adapters.hl7v2.errors import Hl7Rejected

_BOM = "\ufeff"
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
ENVELOPE_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})
_HEADERS = frozenset({"MSH", "FHS", "BHS"})


@dataclass(slots=True)
class Segment:
    """One segment. ``fields[n]`` is field *n* as written (escaped); for MSH, ``fields[1]`` is the
    field separator and ``fields[2]`` the encoding characters, as the standard numbers them."""

    name: str
    fields: list[str]
    encoding: Encoding
    sequence: int = 1

    def raw(self, position: int) -> str:
        """Field ``position`` as written ("" when absent)."""
        return self.fields[position] if 0 <= position < len(self.fields) else ""

    def repetitions(self, position: int) -> list[str]:
        """The repetitions of field ``position`` as written (empty list when the field is empty)."""
        value = self.raw(position)
        return value.split(self.encoding.repetition) if value else []

    def value(self, position: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        """One (sub)component of one repetition, unescaped and stripped ("" when absent)."""
        if position in (1, 2) and self.name in _HEADERS:
            return self.raw(position)
        reps = self.repetitions(position)
        if len(reps) < repetition:
            return ""
        components = reps[repetition - 1].split(self.encoding.component)
        if len(components) < component:
            return ""
        subs = components[component - 1].split(self.encoding.subcomponent)
        if len(subs) < subcomponent:
            return ""
        return self.encoding.unescape(subs[subcomponent - 1]).strip()

    def components(self, position: int, repetition: int = 1) -> list[str]:
        """Every component of one repetition, unescaped (first subcomponent of each)."""
        reps = self.repetitions(position)
        if len(reps) < repetition:
            return []
        return self.split_components(reps[repetition - 1])

    def split_components(self, repetition: str) -> list[str]:
        """Every component of ``repetition`` (one repetition as written), unescaped (first
        subcomponent of each), stripped."""
        unescape, subcomponent = self.encoding.unescape, self.encoding.subcomponent
        return [
            unescape(part.split(subcomponent)[0]).strip()
            for part in repetition.split(self.encoding.component)
        ]

    def text(self) -> str:
        """The segment as written."""
        if self.name in _HEADERS:
            return self.name + self.encoding.field + self.encoding.field.join(self.fields[2:])
        return self.encoding.field.join(self.fields)


@dataclass(slots=True)
class Hl7Message:
    """One message: its segments (MSH first) and delimiters."""

    encoding: Encoding
    segments: list[Segment]
    raw: bytes = field(repr=False, default=b"")

    @property
    def msh(self) -> Segment:
        """The MSH segment."""
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        """The first segment called ``name``."""
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def all(self, name: str) -> list[Segment]:
        """Every segment called ``name``, in order."""
        return [segment for segment in self.segments if segment.name == name]

    def names(self) -> list[str]:
        """Segment ids in order."""
        return [segment.name for segment in self.segments]


@dataclass(slots=True)
class Chunk:
    """The lines of one message (or of a stray run of lines before the first MSH) and its bytes."""

    lines: list[str]
    raw: bytes = field(repr=False, default=b"")


@dataclass(slots=True)
class Envelope:
    """What one input held: message chunks in order, and whether it was a batch (FHS/BHS) and
    which trailers it had."""

    chunks: list[Chunk]
    batch: bool = False
    header: list[str] = field(default_factory=list)
    trailers: list[str] = field(default_factory=list)


def decode(data: bytes) -> str:
    """Bytes -> text: UTF-8 (BOM stripped), else Latin-1 (any byte sequence decodes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.lstrip(_BOM)


def lines_of(text: str) -> list[str]:
    """Segments of ``text``: CR, LF and CRLF all end a segment; blank lines are dropped."""
    return [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line.strip()]


def split_envelope(data: bytes) -> Envelope:
    """Split an input (one MLLP frame, one HTTP body, one file) into message chunks.

    Each MSH starts a message. FHS/BHS/BTS/FTS are envelope segments; missing trailers are
    tolerated. Lines before the first MSH that are not envelope segments form a chunk of their own
    (it will be rejected: it has no MSH).
    """
    text = decode(data)
    envelope = Envelope(chunks=[])
    current: list[str] | None = None
    stray: list[str] = []
    for line in lines_of(text):
        head = line[:3]
        if head == "MSH":
            if stray:
                envelope.chunks.append(Chunk(stray))
                stray = []
            current = [line]
            envelope.chunks.append(Chunk(current))
        elif head in ("FHS", "BHS"):
            envelope.batch = True
            envelope.header.append(line)
            current = None
        elif head in ("BTS", "FTS"):
            envelope.trailers.append(line)
            current = None
        elif current is not None:
            current.append(line)
        else:
            stray.append(line)
    if stray:
        envelope.chunks.append(Chunk(stray))
    if not envelope.chunks and not envelope.header:
        envelope.chunks.append(Chunk([]))
    charset_latin1 = _declares_latin1(envelope)
    for chunk in envelope.chunks:
        body = "\r".join(chunk.lines) + "\r"
        chunk.raw = body.encode("latin-1" if charset_latin1 and _fits_latin1(body) else "utf-8")
    return envelope


def _declares_latin1(envelope: Envelope) -> bool:
    return any("8859/1" in chunk.lines[0] for chunk in envelope.chunks if chunk.lines)


def _fits_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def parse_chunk(chunk: Chunk) -> Hl7Message:
    """Parse one message's lines. Raises `Hl7Rejected` (with an HL7 error code and location) when
    there is no usable MSH, a delimiter is invalid, a control character appears, or a segment id is
    malformed."""
    if not chunk.lines:
        raise Hl7Rejected("the input holds no HL7 segments", hl7_code="100", location=("MSH", 1, 0))
    first = chunk.lines[0]
    if not first.startswith("MSH"):
        raise Hl7Rejected("the message does not start with an MSH segment", hl7_code="100")
    if len(first) < 8:
        raise Hl7Rejected("the MSH segment is truncated", hl7_code="100", location=("MSH", 1, 2))
    separator = first[3]
    msh2 = first[4:].split(separator, 1)[0]
    try:
        encoding = Encoding.from_msh(separator, msh2)
    except ValueError as error:
        raise Hl7Rejected(str(error), hl7_code="102", location=("MSH", 1, 2)) from None
    segments: list[Segment] = []
    counts: dict[str, int] = {}
    for number, line in enumerate(chunk.lines, start=1):
        control = _CONTROL.search(line)
        if control is not None:
            raise Hl7Rejected(
                f"segment {number} holds control character 0x{ord(control.group()):02X}",
                hl7_code="102",
                location=(line[:3] if _SEGMENT_ID.fullmatch(line[:3]) else "", number, 0),
            )
        name = line[:3]
        if not _SEGMENT_ID.fullmatch(name) or (len(line) > 3 and line[3] != separator):
            raise Hl7Rejected(f"segment {number} has no valid segment id", hl7_code="100")
        counts[name] = counts.get(name, 0) + 1
        if name == "MSH":
            if number != 1:
                raise Hl7Rejected("a second MSH segment inside one message", hl7_code="100")
            fields = ["MSH", separator, *line[4:].split(separator)]
        else:
            fields = line.split(separator)
        segments.append(Segment(name, fields, encoding, counts[name]))
    return Hl7Message(encoding=encoding, segments=segments, raw=chunk.raw)


def parse_message(data: bytes) -> Hl7Message:
    """Parse an input that must hold exactly one message (tests, tools)."""
    envelope = split_envelope(data)
    if len(envelope.chunks) != 1:
        raise Hl7Rejected(f"expected one message, found {len(envelope.chunks)}", hl7_code="100")
    return parse_chunk(envelope.chunks[0])
