"""Strict HL7 v2 validation (hl7apy structures): golden ACKs, code mapping, valid DFT passes, no PHI."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import Counter

import pytest
from hl7kit import mllp_exchange, running
from testkit import CORPUS, find_canaries

from adapters.hl7v2 import strict
from adapters.hl7v2.errors import Hl7StructureInvalid, Hl7Unsupported
from adapters.hl7v2.intake import parse_input
from adapters.hl7v2.strict import StrictValidationSettings, validate_strict
from gateway.hl7_intake import Hl7Intake
from gateway.runtime import Runtime
from gateway.settings import Settings

MSH25 = "MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101||DFT^P03^DFT_P03|{id}|P|2.5\r"
VALID_DFT = (
    "EVN|P03|20261101\r"
    "PID|1||MRN88812345^^^H^MR||QUIXOTE^ZEBEDIAH||19570314|M\r"
    "PV1|1|O|||||||||||||||||VIS-000123\r"
    "FT1|1|T1||20261101|20261101|CG|99213^OV||1|10.00|10.00\r"
)
ADT23 = "MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101||ADT^A08|{id}|P|2.3\rEVN|A08|20261101\r"


def _dft(control_id: str, body: str = VALID_DFT) -> str:
    return MSH25.format(id=control_id) + body


def _strict(settings: Settings, **update: object) -> Settings:
    strict = StrictValidationSettings(enabled=True, **update)  # type: ignore[arg-type]
    return settings.model_copy(update={"mllp": settings.mllp.model_copy(update={"strict": strict})})


def _check(text: str) -> Hl7StructureInvalid | Hl7Unsupported | None:
    message = parse_input(text.encode()).messages[0]
    assert message.error is None, message.error
    return validate_strict(message.raw, message.header)


@pytest.mark.parametrize(
    ("text", "code", "location"),
    [
        (_dft("M1", VALID_DFT.replace("EVN|P03|20261101\r", "")), "100", ("EVN", 0, 0)),
        (_dft("M2", VALID_DFT.replace("QUIXOTE^ZEBEDIAH", "")), "101", ("PID", 1, 5)),
        (_dft("M3", VALID_DFT.replace("19570314", "ZEBEDIAH")), "102", ("PID", 1, 7)),
        (_dft("M4", VALID_DFT.replace("|10.00|10.00", "|ten|10.00")), "102", ("FT1", 1, 10)),
        (_dft("M5", VALID_DFT.replace("FT1|", "XYZ|1\rFT1|")), "100", ("XYZ", 1, 0)),
        (_dft("M6", VALID_DFT.replace("EVN|P03|20261101\r", "") + "EVN|P03|2026\r"), "100", ("EVN", 1, 0)),
        (ADT23.format(id="M7").replace("EVN|A08|20261101\r", "PID|1||M1||DOE^J\r"), "100", ("EVN", 0, 0)),
        (ADT23.format(id="M8") + "PID|1||M1||DOE^J\rPID|2||M2||DOE^K\rPV1|1|I\r", "100", ("PID", 1, 0)),
        (ADT23.format(id="M9") + "PID|ONE||M1||DOE^J\rPV1|1|I\r", "102", ("PID", 1, 1)),
        (ADT23.format(id="M10") + "PID|1||M1||DOE^J|||||W^X^Y^Z^Q\rPV1|1|I\r", "102", ("PID", 1, 10)),
        (
            ADT23.format(id="M11").replace("A08|", "A31|").replace("|2.3", "|2.3.1") + "PID|1||M1||D^J\r",
            "100",
            ("PV1", 0, 0),
        ),
    ],
)
def test_hl7apy_errors_map_to_table_0357_codes(text: str, code: str, location: tuple[str, int, int]) -> None:
    error = _check(text)
    assert isinstance(error, Hl7StructureInvalid)
    assert (error.hl7_code, error.location) == (code, location)
    assert not find_canaries(error.message)


def test_valid_messages_and_z_segments_pass() -> None:
    assert _check(_dft("V1")) is None
    assert _check(_dft("V2") + "ZX1|anything|at all\r") is None
    assert _check(ADT23.format(id="V3") + "PID|1||M1||DOE^J\rPV1|1|I\r") is None  # A08 -> ADT_A01


def test_message_without_structure_is_unsupported() -> None:
    text = "MSH|^~\\&|A|B|C|D|20261101||ADT^A99|U1|P|2.5\rEVN|A99|20261101\rPID|1||M1||DOE^J\r"
    error = _check(text)
    assert isinstance(error, Hl7Unsupported)
    assert (error.hl7_code, error.location) == ("200", ("MSH", 1, 9))


def test_validator_failure_is_an_ae_207_never_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise ValueError("QUIXOTE is not valid")

    monkeypatch.setattr(strict, "_check_sequence", broken)
    error = _check(_dft("F1"))
    assert isinstance(error, Hl7StructureInvalid)
    assert error.hl7_code == "207"
    assert not find_canaries(caplog.text)


def test_settings_scope_by_message_type() -> None:
    header = parse_input(_dft("S1").encode()).messages[0].header
    assert not StrictValidationSettings().applies_to(header)
    assert StrictValidationSettings(enabled=True).applies_to(header)
    assert StrictValidationSettings(enabled=True, message_types=["DFT^P03"]).applies_to(header)
    assert StrictValidationSettings(enabled=True, message_types=["dft"]).applies_to(header)
    assert not StrictValidationSettings(enabled=True, message_types=["ADT"]).applies_to(header)


def _ack_lines(payload: bytes) -> list[str]:
    """MSA and ERR of an ACK; the quarantine id normalised."""
    lines = payload.decode().split("\r")
    return [re.sub(r"quarantine [0-9a-zA-Z_-]+", "quarantine Q", line) for line in lines[1:] if line]


async def _intake(settings: Settings, data: bytes) -> tuple[bytes, int, int]:
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    try:
        intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
        intake.use_strict(settings.mllp.strict)
        result = await intake.handle(data)
        spooled = len(await runtime.spool.list_entries())
        quarantined = len(list((settings.home / "quarantine").glob("*.bin")))
        return result.payload, spooled, quarantined
    finally:
        await runtime.stop()


def test_golden_ack_v25_missing_segment_quarantined_nothing_spooled(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bad = _dft("G25", VALID_DFT.replace("EVN|P03|20261101\r", "").replace("|CG|", "||"))
    with caplog.at_level(logging.DEBUG):
        payload, spooled, quarantined = asyncio.run(_intake(_strict(settings), bad.encode()))
    assert _ack_lines(payload) == [
        "MSA|AE|G25|required segment or group EVN is missing in DFT_P03 (DFT_P03)",
        "ERR||EVN|100^Segment sequence error^HL70357|E|input.hl7.structure_invalid||quarantine Q|"
        "required segment or group EVN is missing in DFT_P03 (DFT_P03)",
    ]
    assert (spooled, quarantined) == (0, 1)
    assert not find_canaries(payload)
    assert not find_canaries(caplog.text)


def test_golden_ack_v23_bad_data_type_no_phi(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    bad = ADT23.format(id="G23") + "PID|ZEBEDIAH||M1||QUIXOTE^ZEBEDIAH\rPV1|1|I\r"
    with caplog.at_level(logging.DEBUG):
        payload, spooled, quarantined = asyncio.run(_intake(_strict(settings), bad.encode()))
    assert _ack_lines(payload) == [
        "MSA|AE|G23|PID-1 does not hold a valid SI value (ADT_A01)",
        "ERR|PID^1^1^102&Data type error&HL70357",
    ]
    assert (spooled, quarantined) == (0, 1)
    assert not find_canaries(payload)
    assert not find_canaries(caplog.text)
    # The quarantined raw message is encrypted at rest.
    for path in (settings.home / "quarantine").glob("*"):
        assert not find_canaries(path.read_bytes())


def test_strict_off_by_default_and_valid_dft_passes(settings: Settings) -> None:
    invalid = _dft("D1", VALID_DFT.replace("EVN|P03|20261101\r", "")).encode()
    payload, _, quarantined = asyncio.run(_intake(settings, invalid))
    assert _ack_lines(payload)[0] == "MSA|AA|D1"
    assert quarantined == 0
    payload, _, quarantined = asyncio.run(_intake(_strict(settings), _dft("D2").encode()))
    assert _ack_lines(payload) == ["MSA|AA|D2"]
    assert quarantined == 0


def test_listener_answers_ce_in_enhanced_mode_and_keeps_the_connection(settings: Settings) -> None:
    enhanced = _dft("E1", VALID_DFT.replace("EVN|P03|20261101\r", "")).replace("|P|2.5\r", "|P|2.5|||AL|NE\r")

    async def scenario() -> list[bytes]:
        async with running(_strict(settings, message_types=["DFT"])) as gw:
            return await mllp_exchange(gw.port, [enhanced.encode(), _dft("E2").encode()])

    first, second = asyncio.run(scenario())
    assert _ack_lines(first)[0].startswith("MSA|CE|E1|")
    assert "100^Segment sequence error^HL70357" in _ack_lines(first)[1]
    assert _ack_lines(second) == ["MSA|AA|E2"]


@pytest.mark.corpus
def test_strict_validation_answers_every_corpus_message() -> None:
    """Every message of the HL7 corpus that passes the normal checks gets a strict verdict: no crash,
    a table 0357 code, a location, and an error text that names elements only."""
    folder = CORPUS / "hl7v2"
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"HL7 v2 corpus missing at {folder}")
        pytest.skip("HL7 v2 corpus not present")
    verdicts: Counter[str] = Counter()
    for path in sorted(folder.glob("*")):
        for message in parse_input(path.read_bytes()).messages:
            if message.error is not None:
                continue
            error = validate_strict(message.raw, message.header)
            verdicts["ok" if error is None else error.hl7_code] += 1
            if error is not None:
                assert error.hl7_code in {"100", "101", "102", "200", "203"}
                assert re.fullmatch(r"[A-Za-z0-9 _.()^,'-]+", error.message), error.message
    assert verdicts["ok"] > 0
    assert sum(verdicts.values()) > 150
