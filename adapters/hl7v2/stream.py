"""Streaming HL7 v2 batch reading: a file or body of any size -> message chunks, one at a time.

`read_chunks` gives exactly the chunks `adapters.hl7v2.message.split_envelope` gives for the same
bytes (same lines, same order, same ``raw`` bytes), but reads the stream in blocks and holds one
message at a time, so memory does not grow with the number of messages in a batch file.

`split_envelope` decides two things over the whole input: the text codec (UTF-8, or Latin-1 when
any byte is not UTF-8) and whether any message declares ISO 8859/1 (then each chunk's ``raw`` is
Latin-1 when it fits). A seekable stream gets a first, constant-memory pass for both
(`sniff_charset`); a non-seekable one must be given them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from adapters.hl7v2.message import Chunk

BLOCK = 256 * 1024
_BOM_BYTES = b"\xef\xbb\xbf"
_BOM = "\ufeff"
_LATIN1_MARK = b"8859/1"


@dataclass(slots=True)
class StreamState:
    """What the reader saw so far: whether the input is a batch (FHS/BHS) and its envelope lines."""

    batch: bool = False
    header: list[str] | None = None
    trailers: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Charset:
    """How to read an input: its text codec and whether a message declared ISO 8859/1."""

    codec: str = "utf-8"
    declares_latin1: bool = False


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    while block := stream.read(BLOCK):  # read per call: tests shrink BLOCK to cut lines anywhere
        yield block


def _is_utf8(stream: BinaryIO) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    try:
        for block in _blocks(stream):
            if first and block.startswith(_BOM_BYTES):
                block = block[3:]  # noqa: PLW2901 - the BOM is not text
            first = False
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _mentions_latin1(stream: BinaryIO) -> bool:
    tail = b""
    for block in _blocks(stream):
        window = tail + block
        if _LATIN1_MARK in window:
            return True
        tail = window[-(len(_LATIN1_MARK) - 1) :]
    return False


def sniff_charset(stream: BinaryIO) -> Charset:
    """The charset of a seekable stream, read in blocks; the stream is left where it was."""
    start = stream.tell()
    try:
        codec = "utf-8" if _is_utf8(stream) else "latin-1"
        stream.seek(start)
        declares = False
        if _mentions_latin1(stream):
            stream.seek(start)
            declares = any(
                "8859/1" in lines[0] for lines in _line_groups(stream, codec, StreamState()) if lines
            )
    finally:
        stream.seek(start)
    return Charset(codec, declares)


def _lines(stream: BinaryIO, codec: str) -> Iterator[str]:
    """Segments as `adapters.hl7v2.message.lines_of` cuts them (CR, LF, CRLF; blank lines dropped)."""
    decoder = codecs.getincrementaldecoder(codec)()
    pending = ""
    at_start, first_block = True, True
    for block in _blocks(stream):
        if first_block and block.startswith(_BOM_BYTES):
            block = block[3:]  # noqa: PLW2901 - the BOM is not text
        first_block = False
        text = decoder.decode(block)
        if at_start:
            text = text.lstrip(_BOM)
            if not text:
                continue
            at_start = False
        parts = (pending + text).replace("\n", "\r").split("\r")
        pending = parts.pop()
        for line in parts:
            if line.strip():
                yield line
    tail = pending + decoder.decode(b"", final=True)
    if at_start:
        tail = tail.lstrip(_BOM)
    for line in tail.replace("\n", "\r").split("\r"):
        if line.strip():
            yield line


def _line_groups(stream: BinaryIO, codec: str, state: StreamState) -> Iterator[list[str]]:
    """The lines of each chunk, in `split_envelope`'s order; envelope lines go to ``state``."""
    current: list[str] | None = None
    stray: list[str] = []
    any_chunk = False
    for line in _lines(stream, codec):
        head = line[:3]
        if head == "MSH":
            if current is not None:
                yield current
            if stray:
                yield stray
                stray = []
            current = [line]
            any_chunk = True
        elif head in ("FHS", "BHS", "BTS", "FTS"):
            if head in ("FHS", "BHS"):
                state.batch = True
                state.header = [*(state.header or []), line]
            else:
                state.trailers = [*(state.trailers or []), line]
            if current is not None:
                yield current
            current = None
        elif current is not None:
            current.append(line)
        else:
            stray.append(line)
    if current is not None:
        yield current
    if stray:
        yield stray
        any_chunk = True
    if not any_chunk and not state.header:
        yield []


def _fits_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def read_chunks(
    stream: BinaryIO, state: StreamState | None = None, *, charset: Charset | None = None
) -> Iterator[Chunk]:
    """Every message chunk of ``stream``, one at a time (see the module docstring). ``charset``
    defaults to `sniff_charset` (the stream must then be seekable); ``state`` is filled as the
    envelope segments are read (``batch`` is final once the iterator is exhausted)."""
    charset = charset or sniff_charset(stream)
    for lines in _line_groups(stream, charset.codec, state or StreamState()):
        body = "\r".join(lines) + "\r"
        latin1 = charset.declares_latin1 and _fits_latin1(body)
        yield Chunk(lines, body.encode("latin-1" if latin1 else "utf-8"))


def looks_like_hl7(head: bytes) -> bool:
    """Whether an input starts like HL7 v2 (MSH, FHS or BHS after an optional BOM and blank lines)."""
    text = head.removeprefix(_BOM_BYTES).lstrip(b"\r\n \t")
    return text[:3] in (b"MSH", b"FHS", b"BHS")
