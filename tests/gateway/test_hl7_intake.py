"""HL7 v2 intake on scenario fixtures: ACK codes, ERR styles, tickets, PHI, HTTP and MLLP clients."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hl7kit import ack_messages, mllp_exchange, running
from testkit import REPO, find_canaries

from adapters.hl7v2.header import read_header
from adapters.hl7v2.intake import parse_input
from fallback.errors import SpoolUnavailable
from gateway.app import create_app
from gateway.auth.scopes import Scope
from gateway.hl7_intake import Hl7Intake
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings
from normalizers.hl7v2_rules import find_problems

FIXTURES = REPO / "fixtures" / "hl7v2"
CANARY_DFT = (
    "MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101||DFT^P03|CANARY1|P|2.5.1\r"
    "PID|1||MRN88812345^^^H^MR||QUIXOTE^ZEBEDIAH||19570314|M|||1 Way^^Town^MA||(617)555-0143|||||"
    "PCN-7731-0099|219-09-9999\r"
    "PV1|1|O|||||||||||||||||VIS-000123\r"
    "FT1|1|T1||20261101|20261101|CG||||1|10.00|10.00\r"
    "NTE|1||Zebediah Quixote called from (617) 555-0143 about SSN 219-09-9999\r"
)


def _mllp(settings: Settings) -> Settings:
    return settings.model_copy(update={"mllp": settings.mllp.model_copy(update={"port": 0})})


async def _handle(settings: Settings, data: bytes) -> tuple[bytes, list[str]]:
    runtime = Runtime.build(settings)
    await runtime.start(delivery=False)
    try:
        intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
        result = await intake.handle(data)
        entries = await runtime.spool.list_entries()
        return result.payload, [entry.ticket_id for entry in entries]
    finally:
        await runtime.stop()


def _problems(name: str) -> list[str]:
    parsed = parse_input((FIXTURES / name).read_bytes())
    record = parsed.messages[0].record
    assert record is not None
    return [problem.code for problem in find_problems(record)]


def test_ack_with_err_v23_style() -> None:
    parsed = parse_input((FIXTURES / "ack-ae-err-v23.hl7").read_bytes()).messages[0]
    assert parsed.record is not None
    facts = parsed.record.facts
    assert (facts["msa.code"], facts["err.1.code"], facts["err.1.location"]) == ("AE", "103", "FT1^1^7")
    assert _problems("ack-ae-err-v23.hl7") == ["HL7-ACK-AE"]


def test_ack_with_err_v25_style() -> None:
    parsed = parse_input((FIXTURES / "ack-ar-err-v25.hl7").read_bytes()).messages[0]
    assert parsed.record is not None
    facts = parsed.record.facts
    assert (facts["msa.code"], facts["err.1.code"], facts["err.1.severity"]) == ("AR", "103", "E")
    assert facts["err.1.app_code"] == "CHG-404"
    assert "chargemaster" in parsed.record.texts["err.1.text"]
    assert _problems("ack-ar-err-v25.hl7") == ["HL7-ACK-AR"]


def test_dft_with_missing_charge_code() -> None:
    assert _problems("dft-missing-ft1-7.hl7") == [
        "CHARGE-CODE-MISSING",
        "CHARGE-AMOUNT-NONPOSITIVE",
        "CHARGE-AMOUNT-NONPOSITIVE",
    ]


def test_a08_without_insurance() -> None:
    assert _problems("adt-a08-no-in1.hl7") == ["ELIGIBILITY-NO-INSURANCE"]


def test_escape_sequences_decoded() -> None:
    parsed = parse_input((FIXTURES / "escape-sequences.hl7").read_bytes()).messages[0]
    assert parsed.record is not None
    assert (
        parsed.record.texts["err.1.text"]
        == "Application internal error Amount 10^20 | bad&worse~rep\\escA\nnext line"
    )


def test_golden_tickets_and_acks(settings: Settings) -> None:
    names = ["ack-ae-err-v23.hl7", "ack-ar-err-v25.hl7", "dft-missing-ft1-7.hl7", "adt-a08-no-in1.hl7"]
    data = b"".join((FIXTURES / name).read_bytes() for name in names)
    payload, tickets = asyncio.run(_handle(settings, data))
    acks = ack_messages(payload)
    assert [ack.first("MSA").value(1) for ack in acks] == ["AA"] * 4  # type: ignore[union-attr]
    assert [ack.first("MSA").value(2) for ack in acks] == ["ACK0001", "ACK0002", "DFT0003", "ADT0004"]  # type: ignore[union-attr]
    assert len(tickets) == 4
    runtime_sealed = [
        json.loads(line)
        for line in (settings.home / "outbox").glob("*")
        for line in line.read_text().splitlines()
    ]
    assert runtime_sealed == []  # delivery off: spooled, not delivered


def test_batch_without_trailers(settings: Settings) -> None:
    payload, tickets = asyncio.run(_handle(settings, (FIXTURES / "batch-no-trailers.hl7").read_bytes()))
    assert payload.startswith(b"BHS|") and payload.rstrip(b"\r").endswith(b"BTS|3")
    acks = ack_messages(payload)
    codes = [(ack.first("MSA").value(1), ack.first("MSA").value(2)) for ack in acks]  # type: ignore[union-attr]
    assert codes == [("AA", "BAT0001"), ("AR", "BAT0002"), ("AA", "BAT0003")]
    err = acks[1].first("ERR")
    assert err is not None and err.value(3) == "200" and "XYZ" in err.value(8)
    assert tickets == []


def test_enhanced_mode_and_err_v24_style(settings: Settings) -> None:
    bad = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|E1|P|2.4|||AL|NE\rEVN|A01\r"
    payload, _ = asyncio.run(_handle(settings, bad))
    (ack,) = ack_messages(payload)
    assert ack.first("MSA").value(1) == "CE"  # type: ignore[union-attr]
    err = ack.first("ERR")
    assert err is not None and err.value(1, 1) == "PID" and err.value(1, 4, 1) == "100"
    header = read_header(ack)
    assert (header.message_code, header.version, header.receiving_application) == ("ACK", "2.4", "A")


def test_spool_unavailable_answers_transient_and_accepts_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> bytes:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        try:

            async def broken(*args: object, **kwargs: object) -> None:
                raise SpoolUnavailable("spool storage failed (SQLITE_FULL)")

            monkeypatch.setattr(runtime.spool, "put", broken)
            monkeypatch.setattr(runtime.spool, "put_many", broken)  # the group-commit path
            intake = Hl7Intake(runtime.pipeline, runtime.quarantine, settings.mllp.tickets)
            data = (FIXTURES / "dft-missing-ft1-7.hl7").read_bytes() * 2
            result = await intake.handle(data)
            assert result.transient
            return result.payload
        finally:
            await runtime.stop()

    acks = ack_messages(asyncio.run(run()))
    assert [ack.first("MSA").value(1) for ack in acks] == ["AE", "AE"]  # type: ignore[union-attr]
    assert all("transient" in ack.first("ERR").value(8) for ack in acks)  # type: ignore[union-attr]


def test_canary_phi_never_reaches_acks_logs_or_outbox(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    delivered = settings.model_copy(update={"delivery_enabled": True})

    async def run() -> bytes:
        async with running(_mllp(delivered), delivery=True) as gw:
            answers = await mllp_exchange(
                gw.port, [CANARY_DFT.encode(), CANARY_DFT.replace("V1|", "V1|").encode()[:40]]
            )
            outbox = delivered.outbox_file
            for _ in range(200):
                if outbox.exists() and outbox.read_text().strip():
                    break
                await asyncio.sleep(0.02)
            return b"".join(answers)

    acks = asyncio.run(run())
    outbox = delivered.outbox_file.read_text("utf-8")
    assert "CHARGE-CODE-MISSING" in outbox
    assert find_canaries(outbox) == []
    assert find_canaries(acks) == []
    assert find_canaries(caplog.text) == []
    log_file = delivered.log_path
    if log_file.exists():
        assert find_canaries(log_file.read_bytes()) == []
    for path in (delivered.home / "quarantine").glob("*"):
        assert find_canaries(path.read_bytes()) == []


def test_http_ingest_requires_scope_and_returns_acks(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        runtime: Runtime = app.state.runtime
        good = runtime.issuer.mint("hl7", [Scope.EVENTS_WRITE])
        other = runtime.issuer.mint("hl7", [Scope.TICKETS_READ])
        body = (FIXTURES / "dft-missing-ft1-7.hl7").read_bytes()
        assert client.post("/v1/ingest/hl7", content=body).status_code == 401
        denied = client.post("/v1/ingest/hl7", content=body, headers={"Authorization": f"Bearer {other}"})
        assert denied.status_code == 403
        answer = client.post("/v1/ingest/hl7", content=body, headers={"Authorization": f"Bearer {good}"})
        assert answer.status_code == 200
        (ack,) = ack_messages(answer.content)
        assert ack.first("MSA").value(1) == "AA" and ack.first("MSA").value(2) == "DFT0003"  # type: ignore[union-attr]


def test_mllp_port_settings_accept_both_environment_names(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("RCMGW_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RCMGW_MLLP_PORT", "2999")
    monkeypatch.setenv("RCMGW_MLLP_HOST", "0.0.0.0")
    settings = get_settings(home=home)
    assert (settings.mllp.host, settings.mllp.port) == ("0.0.0.0", 2999)
    monkeypatch.setenv("RCMGW_MLLP__PORT", "3001")
    assert get_settings(home=home).mllp.port == 3001


def test_independent_client_mllp_send(settings: Settings, tmp_path: Path) -> None:
    """python-hl7's ``mllp_send`` (a separate process) gets an ACK per message, AE for a bad one."""
    tool = shutil.which("mllp_send", path=str(Path(sys.executable).parent))
    if tool is None:
        if __import__("os").environ.get("CI") == "true":
            pytest.fail("mllp_send (PyPI package hl7) is not installed")
        pytest.skip("mllp_send (PyPI package hl7) is not installed")
    messages = [
        (FIXTURES / "dft-missing-ft1-7.hl7").read_text(),
        "MSH|^~\\&|A|B|C|D|2026||ADT^A01|BADX|P|2.5\rEVN|A01\r",
        (FIXTURES / "adt-a08-no-in1.hl7").read_text(),
    ]
    source = tmp_path / "messages.hl7"
    source.write_text("\n".join(message.replace("\r", "\r\n") for message in messages))

    async def run() -> str:
        async with running(_mllp(settings)) as gw:
            process = await asyncio.create_subprocess_exec(
                tool,
                "--loose",
                "--file",
                str(source),
                "--port",
                str(gw.port),
                "127.0.0.1",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, err
            return out.decode()

    out = asyncio.run(run())
    assert out.count("MSA|") == 3
    assert "MSA|AA|DFT0003" in out and "MSA|AA|ADT0004" in out
    assert "MSA|AE|BADX" in out and "ERR|" in out
