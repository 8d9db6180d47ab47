"""Helpers for HL7 v2 gateway tests: a running runtime with the MLLP service, an MLLP client."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from adapters.hl7v2.message import Hl7Message, parse_message, split_envelope
from adapters.hl7v2.mllp import MllpDecoder, wrap
from gateway.mllp_service import MllpService
from gateway.runtime import Runtime
from gateway.settings import Settings


@dataclass
class RunningGateway:
    runtime: Runtime
    service: MllpService

    @property
    def port(self) -> int:
        assert self.service.port is not None
        return self.service.port


@asynccontextmanager
async def running(settings: Settings, *, delivery: bool = False) -> AsyncIterator[RunningGateway]:
    """The runtime (no delivery) with its MLLP service started on the settings' port."""
    runtime = Runtime.build(settings)
    await runtime.start(delivery=delivery)
    await runtime.start_services()
    service = next(s for s in runtime.services if isinstance(s, MllpService))
    try:
        yield RunningGateway(runtime, service)
    finally:
        await runtime.stop()


async def mllp_exchange(
    port: int, payloads: list[bytes], *, context: ssl.SSLContext | None = None, read_timeout: float = 20
) -> list[bytes]:
    """Send every payload as a frame on one connection (pipelined); return the answers in order."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
    )
    try:
        writer.write(b"".join(wrap(payload) for payload in payloads))
        await writer.drain()
        decoder = MllpDecoder(64 * 1024 * 1024)
        answers: list[bytes] = []
        while len(answers) < len(payloads):
            data = await asyncio.wait_for(reader.read(65536), read_timeout)
            assert data, "the listener closed the connection without answering"
            answers += [frame for frame in decoder.feed(data) if isinstance(frame, bytes)]
        return answers
    finally:
        writer.close()


def ack_messages(payload: bytes) -> list[Hl7Message]:
    """Every ACK message in an answer (a batch answer holds several)."""
    return [parse_message(chunk.raw) for chunk in split_envelope(payload).chunks]
