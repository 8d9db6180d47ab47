"""`Http1Pool`: a lean HTTP/1.1 keep-alive client for one origin, the webhook sink's fast path.

Why not httpx here: on the delivery hot path httpx + httpcore + anyio cost about 20 times the CPU of
the exchange itself (request building, cookie and redirect handling, pool locks, backend sniffing);
profiling `bench/delivery.py` showed the webhook drain bound by it. This client does only what a
webhook POST needs, on asyncio streams:

* one origin (scheme, host, port); up to ``max_connections`` keep-alive connections, each carrying
  one request at a time (no pipelining); an idle connection is reused until ``keepalive_expiry``
  seconds of idleness, and dropped when the peer closed it;
* requests with a ``Content-Length`` body; responses with ``Content-Length``, ``chunked`` or
  close-delimited bodies (kept up to ``MAX_BODY`` bytes; a longer one is not read and its connection
  is closed); ``1xx`` interim responses are skipped; ``Connection: close`` is honoured;
* TLS with the same trust store and ``verify`` semantics as the httpx sinks (a CA bundle path, or
  `httpx.create_ssl_context`); header names and values are checked, so no value can inject a line break.

Failures become `TransientDeliveryError` (message: sink name and failure class only): a connection
that cannot be opened is tried ``CONNECT_TRIES`` times with a short backoff first (the request never
left); a timeout (``timeout`` bounds the whole exchange after the connection is up) or a connection
dropped mid-way is not retried in the call: the spool schedules the retry, and the idempotency key
makes a repeat harmless. A malformed response is transient too (the remote may be mid-deploy).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import httpx

from fallback.errors import TransientDeliveryError
from fallback.http_delivery import CONNECT_TRIES

MAX_BODY: Final = 1 << 20
MAX_HEAD: Final = 64 * 1024
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_STATUS: Final = re.compile(rb"^HTTP/1\.([01]) ([1-9][0-9][0-9])(?: .*)?$")


class _Malformed(Exception):
    """The response broke HTTP/1.1 framing (internal; reported as a transient delivery error)."""


@dataclass(frozen=True, slots=True)
class Http1Response:
    """A complete response: status, headers (names lower-cased, last value wins) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing() or now - self.idle_since > expiry)

    def close(self) -> None:
        self.writer.close()


def check_header(name: str, value: str) -> None:
    """ValueError unless ``name`` is an HTTP token and ``value`` has no CR, LF or NUL."""
    if not _TOKEN.match(name):
        raise ValueError(f"invalid HTTP header name {name!r}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r}: value contains a line break or NUL")


