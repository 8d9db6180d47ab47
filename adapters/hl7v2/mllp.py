"""MLLP framing (``0x0B`` message ``0x1C 0x0D``) and an asyncio MLLP listener.

`MllpDecoder` is a push parser: it takes whatever bytes a read returned (half a frame, several
frames) and returns the complete frames, in order. Bytes outside a frame are dropped; a frame that
grows past ``max_frame_bytes`` is reported once as `FrameTooLarge` (with its first bytes, so the
ACK can still echo MSH-10) and skipped up to its end marker.

`MllpListener` serves many connections at once; on each it answers every frame, in order, with
whatever its handler returns, so one bad message never blocks the next. The handler must not
raise; if it does anyway, the listener answers with ``fallback_ack`` rather than closing silently.
Idle connections are closed after ``idle_timeout`` seconds. TLS (and mutual TLS) come from the
``ssl`` context the caller builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

START = b"\x0b"
END = b"\x1c\x0d"
DEFAULT_MAX_FRAME = 1024 * 1024
_HEAD_BYTES = 512

log = logging.getLogger("rcmgw.mllp")


@dataclass(frozen=True, slots=True)
class FrameTooLarge:
    """A frame that passed the size limit; ``head`` is its first bytes (for MSH-10)."""

    head: bytes
    limit: int


def wrap(payload: bytes) -> bytes:
    """``payload`` as one MLLP frame."""
    return START + payload + END


class MllpDecoder:
    """Incremental MLLP frame decoder (see the module docstring)."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME) -> None:
        self._max = max_frame_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._skipping = False
        self.dropped_bytes = 0

    @property
    def pending(self) -> bool:
        """True while a frame has started and not ended."""
        return self._in_frame

    def feed(self, data: bytes) -> list[bytes | FrameTooLarge]:
        """The frames (payloads without markers) completed by ``data``."""
        out: list[bytes | FrameTooLarge] = []
        view = data
        while view:
            if not self._in_frame:
                start = view.find(START)
                if start == -1:
                    self.dropped_bytes += len(view)
                    return out
                self.dropped_bytes += start
                view = view[start + 1 :]
                self._in_frame, self._skipping = True, False
                self._buffer.clear()
                continue
            scan_from = max(len(self._buffer) - 1, 0)
            self._buffer += view
            view = b""
            end = self._buffer.find(END, scan_from)
            if end == -1:
                # a trailing 0x1C may be the first half of the end marker: not frame content yet
                content = len(self._buffer) - (1 if self._buffer.endswith(b"\x1c") else 0)
                if content > self._max and not self._skipping:
                    out.append(FrameTooLarge(bytes(self._buffer[: min(content, _HEAD_BYTES)]), self._max))
                    self._skipping = True
                if self._skipping:
                    keep = self._buffer[-1:] if self._buffer.endswith(b"\x1c") else b""
                    self._buffer[:] = keep
                continue
            frame, rest = bytes(self._buffer[:end]), bytes(self._buffer[end + 2 :])
            if self._skipping:
                pass
            elif len(frame) > self._max:
                out.append(FrameTooLarge(frame[:_HEAD_BYTES], self._max))
            else:
                out.append(frame)
            self._in_frame, self._skipping = False, False
            self._buffer.clear()
            view = rest
        return out


FrameHandler = Callable[[bytes | FrameTooLarge, str], Awaitable[bytes]]
"""(frame or oversize marker, peer label) -> ACK payload (without MLLP markers)."""


class MllpListener:
    """An asyncio MLLP server (see the module docstring)."""

    def __init__(
        self,
        handler: FrameHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        ssl_context: ssl.SSLContext | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
        idle_timeout: float = 300.0,
        fallback_ack: Callable[[bytes | FrameTooLarge], bytes],
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._max = max_frame_bytes
        self._idle = idle_timeout
        self._fallback = fallback_ack
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the MLLP listener is not running")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, sock: socket.socket | None = None) -> None:
        """Start accepting connections, on ``sock`` when given (already bound and listening),
        else on a new socket bound to the configured host and port."""
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock, ssl=self._ssl)
        else:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, ssl=self._ssl, backlog=1024
            )

    async def aclose(self) -> None:
        """Stop accepting, end open connections and wait for them."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        decoder = MllpDecoder(self._max)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: wait_for wraps every read in a new Task
                    async with asyncio.timeout(self._idle):
                        data = await reader.read(65536)
                except TimeoutError:
                    log.info("mllp connection idle; closing", extra={"peer": label})
                    break
                if not data:
                    break
                for frame in decoder.feed(data):
                    writer.write(wrap(await self._answer(frame, label)))
                await writer.drain()
            if decoder.pending:
                log.warning("mllp connection closed inside a frame", extra={"peer": label})
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as error:
            log.info("mllp connection ended", extra={"peer": label, "error_class": type(error).__name__})
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, frame: bytes | FrameTooLarge, label: str) -> bytes:
        try:
            return await self._handler(frame, label)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the listener always answers
            log.error("mllp handler failed", extra={"peer": label, "error_class": type(error).__name__})
            return self._fallback(frame)
