"""`MllpWritebackSink` against an MLLP receiver on loopback: the HL7 v2 write-back message (ids and
codes only, escaped), AA delivered, AE and a dropped connection retried, AR dead-lettered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from fallback.errors import PermanentDeliveryError, TransientDeliveryError
from fallback.mllp_writeback_sink import END, START, MllpWritebackSink, control_id
from normalizers.payload import (
    Code,
    Lifecycle,
    LifecycleKind,
    Payer,
    RedactionReport,
    Routing,
    SourceFormat,
    SourceInfo,
    TicketPayload,
)
from normalizers.sealed import SealedTicket

OF = "tkt_" + "c" * 32
IDS = {"ticket_id": OF, "sink": "jira", "remote_id": "RCM|7", "status": "resolved"}


def _ticket() -> SealedTicket:
    payload = TicketPayload(
        id="tkt_" + "a" * 32, fingerprint="fp_" + "b" * 32,
        source=SourceInfo(system="rcm-gateway", format=SourceFormat.JSON_EVENT, control_ids=IDS),
        received_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC), category="eligibility.denied",
        taxonomy_version="1",
        codes=[Code(system="CARC", code="16")], payer=Payer(id="87726"), tier=2,
        routing=Routing(queue="billing", rule_id="r"), summary="Ticket resolved in jira",
        redaction=RedactionReport(policy_version="p", key_id="k"),
        lifecycle=Lifecycle(kind=LifecycleKind.RESOLVE, of=OF),
    )  # fmt: skip
    return SealedTicket.restore(payload.canonical_json())


async def _receiver(answers: list[str | None], got: list[bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frame = await reader.readuntil(END)
        got.append(frame)
        code = answers.pop(0)
        if code is not None:
            ack = (
                f"MSH|^~\\&|RCM||RCMGW||20260105093000||ACK|A1|P|2.5.1\rMSA|{code}|{control_id(_ticket())}\r"
            )
            writer.write(START + ack.encode() + END)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_ack_codes_and_the_message() -> None:
    async def main() -> list[bytes]:
        got: list[bytes] = []
        server = await _receiver(["AA", "AE", "AR", None], got)
        port = server.sockets[0].getsockname()[1]
        sink = MllpWritebackSink(
            "127.0.0.1", port, receiving_app="EPIC", receiving_facility="MAIN", timeout=5
        )
        await sink.open()
        receipt = await sink.deliver(_ticket(), "k")
        assert receipt.remote_id == control_id(_ticket())
        with pytest.raises(TransientDeliveryError):
            await sink.deliver(_ticket(), "k")
        with pytest.raises(PermanentDeliveryError):
            await sink.deliver(_ticket(), "k")
        with pytest.raises(TransientDeliveryError):
            await sink.deliver(_ticket(), "k")  # connection closed without an ACK
        await sink.aclose()
        server.close()
        await server.wait_closed()
        return got

    got = asyncio.run(main())
    assert len(got) == 4 and got[0] == got[1]  # the same control id on every retry
    message = got[0].removeprefix(START).removesuffix(END).decode()
    msh, zrc = message.rstrip("\r").split("\r")
    assert msh.startswith("MSH|^~\\&|RCMGW|RCM-GATEWAY|EPIC|MAIN|20260105093000||ZRC^Z01^ZRC|")
    assert zrc == f"ZRC|{OF}|resolved|jira|RCM\\F\\7|eligibility.denied|87726|2|CARC^16"
    assert "Ticket resolved" not in message


def test_unreachable_receiver_is_transient() -> None:
    async def main() -> None:
        sink = MllpWritebackSink("127.0.0.1", 9, timeout=2)
        await sink.open()
        with pytest.raises(TransientDeliveryError):
            await sink.deliver(_ticket(), "k")

    asyncio.run(main())
