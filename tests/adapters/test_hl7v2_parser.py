"""The HL7 v2 parser and MLLP framing: delimiters, escapes, line ends, charsets, batches."""

from __future__ import annotations

import pytest

from adapters.hl7v2.encoding import STANDARD, Encoding
from adapters.hl7v2.errors import Hl7Rejected, Hl7Unsupported
from adapters.hl7v2.header import check_header, read_header
from adapters.hl7v2.intake import parse_input
from adapters.hl7v2.message import parse_message, split_envelope
from adapters.hl7v2.mllp import FrameTooLarge, MllpDecoder, wrap

ADT = "MSH|^~\\&|A|B|C|D|20260101||ADT^A08|C1|P|2.5\rEVN|A08\rPID|1||M1^^^H^MR||DOE^JANE\rPV1|1|O\r"


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
def test_any_segment_ending(ending: str) -> None:
    message = parse_message(ADT.replace("\r", ending).encode())
    assert message.names() == ["MSH", "EVN", "PID", "PV1"]
    assert message.first("PID").value(5, 2) == "JANE"  # type: ignore[union-attr]


def test_bom_and_latin1() -> None:
    latin = ADT.replace("DOE", "M\u00dcLLER").encode("latin-1")
    assert parse_message(latin).first("PID").value(5) == "M\u00dcLLER"  # type: ignore[union-attr]
    assert parse_message(b"\xef\xbb\xbf" + ADT.encode()).msh.value(10) == "C1"


def test_non_standard_delimiters() -> None:
    text = "MSH^~|\\&^APP^FAC^^^2012^^ADT~A24^X9^T^2.4\rPID^1^^111~~~FOO^^SMITH~JOHN|SMYTH~JON\r"
    message = parse_message(text.encode())
    header = read_header(message)
    assert (header.message_code, header.trigger, header.control_id) == ("ADT", "A24", "X9")
    pid = message.first("PID")
    assert pid is not None
    assert pid.value(5, 2) == "JOHN"
    assert pid.value(5, 1, repetition=2) == "SMYTH"


def test_escape_sequences() -> None:
    enc = STANDARD
    assert enc.unescape(r"a\F\b\S\c\T\d\R\e\E\f") == "a|b^c&d~e\\f"
    assert enc.unescape(r"x\X41C3A9\y") == "xA\u00e9y"
    assert enc.unescape(r"line\.br\next") == "line\nnext"
    assert enc.unescape(r"\H\bold\N\ ") == "bold "
    assert enc.unescape("unterminated \\S") == "unterminated \\S"
    assert enc.escape_text("a|b^c") == r"a\F\b\S\c"
    other = Encoding.from_msh("^", "~|\\&")
    assert other.unescape(r"1\S\2") == "1~2"


@pytest.mark.parametrize(
    ("msh2", "why"),
    [("^", "4 or 5"), ("^~\\&&", "distinct"), ("0000", "alphanumeric"), ("^ \\E", "alphanumeric")],
)
def test_bad_encoding_characters(msh2: str, why: str) -> None:
    with pytest.raises(Hl7Rejected, match=why):
        parse_message(f"MSH|{msh2}|A|B\r".encode())


def test_control_characters_rejected() -> None:
    with pytest.raises(Hl7Rejected, match="control character 0x00"):
        parse_message(ADT.replace("DOE", "D\x00E").encode())


def test_header_checks() -> None:
    def header(version: str, kind: str, processing: str = "P") -> None:
        text = f"MSH|^~\\&|A|B|C|D|2026||{kind}|C1|{processing}|{version}\r"
        check_header(read_header(parse_message(text.encode())))

    header("2.2", "ADT^A01")
    header("2.8", "DFT^P03")
    with pytest.raises(Hl7Unsupported, match="version"):
        header("3.0", "ADT^A01")
    with pytest.raises(Hl7Unsupported, match="message type"):
        header("2.5", "ABC^XYZ")
    with pytest.raises(Hl7Rejected, match="MSH-12"):
        header("", "ADT^A01")
    with pytest.raises(Hl7Rejected, match="trigger"):
        header("2.5", "ADT")
    with pytest.raises(Hl7Unsupported, match="processing id"):
        header("2.5", "ADT^A01", "X")


def test_batch_without_trailers_and_bare_messages() -> None:
    batch = "FHS|^~\\&|A\rBHS|^~\\&|A\r" + ADT + ADT.replace("C1", "C2")
    envelope = split_envelope(batch.encode())
    assert envelope.batch and len(envelope.chunks) == 2 and envelope.trailers == []
    bare = split_envelope((ADT + "\n\n" + ADT).encode())
    assert not bare.batch and len(bare.chunks) == 2


def test_bad_message_does_not_sink_neighbours() -> None:
    data = (ADT + "MSH|^|x\r" + ADT.replace("C1", "C3")).encode()
    parsed = parse_input(data)
    assert [m.error is None for m in parsed.messages] == [True, False, True]
    assert parsed.messages[2].header.control_id == "C3"


def test_mllp_decoder_partial_and_multiple_frames() -> None:
    decoder = MllpDecoder(max_frame_bytes=1024)
    stream = b"noise" + wrap(b"one") + wrap(b"two") + wrap(b"three")
    frames: list[object] = []
    for index in range(len(stream)):
        frames += decoder.feed(stream[index : index + 1])
    assert frames == [b"one", b"two", b"three"]
    assert decoder.feed(wrap(b"a") + wrap(b"b")) == [b"a", b"b"]
    assert decoder.dropped_bytes == len(b"noise")


def test_mllp_decoder_oversize_frame_then_recovers() -> None:
    decoder = MllpDecoder(max_frame_bytes=1024)
    big = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|BIG1|P|2.5\r" + b"X" * 3000
    out = decoder.feed(b"\x0b" + big[:1500])
    out += decoder.feed(big[1500:] + b"\x1c\x0d" + wrap(b"next"))
    assert isinstance(out[0], FrameTooLarge) and b"BIG1" in out[0].head
    assert out[1:] == [b"next"]
