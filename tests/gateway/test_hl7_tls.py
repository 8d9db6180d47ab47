"""MLLP over mutual TLS: a client with a certificate from the configured CA is answered; a client
without one is refused. Certificates are generated in the test with ``cryptography``."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hl7kit import ack_messages, mllp_exchange, running
from testkit import REPO

from gateway.settings import Settings

PRIVATE = serialization.PrivateFormat.PKCS8


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, PRIVATE, serialization.NoEncryption()))
    return cert_path, key_path


def test_mutual_tls_with_client_certificate(settings: Settings, tmp_path: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("rcmgw test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_path, _ = _write(tmp_path / "ca", ca, ca_key)
    server_cert, server_key_path = _write(
        tmp_path / "server", _issue("localhost", server_key, ca, ca_key, server=True), server_key
    )
    client_cert, client_key_path = _write(
        tmp_path / "client", _issue("epic-interface", client_key, ca, ca_key), client_key
    )
    mllp = settings.mllp.model_copy(
        update={
            "port": 0,
            "tls_cert_file": server_cert,
            "tls_key_file": server_key_path,
            "tls_client_ca_file": ca_path,
        }
    )
    body = (REPO / "fixtures" / "hl7v2" / "adt-a08-no-in1.hl7").read_bytes()

    def client_context(with_cert: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(ca_path))
        if with_cert:
            context.load_cert_chain(client_cert, client_key_path)
        return context

    async def run() -> list[bytes]:
        async with running(settings.model_copy(update={"mllp": mllp})) as gw:
            answers = await mllp_exchange(gw.port, [body], context=client_context(True))
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
                await mllp_exchange(gw.port, [body], context=client_context(False), read_timeout=5)
            return answers

    (answer,) = asyncio.run(run())
    (ack,) = ack_messages(answer)
    assert ack.first("MSA").value(1) == "AA"  # type: ignore[union-attr]
