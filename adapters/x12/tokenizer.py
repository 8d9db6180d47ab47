"""A streaming X12 tokenizer: bytes in, ``(segment number, elements)`` out, memory flat.

Delimiters come from each ISA (element separator after ``ISA``, component separator in ISA16, the
segment terminator right after it; repetition separator in ISA11 from version 00402 on). The ISA is
read by counting element separators, never by fixed offsets, so short ISAs and 80-column hard
wraps work. Terminators may be any character, several bytes of UTF-8 (U+2026), a control character
(0x1D) or a newline (files terminated by line ends only).

The text is handled as Latin-1 (one char per byte) so that BIN lengths count bytes, multi-byte
terminators are plain substrings and nothing can fail to decode. A UTF-8 BOM is dropped; UTF-16
input (with or without BOM) is transcoded to UTF-8 bytes first.

Layout noise is ignored: CR/LF anywhere (unless the line end is the terminator), leading spaces and
tabs of a segment. BIN segments carry ``BIN01`` bytes of binary data that may hold any delimiter;
they are skipped by length and their payload is replaced by ``"<binary>"``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from adapters.x12.errors import X12NotRecognized, X12Rejected

CHUNK_SIZE: Final = 1 << 20
_NEWLINES: Final = "\r\n"
_ISA_ELEMENTS: Final = 16
Segment = tuple[int, list[str]]
"""``(number, elements)``: the 1-based segment number in the file and the elements, id first."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators of one interchange. ``segment`` may be several characters (Latin-1 view of a
    multi-byte terminator) or ``"\\n"`` for files terminated by line ends."""

    element: str
    component: str
    repetition: str | None
    segment: str


class _Source:
    """Reads chunks of Latin-1 text from a binary stream, transcoding UTF-16 on the way."""

    def __init__(self, stream: BinaryIO, chunk_size: int) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._utf16: codecs.IncrementalDecoder | None = None
        self._first = True

    def read(self) -> str:
        data = self._stream.read(self._chunk_size)
        if self._first:
            self._first = False
            data = self._sniff_encoding(data)
        if self._utf16 is not None:
            final = not data
            return self._utf16.decode(data, final).encode("utf-8").decode("latin-1")
        return data.decode("latin-1")

    def _sniff_encoding(self, data: bytes) -> bytes:
        if data.startswith(codecs.BOM_UTF8):
            return data[3:]
        if data.startswith(codecs.BOM_UTF16_LE):
            self._utf16 = codecs.getincrementaldecoder("utf-16-le")("replace")
            return data[2:]
        if data.startswith(codecs.BOM_UTF16_BE):
            self._utf16 = codecs.getincrementaldecoder("utf-16-be")("replace")
            return data[2:]
        head = data[:64]
        if len(head) >= 4 and head[1::2].count(0) > len(head[1::2]) // 2:
            self._utf16 = codecs.getincrementaldecoder("utf-16-le")("replace")
        elif len(head) >= 4 and head[0::2].count(0) > len(head[0::2]) // 2:
            self._utf16 = codecs.getincrementaldecoder("utf-16-be")("replace")
        return data


def _terminator_at(text: str, index: int) -> str:
    """The terminator starting at ``text[index]``: a UTF-8 sequence read as Latin-1 is kept whole."""
    lead = ord(text[index])
    width = 1
    if 0xC0 <= lead < 0xE0:
        width = 2
    elif 0xE0 <= lead < 0xF0:
        width = 3
    elif 0xF0 <= lead < 0xF8:
        width = 4
    return text[index : index + width]


def sniff_isa(text: str, start: int, segment: int) -> tuple[Delimiters, list[str], int]:
    """Read the ISA at ``text[start:]``: its delimiters, its 17 elements and the index just past
    its terminator. Raises `X12Rejected` when it is not a complete ISA."""
    element = text[start + 3 : start + 4]
    if not element or element.isalnum() or element in _NEWLINES:
        raise X12Rejected("-", segment, "ISA has no element separator after the segment id")
    index = start + 3
    for _ in range(_ISA_ELEMENTS - 1):
        index = text.find(element, index + 1)
        if index < 0:
            raise X12Rejected("-", segment, "ISA ends before its 16 elements")
    component_at = index + 1
    while component_at < len(text) and text[component_at] in _NEWLINES:
        component_at += 1
    after = component_at + 1
    if after >= len(text):
        raise X12Rejected("-", segment, "ISA has no segment terminator")
    component = text[component_at]
    if text[after] in _NEWLINES:
        probe = after
        while probe < len(text) and text[probe] in _NEWLINES:
            probe += 1
        nxt = text[probe : probe + 1]
        if not nxt or nxt.isalnum() or nxt in " \t":
            terminator, end = "\n", probe
        else:  # hard-wrapped right after ISA16: the terminator is on the next line
            terminator = _terminator_at(text, probe)
            end = probe + len(terminator)
    else:
        terminator = _terminator_at(text, after)
        end = after + len(terminator)
    raw = text[start:component_at]
    if terminator != "\n":
        raw = raw.replace("\r", "").replace("\n", "")
    elements = raw.split(element)
    elements[16:] = [component]
    version = elements[12].strip()
    rep = elements[11]
    repetition = rep if version >= "00402" and len(rep) == 1 and not rep.isalnum() else None
    return Delimiters(element, component, repetition, terminator), elements, end


class X12Tokenizer:
    """Iterates over the segments of a binary X12 stream (see the module docstring).

    ``delimiters`` holds the current interchange's delimiters once the first ISA is read. Raises
    `X12NotRecognized` when the input does not start with ISA, `X12Rejected` for a broken ISA.
    """

    def __init__(self, stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE) -> None:
        self._source = _Source(stream, chunk_size)
        self.delimiters: Delimiters | None = None

    def __iter__(self) -> Iterator[Segment]:
        return self._segments()

    def _segments(self) -> Iterator[Segment]:  # noqa: PLR0915 - one tight loop, kept together for speed
        read = self._source.read
        buf = read()
        eof = not buf
        pos = 0
        number = 0
        expect_isa = True
        delims: Delimiters | None = None
        es = term = ""
        strip_newlines = True
        while True:
            if expect_isa:
                # Between interchanges: skip layout, then a new ISA may bring new delimiters.
                while True:
                    while pos < len(buf) and buf[pos] in " \t\r\n\x00":
                        pos += 1
                    if pos + 512 <= len(buf) or eof:
                        break
                    more = read()
                    eof = not more
                    buf = buf[pos:] + more
                    pos = 0
                if pos >= len(buf):
                    if delims is None:
                        raise X12NotRecognized("-", 0, "input is empty")
                    return
                if buf.startswith("ISA", pos):
                    number += 1
                    delims, isa, pos = sniff_isa(buf, pos, number)
                    self.delimiters = delims
                    es, term = delims.element, delims.segment
                    strip_newlines = term != "\n"
                    expect_isa = False
                    yield number, isa
                    continue
                if delims is None:
                    head = buf[pos : pos + 3].strip()
                    found = head if head.isalnum() else "data that is not X12"
                    if head[:2].isalnum() and not head[2:].isalnum():
                        found = head[:2]
                    raise X12NotRecognized("-", 1, f"input does not start with an ISA header (found {found})")
                expect_isa = False
            end = buf.find(term, pos)
            if end < 0:
                if not eof:
                    more = read()
                    eof = not more
                    buf = buf[pos:] + more
                    pos = 0
                    continue
                seg = buf[pos:]
                pos = len(buf)
                if strip_newlines:
                    seg = seg.replace("\r", "").replace("\n", "")
                seg = seg.strip()
                if seg:
                    number += 1
                    yield number, seg.split(es)
                return
            start = pos
            seg = buf[pos:end]
            pos = end + len(term)
            if strip_newlines:
                if "\n" in seg or "\r" in seg:
                    seg = seg.replace("\r", "").replace("\n", "")
            elif "\r" in seg:
                seg = seg.replace("\r", "")
            if not seg:
                continue
            if seg[0] in " \t\x00":
                seg = seg.lstrip(" \t\x00")
                if not seg:
                    continue
            elements = seg.split(es)
            tag = elements[0]
            if tag == "BIN" and len(elements) > 2:
                buf, pos, elements = self._binary(buf, start, es, term, elements, number + 1)
            elif tag in ("IEA", "ISA"):
                if tag == "ISA":  # an ISA without the IEA before it: re-read its delimiters
                    pos = buf.find("ISA", start)
                expect_isa = True
                if tag == "ISA":
                    continue
            number += 1
            yield number, elements

    def _binary(  # noqa: PLR0917 - the tokenizer loop's locals, passed for speed
        self, buf: str, start: int, es: str, term: str, elements: list[str], number: int
    ) -> tuple[str, int, list[str]]:
        """Skip a BIN segment's payload by its declared length (it may contain any delimiter)."""
        size_text = elements[1].strip()
        if not size_text.isdigit():
            raise X12Rejected("-", number, "BIN01 is not a byte count")
        size = int(size_text)
        first = buf.find(es, buf.find("BIN", start))
        payload = buf.find(es, first + 1) + 1
        while len(buf) < payload + size + len(term) + 2:
            more = self._source.read()
            if not more:
                break
            buf += more
        if len(buf) < payload + size:
            raise X12Rejected("-", number, "BIN payload is shorter than BIN01")
        pos = payload + size
        while buf.startswith(("\r", "\n"), pos):
            pos += 1
        if buf.startswith(term, pos):
            pos += len(term)
        return buf, pos, ["BIN", size_text, "<binary>"]


def iter_segments(stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Segment]:
    """The segments of ``stream`` (see `X12Tokenizer`)."""
    return iter(X12Tokenizer(stream, chunk_size=chunk_size))


def looks_like_x12(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts like X12: ISA after an optional BOM and
    whitespace, in UTF-8 or UTF-16."""
    data = head
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if data.startswith(bom):
            data = data[len(bom) :]
            break
    data = data.replace(b"\x00", b"").lstrip(b" \t\r\n")
    if data.startswith(b"ISA"):
        return True
    # a headerless envelope (GS*..., ST*...) is X12 too: it is read and rejected for its missing ISA
    return re.match(rb"(GS|ST)[*|~^:>+]", data) is not None
