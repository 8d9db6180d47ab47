"""`PayloadCipher`: authenticated encryption (AES-256-GCM) of spooled ticket bodies, with key rotation.

The spool never writes a ticket body in the clear. Each blob is ``nonce (12 bytes) || ciphertext+tag``
and is bound to its row by associated data (AAD), so a blob copied into another row fails to decrypt.
Rotation: the active key encrypts; every key still listed decrypts, so entries written before a
rotation stay readable until the old key is removed from the configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fallback.errors import SpoolCorrupt

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16


class PayloadCipher:
    """AES-256-GCM over spool payloads, keyed by id.

    ``keys`` maps key ids to 32-byte keys; ``active_key_id`` names the one used to encrypt. Raises
    ValueError on a key of the wrong length, an empty key id, or an active id missing from ``keys``.
    Key material never appears in ``repr`` or in error messages.
    """

    __slots__ = ("_active_key_id", "_aeads")

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        aeads: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            if not key_id:
                raise ValueError("spool key ids must be non-empty")
            if len(key) != KEY_BYTES:
                raise ValueError(f"spool key {key_id!r} must be {KEY_BYTES} bytes")
            aeads[key_id] = AESGCM(bytes(key))
        if active_key_id not in aeads:
            raise ValueError(f"active spool key {active_key_id!r} is not among the configured keys")
        self._aeads: Mapping[str, AESGCM] = MappingProxyType(aeads)
        self._active_key_id = active_key_id

    @staticmethod
    def generate_key() -> bytes:
        """A fresh random 32-byte key."""
        return AESGCM.generate_key(bit_length=KEY_BYTES * 8)

    @property
    def active_key_id(self) -> str:
        """The id of the key that new blobs are encrypted with."""
        return self._active_key_id

    @property
    def key_ids(self) -> frozenset[str]:
        """Every key id that can decrypt."""
        return frozenset(self._aeads)

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt with the active key; returns ``(key_id, nonce || ciphertext)``. A fresh random
        nonce is drawn for every call."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self._active_key_id].encrypt(nonce, plaintext, aad)
        return self._active_key_id, nonce + sealed

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob made by `encrypt` with the same ``aad``.

        Raises `SpoolCorrupt` when the key id is unknown, the blob is too short, or authentication
        fails (wrong key, wrong AAD, altered bytes).
        """
        aead = self._aeads.get(key_id)
        if aead is None:
            raise SpoolCorrupt(f"unknown spool key id {key_id!r}")
        if len(blob) < NONCE_BYTES + _TAG_BYTES:
            raise SpoolCorrupt("spool blob too short")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise SpoolCorrupt(f"spool blob failed authentication (key id {key_id!r})") from exc

    def __repr__(self) -> str:
        return f"PayloadCipher(active_key_id={self._active_key_id!r}, key_ids={sorted(self._aeads)!r})"


__all__ = ["KEY_BYTES", "NONCE_BYTES", "PayloadCipher"]
