"""Quarantine: inputs we could not turn into tickets are kept, encrypted, never dropped.

Each quarantined input is two files under ``$RCMGW_HOME/quarantine/``: ``<id>.bin`` (AES-256-GCM
ciphertext of the raw bytes, with the key id) and ``<id>.reason`` (one line: time, source, error
code and a PHI-free reason). ``rcmgw`` can decrypt them for an operator with the spool key.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fallback.cipher import PayloadCipher


@dataclass(frozen=True, slots=True)
class QuarantineReceipt:
    """Where a rejected input went."""

    quarantine_id: str
    path: Path


class Quarantine:
    """Stores rejected raw inputs encrypted at rest."""

    def __init__(self, directory: Path, cipher: PayloadCipher) -> None:
        self._directory = directory
        self._cipher = cipher

    def put(self, raw: bytes, *, source: str, code: str, reason: str) -> QuarantineReceipt:
        """Encrypt and store ``raw`` with a one-line reason; durable (fsync) before it returns."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        quarantine_id = f"q_{datetime.now(UTC):%Y%m%dT%H%M%S}_{secrets.token_hex(6)}"
        key_id, blob = self._cipher.encrypt(raw, quarantine_id.encode("ascii"))
        envelope = key_id.encode("ascii") + b"\n" + blob
        path = self._directory / f"{quarantine_id}.bin"
        _write_durably(path, envelope)
        line = json.dumps(
            {"at": datetime.now(UTC).isoformat(), "source": source, "code": code, "reason": reason}
        )
        _write_durably(self._directory / f"{quarantine_id}.reason", (line + "\n").encode("utf-8"))
        return QuarantineReceipt(quarantine_id=quarantine_id, path=path)

    def read(self, quarantine_id: str) -> bytes:
        """Decrypt a quarantined input (for operators)."""
        envelope = (self._directory / f"{quarantine_id}.bin").read_bytes()
        key_id, _, blob = envelope.partition(b"\n")
        return self._cipher.decrypt(key_id.decode("ascii"), blob, quarantine_id.encode("ascii"))


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
