"""The SAML SP's signing key and self-signed certificate, generated on first use under
``$RCMGW_HOME/keys`` (``saml-sp.key``, mode 0600; ``saml-sp.crt``). Production deployments may
replace both files with their own."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed(common_name: str) -> tuple[bytes, bytes]:
    """(PEM private key, PEM certificate) for a new RSA-2048 key valid ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def load_or_create_sp_keys(keys_dir: Path) -> tuple[str, str]:
    """(private key PEM, certificate PEM) of the SP, created if missing."""
    key_path, cert_path = keys_dir / "saml-sp.key", keys_dir / "saml-sp.crt"
    if not key_path.exists() or not cert_path.exists():
        key_pem, cert_pem = self_signed("rcm-gateway SAML SP")
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        cert_path.write_bytes(cert_pem)
    return key_path.read_text("ascii"), cert_path.read_text("ascii")
