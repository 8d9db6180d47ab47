"""`adapters.hl7v2.stream.read_chunks` cuts any input exactly as `split_envelope` does, whatever
the read block size (lines, raw bytes, batch flag): CR/LF/CRLF, BOM, Latin-1, stray lines, missing
trailers, ISO 8859/1 declared."""

from __future__ import annotations

import io

import pytest
from testkit import REPO

from adapters.hl7v2 import stream
from adapters.hl7v2.message import split_envelope

FIXTURES = sorted((REPO / "fixtures" / "hl7v2").glob("*.hl7"))
LATIN1_MSH = "MSH|^~\\&|A|||||||||2.5|||||8859/1\rPID|1||||Caf\u00e9^Zo\u00eb\r"
INPUTS = [
    b"",
    b"\r\n\r\n",
    b"\xef\xbb\xbfMSH|^~\\&|A|B\r\nPID|1\n",
    b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A|B\nPID|1\r\nBTS|1\rFTS|1",
    b"junk\rMSH|^~\\&|A\rX\rBTS|1\rstray\rMSH|^~\\&|B\r",
    b"FHS|^~\\&\rBHS|^~\\&\r",
    b"stray only\r\nmore",
    LATIN1_MSH.encode("latin-1"),
    LATIN1_MSH.encode("utf-8"),
    b"MSH|^~\\&|A\rPID|\xff\xfe\rMSH|^~\\&|B\rNTE|1||\xc3\xa9\r",
    "\ufeff\ufeffMSH|^~\\&|Z\r".encode(),
]


@pytest.mark.parametrize("block", [3, 5, 64, stream.BLOCK])
@pytest.mark.parametrize("data", [*INPUTS, *(path.read_bytes() for path in FIXTURES), b"\n".join(INPUTS[2:])])
def test_read_chunks_matches_split_envelope(data: bytes, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "BLOCK", block)
    reference = split_envelope(data)
    state = stream.StreamState()
    chunks = list(stream.read_chunks(io.BytesIO(data), state))
    assert [(chunk.lines, chunk.raw) for chunk in chunks] == [
        (chunk.lines, chunk.raw) for chunk in reference.chunks
    ]
    assert state.batch == reference.batch


def test_read_chunks_reads_one_message_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "BLOCK", 64)
    message = b"MSH|^~\\&|A|B|C|D|2026||ADT^A08|X|P|2.5\rPID|1\r"
    source = io.BytesIO(b"FHS|^~\\&\rBHS|^~\\&\r" + message * 1000)
    chunks = stream.read_chunks(source)
    next(chunks)
    next(chunks)
    # the charset pass has read everything once; the cutting pass is only a few blocks in
    assert source.tell() < 5 * 64


def test_looks_like_hl7() -> None:
    assert stream.looks_like_hl7(b"\xef\xbb\xbf\r\nFHS|^~\\&")
    assert stream.looks_like_hl7(b"MSH|^~\\&|")
    assert not stream.looks_like_hl7(b'{"event": 1}')
    assert not stream.looks_like_hl7(b"ISA*00*")
