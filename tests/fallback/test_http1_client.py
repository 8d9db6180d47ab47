"""`Http1Pool` (the webhook sink's lean HTTP/1.1 client) against a real loopback server that answers
from a script of raw responses: framing (length, chunked, close-delimited, 1xx), keep-alive reuse,
``Connection: close``, a peer that closed an idle connection, malformed answers, refused
connections, header injection, and TLS with a private CA."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fallback.errors import TransientDeliveryError
from fallback.http1_client import Http1Pool
from fallback.webhook_sink import WebhookSink, proxy_applies

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class ScriptServer:
    """Answers each request with the next raw response (then ``OK``); ``b""`` closes without one.
    ``close_after`` closes the connection right after that many answers on it."""

    def __init__(self, *answers: bytes, close_after: int | None = None) -> None:
        self.answers = deque(answers)
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_context)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.popleft() if self.answers else OK
                if not answer:
                    break
                writer.write(answer)
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def pool(port: int, scheme: str = "http", **kwargs: object) -> Http1Pool:
    return Http1Pool("hook", f"{scheme}://127.0.0.1:{port}/hook", timeout=2.0, connect_timeout=1.0, **kwargs)  # type: ignore[arg-type]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def test_keep_alive_reuses_one_connection_and_parses_length_and_chunked_bodies() -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: x\r\n\r\n"
    )

    async def main() -> None:
        server = ScriptServer(OK, chunked, OK)
        client = pool(await server.start(), headers={"User-Agent": "t"})
        first = await client.request("POST", "/hook", {"webhook-id": "tkt_1"}, b"{}")
        second = await client.request("POST", "/hook", {}, b"[]")
        third = await client.request("POST", "/hook", {}, b"")
        assert (first.status, first.body) == (200, b"ok")
        assert (second.status, second.body, second.headers["x-a"]) == (201, b"abcde", "1")
        assert third.status == 200
        assert server.connections == 1
        assert server.requests[0].startswith(b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nwebhook-id: tkt_1\r\n" in server.requests[0] and server.requests[0].endswith(
            b"\r\n\r\n{}"
        )
        await client.aclose()
        await server.stop()

    run(main())


def test_connection_close_close_delimited_body_and_interim_responses() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    until_eof = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"duplicate": true}'
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"

    async def main() -> None:
        server = ScriptServer(closing, until_eof, interim, close_after=1)
        client = pool(await server.start())
        assert (await client.request("POST", "/hook", {}, b"1")).status == 200
        answer = await client.request("POST", "/hook", {}, b"2")
        assert answer.body == b'{"duplicate": true}'
        assert (await client.request("POST", "/hook", {}, b"3")).status == 204
        assert server.connections == 3
        await client.aclose()
        await server.stop()

    run(main())


def test_an_idle_connection_closed_by_the_peer_is_replaced_without_an_error() -> None:
    async def main() -> None:
        server = ScriptServer(close_after=1)
        client = pool(await server.start())
        assert (await client.request("POST", "/hook", {}, b"1")).status == 200
        deadline = asyncio.get_running_loop().time() + 5
        while not client._idle[0].reader.at_eof():  # poll until the loop has seen the peer's FIN
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert (await client.request("POST", "/hook", {}, b"2")).status == 200
        assert server.connections == 2
        await client.aclose()
        await server.stop()

    run(main())


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (b"", "RemoteProtocolError"),  # closed without an answer
        (b"SMTP ready\r\n\r\n", "RemoteProtocolError"),
        (b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n", "RemoteProtocolError"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "RemoteProtocolError"),
    ],
)
def test_a_broken_answer_is_a_transient_failure_naming_only_the_class(answer: bytes, failure: str) -> None:
    async def main() -> None:
        server = ScriptServer(answer, close_after=1)
        client = pool(await server.start())
        with pytest.raises(TransientDeliveryError) as caught:
            await client.request("POST", "/hook", {}, b"x")
        assert str(caught.value) == f"hook: {failure}"
        assert (await client.request("POST", "/hook", {}, b"y")).status == 200  # a fresh connection
        await client.aclose()
        await server.stop()

    run(main())


def test_refused_connection_and_header_injection() -> None:
    async def main() -> None:
        server = ScriptServer()
        port = await server.start()
        await server.stop()
        assert server.server is not None
        await server.server.wait_closed()
        with pytest.raises(TransientDeliveryError, match=r"^hook: Connect(Error|Timeout)$"):
            await pool(port).request("POST", "/hook", {}, b"x")
        with pytest.raises(ValueError, match="line break"):
            await pool(port).request("POST", "/hook", {"webhook-id": "a\r\nX-Evil: 1"}, b"x")
        with pytest.raises(ValueError, match="header name"):
            pool(port, headers={"Bad Name": "x"})

    run(main())


def _private_ca(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def test_https_with_a_private_ca_and_an_untrusted_certificate(tmp_path: Path) -> None:
    server_context, ca_file = _private_ca(tmp_path)

    async def main() -> None:
        server = ScriptServer()
        port = await server.start(server_context)
        trusted = pool(port, scheme="https", verify=str(ca_file))
        assert (await trusted.request("POST", "/hook", {}, b"x")).body == b"ok"
        await trusted.aclose()
        with pytest.raises(TransientDeliveryError, match=r"^hook: ConnectError$"):
            await pool(port, scheme="https").request("POST", "/hook", {}, b"x")  # default trust store
        await server.stop()

    run(main())


def test_webhook_sink_uses_the_lean_client_unless_a_transport_or_a_proxy_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    url = "https://hooks.example.com/in"
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    assert not proxy_applies(url)
    assert WebhookSink(url, ["s"])._lean
    assert not WebhookSink(url, ["s"], transport=httpx.MockTransport(lambda r: httpx.Response(200)))._lean
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("no_proxy", "")
    assert proxy_applies(url)
    assert not WebhookSink(url, ["s"])._lean
