"""`adapters.hl7v2.mllp.MllpListener`: every frame is answered on its connection, and a connection
that stays silent for the idle timeout is closed (after its earlier frames were answered)."""

from __future__ import annotations

import asyncio

from adapters.hl7v2.mllp import END, FrameTooLarge, MllpListener, wrap


async def _answer(frame: bytes | FrameTooLarge, peer: str) -> bytes:
    assert isinstance(frame, bytes)
    return b"ACK:" + frame


def _fallback(frame: bytes | FrameTooLarge) -> bytes:
    return b"FALLBACK"


async def _exchange_then_idle(idle: float) -> tuple[list[bytes], bytes, float]:
    listener = MllpListener(_answer, port=0, idle_timeout=idle, fallback_ack=_fallback)
    await listener.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        answers = []
        for payload in (b"one", b"two"):
            writer.write(wrap(payload))
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.readuntil(END), 5))
        started = asyncio.get_running_loop().time()
        after_idle = await asyncio.wait_for(reader.read(), 5)  # b"" once the listener closes it
        waited = asyncio.get_running_loop().time() - started
        writer.close()
        return answers, after_idle, waited
    finally:
        await listener.aclose()


def test_frames_are_answered_and_an_idle_connection_is_closed() -> None:
    answers, after_idle, waited = asyncio.run(_exchange_then_idle(0.3))
    assert answers == [wrap(b"ACK:one"), wrap(b"ACK:two")]
    assert after_idle == b""
    assert 0.2 <= waited < 4
