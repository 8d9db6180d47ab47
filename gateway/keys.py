"""Key material for the embedded default mode, generated on first start under ``$RCMGW_HOME/keys``.

- ``dev-issuer.jwk``: the dev token issuer's private key (EC P-256, ES256), a JWK with a ``kid``.
- ``pseudonym.json``: the HMAC key for pseudonym tokens (``key_id``, base64 ``secret``).
- ``audit.json``: the HMAC key that chains audit records.
- ``spool.json``: AES-256-GCM keys for data at rest (spool payloads, quarantine); the first is
  active, the others still decrypt (rotation: add a new key at the front, restart).

Files are written atomically with mode 0600; the directory is 0700. Production deployments point the
settings at their own key files (a later issue); nothing here is ever logged.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from joserfc.jwk import ECKey

from redaction import PseudonymKey


@dataclass(frozen=True)
class GatewayKeys:
    """All key material the gateway needs."""

    issuer_key: ECKey = field(repr=False)
    pseudonym: PseudonymKey = field(repr=False)
    spool_keys: dict[str, bytes] = field(repr=False)
    spool_active: str = ""
    audit_key: bytes = field(default=b"", repr=False)


def _new_key_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _load_issuer_key(path: Path) -> ECKey:
    if not path.exists():
        key = ECKey.generate_key(
            "P-256", parameters={"kid": _new_key_id("dev"), "alg": "ES256", "use": "sig"}
        )
        _write_private(path, json.dumps(key.as_dict(private=True)))
    data = json.loads(path.read_text("utf-8"))
    return ECKey.import_key(data)


def _load_secret_file(path: Path, prefix: str) -> list[tuple[str, bytes]]:
    if not path.exists():
        entry = {"key_id": _new_key_id(prefix), "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
        _write_private(path, json.dumps({"keys": [entry]}))
    data = json.loads(path.read_text("utf-8"))
    return [(str(item["key_id"]), base64.b64decode(item["secret"])) for item in data["keys"]]


def load_or_create_keys(keys_dir: Path) -> GatewayKeys:
    """Load every key under ``keys_dir``, generating any that is missing."""
    issuer = _load_issuer_key(keys_dir / "dev-issuer.jwk")
    pseudonym_id, pseudonym_secret = _load_secret_file(keys_dir / "pseudonym.json", "psn")[0]
    spool = _load_secret_file(keys_dir / "spool.json", "spool")
    audit_key = _load_secret_file(keys_dir / "audit.json", "audit")[0][1]
    return GatewayKeys(
        issuer_key=issuer,
        pseudonym=PseudonymKey(key_id=pseudonym_id, secret=pseudonym_secret),
        spool_keys=dict(spool),
        spool_active=spool[0][0],
        audit_key=audit_key,
    )
