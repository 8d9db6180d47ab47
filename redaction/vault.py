"""The re-identification vault: token -> original value, encrypted at rest, optional and off by default.

When a deployment enables it, the redactor tells the vault (as its `TokenObserver`) every token it
writes and the clear value behind it; an authorised person can later ask what one token stands for
(the gateway serves that only through ``POST /v1/phi/reidentify`` with scope ``phi:reidentify``, and
audits every read). Nothing else reads it.

Storage: one SQLite file (WAL, ``synchronous=FULL``), one row per token::

    token TEXT PRIMARY KEY, kind TEXT, key_id TEXT, blob BLOB, stored_at TEXT, expires_at TEXT

``blob`` is ``nonce (12 bytes) || AES-256-GCM(value)`` with the token as associated data, so a row
moved to another token does not decrypt. The key is 32 bytes with a ``key_id``; older keys may be
given to keep reading rows written under them (rotation: new key first). Rows expire after the
retention period: `lookup` ignores expired rows and `purge_expired` deletes them (the gateway runs
it on start). Writing the same token again refreshes its expiry.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from redaction.errors import VaultError
from redaction.kinds import IdentifierKind

KEY_BYTES = 32
_NONCE_BYTES = 12
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vault (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key_id TEXT NOT NULL,
    blob BLOB NOT NULL,
    stored_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_expires ON vault (expires_at);
"""


@dataclass(frozen=True, slots=True)
class VaultEntry:
    """What a token stands for. ``value`` is clear PHI: never log it, never put it in a URL."""

    token: str
    kind: IdentifierKind
    value: str = field(repr=False)
    stored_at: datetime


class ReidentificationVault:
    """Token -> value store, AES-256-GCM at rest; a `redaction.TokenObserver`.

    Contract: after ``remember(token, kind, value)`` returns, ``lookup(token)`` gives the value until
    the retention period has passed since the last ``remember`` of that token; any storage or
    decryption failure raises `VaultError` (with no value in its message).
    """

    def __init__(
        self,
        path: Path,
        keys: Mapping[str, bytes],
        active_key_id: str,
        *,
        retention: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if active_key_id not in keys:
            raise VaultError(f"vault key {active_key_id!r} is not among the keys given")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise VaultError(f"vault key {key_id!r} is not {KEY_BYTES} bytes")
        if retention <= timedelta(0):
            raise VaultError("vault retention must be positive")
        self._path = path
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id
        self._retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def retention(self) -> timedelta:
        """How long a token stays readable after it was last written."""
        return self._retention

    def open(self) -> None:
        """Create the database (mode 0600, directory 0700) if needed."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self._path.exists():
                os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise VaultError(f"cannot open the vault ({type(error).__name__})") from None
        self._conn = conn

    def close(self) -> None:
        """Close the database."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    def remember(self, token: str, kind: IdentifierKind, value: str) -> None:
        """Store (or refresh) ``token`` -> ``value``, encrypted, durably."""
        now = self._clock().astimezone(UTC)
        nonce = os.urandom(_NONCE_BYTES)
        blob = nonce + self._ciphers[self._active].encrypt(nonce, value.encode("utf-8"), token.encode())
        try:
            with self._lock:
                self._connection().execute(
                    "INSERT INTO vault (token, kind, key_id, blob, stored_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(token) DO UPDATE SET"
                    " kind=excluded.kind, key_id=excluded.key_id, blob=excluded.blob,"
                    " expires_at=excluded.expires_at",
                    (
                        token,
                        kind.value,
                        self._active,
                        blob,
                        now.isoformat(),
                        (now + self._retention).isoformat(),
                    ),
                )
        except sqlite3.Error as error:
            raise VaultError(f"cannot write to the vault ({type(error).__name__})") from None

    def lookup(self, token: str) -> VaultEntry | None:
        """The entry for ``token``, or None when it is unknown or expired."""
        now = self._clock().astimezone(UTC).isoformat()
        try:
            with self._lock:
                row = (
                    self._connection()
                    .execute(
                        "SELECT kind, key_id, blob, stored_at FROM vault WHERE token = ? AND expires_at > ?",
                        (token, now),
                    )
                    .fetchone()
                )
        except sqlite3.Error as error:
            raise VaultError(f"cannot read the vault ({type(error).__name__})") from None
        if row is None:
            return None
        kind, key_id, blob, stored_at = row
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise VaultError(f"vault row was written under key {key_id!r}, which is not loaded")
        try:
            value = cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], token.encode()).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise VaultError("a vault row does not decrypt (tampered or wrong key)") from None
        return VaultEntry(token, IdentifierKind.parse(kind), value, datetime.fromisoformat(stored_at))

    def purge_expired(self) -> int:
        """Delete every expired row; the number deleted."""
        now = self._clock().astimezone(UTC).isoformat()
        try:
            with self._lock:
                cursor = self._connection().execute("DELETE FROM vault WHERE expires_at <= ?", (now,))
        except sqlite3.Error as error:
            raise VaultError(f"cannot purge the vault ({type(error).__name__})") from None
        return cursor.rowcount

    def __repr__(self) -> str:
        return f"ReidentificationVault(path={str(self._path)!r}, key_id={self._active!r})"