class Http1Pool:
    """Keep-alive HTTP/1.1 connections to the origin of ``url`` (see the module docstring).

    ``sink`` names the owner in error messages; ``headers`` are sent with every request.
    """

    def __init__(
        self,
        sink: str,
        url: str,
        *,
        timeout: float,
        connect_timeout: float,
        verify: bool | str = True,
        headers: dict[str, str] | None = None,
        max_connections: int = 64,
        keepalive_expiry: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"sink {sink!r}: not an http(s) URL")
        self._sink = sink
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https" and isinstance(verify, str):  # a CA bundle file, as with httpx
            self._ssl = ssl.create_default_context(cafile=verify)
        elif parts.scheme == "https":  # httpx's default trust store (or no verification)
            self._ssl = httpx.create_ssl_context(verify)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        host = f"[{self._host}]" if ":" in self._host else self._host
        default_port = self._port == (443 if self._ssl else 80)
        fixed = {"Host": host if default_port else f"{host}:{self._port}", **(headers or {})}
        for name, value in fixed.items():
            check_header(name, value)
        self._head_prefix = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Http1Response:
        """Send one request (``target``: the path and query) and return the whole response.

        Raises `TransientDeliveryError` on a transport failure (see the module docstring) and
        ValueError on a header that could inject a line break.
        """
        for name, value in headers.items():
            check_header(name, value)
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = f"{method} {target} HTTP/1.1\r\n{self._head_prefix}{lines}Content-Length: {len(body)}\r\n\r\n"
        payload = head.encode("latin-1") + body
        async with self._slots:
            conn = await self._acquire()
            try:
                async with asyncio.timeout(self._timeout):
                    conn.writer.write(payload)
                    await conn.writer.drain()
                    response, keep = await _read_response(conn.reader, method)
            except TimeoutError:
                conn.close()
                raise TransientDeliveryError(f"{self._sink}: ReadTimeout") from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _Malformed) as exc:
                conn.close()
                raise TransientDeliveryError(f"{self._sink}: {_failure(exc)}") from None
            except BaseException:
                conn.close()  # cancelled mid-exchange: the connection's state is unknown
                raise
            if keep:
                conn.idle_since = asyncio.get_running_loop().time()
                self._idle.append(conn)
            else:
                conn.close()
            return response

    async def aclose(self) -> None:
        """Close every idle connection. Idempotent."""
        while self._idle:
            conn = self._idle.pop()
            conn.close()
            with contextlib.suppress(OSError, ssl.SSLError):  # already gone: nothing to release
                await conn.writer.wait_closed()

    async def _acquire(self) -> _Connection:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()  # most recently used first: the likeliest to be alive
            if conn.usable(now, self._keepalive_expiry):
                return conn
            conn.close()
        failure = "ConnectError"
        for attempt in range(CONNECT_TRIES):
            if attempt:
                await asyncio.sleep(min(0.05 * 2**attempt, 0.5))
            try:
                async with asyncio.timeout(self._connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        self._host,
                        self._port,
                        ssl=self._ssl,
                        server_hostname=self._host if self._ssl else None,
                        limit=MAX_HEAD,
                    )
                return _Connection(reader, writer)
            except TimeoutError:
                failure = "ConnectTimeout"
            except (OSError, ssl.SSLError):
                failure = "ConnectError"
        raise TransientDeliveryError(f"{self._sink}: {failure}")


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[Http1Response, bool]:
    """The next final response on ``reader`` and whether the connection may be reused."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        match = _STATUS.match(lines[0])
        if match is None:
            raise _Malformed("status line")
        status = int(match.group(2))
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name[:1] in b" \t" or name != name.strip():
                raise _Malformed("header line")
            headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
        if status >= 200 or status == 101:
            break  # 1xx interim responses (100, 103) are skipped
    if status == 101:
        raise _Malformed("unexpected protocol switch")
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection if match.group(1) == b"1" else "keep-alive" in connection
    if method == "HEAD" or status in (204, 304):
        return Http1Response(status, headers, b""), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = await _read_chunked(reader)
        return Http1Response(status, headers, body), keep and complete
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise _Malformed("content-length")
        size = int(length)
        if size > MAX_BODY:
            return Http1Response(status, headers, b""), False  # not read: the connection is dropped
        return Http1Response(status, headers, await reader.readexactly(size)), keep
    parts: list[bytes] = []  # close-delimited: the body runs to the end of the connection
    total = 0
    while total < MAX_BODY and (chunk := await reader.read(MAX_BODY - total)):
        parts.append(chunk)
        total += len(chunk)
    return Http1Response(status, headers, b"".join(parts)), False


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Malformed("chunk size") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers, ignored
            return b"".join(parts), True
        total += size
        if total > MAX_BODY:
            return b"".join(parts), False  # too long: stop reading, drop the connection
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise _Malformed("chunk end")


def _failure(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError | ConnectionError):
        return "RemoteProtocolError"
    if isinstance(exc, _Malformed | asyncio.LimitOverrunError):
        return "RemoteProtocolError"
    return "WriteError" if isinstance(exc, OSError) else type(exc).__name__


__all__ = ["MAX_BODY", "Http1Pool", "Http1Response", "check_header"]
