"""The tokenizer on synthetic inputs: chunk boundaries, BIN payloads, encodings, wraps."""

from __future__ import annotations

import io

import pytest

from adapters.x12.errors import X12NotRecognized
from adapters.x12.tokenizer import iter_segments, looks_like_x12

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*240105*1200*^*00501*000000001*0*P*:~"
)
BODY = "GS*HC*S*R*20240105*1200*1*X*005010~ST*275*0001~BIN*12*ab~c*d\nef~g~SE*3*0001~GE*1*1~IEA*1*000000001~"


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_segments_across_chunk_boundaries(chunk: int) -> None:
    data = (ISA + BODY).encode()
    segments = list(iter_segments(io.BytesIO(data), chunk_size=chunk))
    assert [elements[0] for _, elements in segments] == ["ISA", "GS", "ST", "BIN", "SE", "GE", "IEA"]
    assert segments[3][1] == ["BIN", "12", "<binary>"]
    assert [number for number, _ in segments] == list(range(1, 8))


def test_utf16_bom_wrap_and_indent() -> None:
    text = ISA + "\r\n   GS*HC*S*R*2024\r\n0105*1200*1*X*005010~\r\n  GE*0*1~IEA*1*000000001~"
    for data in (text.encode("utf-16-le"), b"\xef\xbb\xbf" + text.encode()):
        tags = [elements for _, elements in iter_segments(io.BytesIO(data), chunk_size=16)]
        assert tags[1][:5] == ["GS", "HC", "S", "R", "20240105"]
        assert [t[0] for t in tags] == ["ISA", "GS", "GE", "IEA"]


def test_newline_terminated_and_multibyte() -> None:
    newline = ISA[:-1] + "\r\nGS*HC*S*R*20240105*1200*1*X*005010\r\nGE*0*1\r\nIEA*1*000000001"
    tags = [e[0] for _, e in iter_segments(io.BytesIO(newline.encode()))]
    assert tags == ["ISA", "GS", "GE", "IEA"]
    ellipsis = (ISA[:-1] + "\u2026GS*HC\u2026GE*0*1\u2026IEA*1*000000001\u2026").encode()
    assert [e[0] for _, e in iter_segments(io.BytesIO(ellipsis), chunk_size=5)] == ["ISA", "GS", "GE", "IEA"]


def test_not_x12() -> None:
    with pytest.raises(X12NotRecognized, match="found GS"):
        list(iter_segments(io.BytesIO(b"GS*HC*S~ST*835*1~")))
    assert looks_like_x12(b"\xef\xbb\xbf  ISA*00")
    assert looks_like_x12("ISA*".encode("utf-16-le"))
    assert not looks_like_x12(b'{"event_id": 1}')
