"""The gateway's SMART Backend Services signing keys, published as a JWK Set.

One file, ``$RCMGW_HOME/keys/fhir-client.json`` (mode 0600, written atomically), holds every key
with its state. Keys are generated on first use: one RSA 2048 key for RS384 (the size Epic
documents) and one EC P-384 key for ES384.

States, per algorithm:

- ``active``: signs client assertions. Exactly one per algorithm.
- ``previous``: no longer signs but stays in the JWK Set, so a vendor that cached the old set, or
  that holds a token issued on an assertion signed by it, keeps working.
- retired keys are deleted: they leave the JWK Set and their private half is gone.

Rotation (docs/fhir.md): `KeyRing.rotate` adds a new key and makes it active (the old one becomes
``previous``); after the vendor's JWK Set cache time has passed, `KeyRing.retire` removes the old
key. Retiring the active key is refused.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from joserfc.jwk import ECKey, KeyParameters, RSAKey

from adapters.fhir.config import SigningAlg

KEYRING_FILE = "fhir-client.json"
KeyState = Literal["active", "previous"]
SigningKey = RSAKey | ECKey
ALGORITHMS: tuple[SigningAlg, ...] = ("RS384", "ES384")


@dataclass(frozen=True)
class KeyEntry:
    """One key of the ring with its state and creation time."""

    key: SigningKey
    alg: SigningAlg
    state: KeyState
    created_at: datetime

    @property
    def kid(self) -> str:
        """The key id (``kid``), also in every assertion it signs."""
        return str(self.key.kid)


def _generate(alg: SigningAlg, now: datetime) -> SigningKey:
    kid = f"rcmgw-{alg.lower()}-{now:%Y%m%d}-{secrets.token_hex(4)}"
    parameters: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "RS384":
        return RSAKey.generate_key(2048, parameters=parameters)
    return ECKey.generate_key("P-384", parameters=parameters)


def _import(data: dict[str, object]) -> SigningKey:
    if data.get("kty") == "RSA":
        return RSAKey.import_key(data)  # type: ignore[arg-type]
    return ECKey.import_key(data)  # type: ignore[arg-type]


class KeyRing:
    """The signing keys in ``keys_dir``; every change is written before the method returns."""

    def __init__(self, keys_dir: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._path = keys_dir / KEYRING_FILE
        self._clock = clock
        self._entries: list[KeyEntry] = []
        self._load()

    @property
    def path(self) -> Path:
        """The keyring file."""
        return self._path

    def _load(self) -> None:
        if self._path.exists():
            data = json.loads(self._path.read_text("utf-8"))
            self._entries = [
                KeyEntry(
                    key=_import(item["jwk"]),
                    alg=item["alg"],
                    state=item["state"],
                    created_at=datetime.fromisoformat(item["created_at"]),
                )
                for item in data["keys"]
            ]
        missing = [
            alg for alg in ALGORITHMS if not any(e.alg == alg and e.state == "active" for e in self._entries)
        ]
        if missing:
            now = self._clock()
            self._entries += [KeyEntry(_generate(alg, now), alg, "active", now) for alg in missing]
            self._save()

    def _save(self) -> None:
        body = {
            "keys": [
                {
                    "jwk": entry.key.as_dict(private=True),
                    "alg": entry.alg,
                    "state": entry.state,
                    "created_at": entry.created_at.isoformat(),
                }
                for entry in self._entries
            ]
        }
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(body))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self._path)

    def entries(self) -> list[KeyEntry]:
        """Every key, oldest first."""
        return list(self._entries)

    def active(self, alg: SigningAlg) -> KeyEntry:
        """The key that signs assertions with ``alg``."""
        return next(entry for entry in self._entries if entry.alg == alg and entry.state == "active")

    def rotate(self, alg: SigningAlg) -> KeyEntry:
        """Add a new key for ``alg`` and sign with it from now on; the old one stays published."""
        now = self._clock()
        fresh = KeyEntry(_generate(alg, now), alg, "active", now)
        self._entries = [
            KeyEntry(e.key, e.alg, "previous", e.created_at) if e.alg == alg and e.state == "active" else e
            for e in self._entries
        ]
        self._entries.append(fresh)
        self._save()
        return fresh

    def retire(self, kid: str) -> KeyEntry:
        """Remove a ``previous`` key from the ring and the JWK Set; `KeyError` if unknown,
        `ValueError` for the active key."""
        entry = next((e for e in self._entries if e.kid == kid), None)
        if entry is None:
            raise KeyError(kid)
        if entry.state == "active":
            raise ValueError(f"key {kid} is active; rotate first")
        self._entries = [e for e in self._entries if e.kid != kid]
        self._save()
        return entry

    def jwks(self) -> dict[str, list[dict[str, object]]]:
        """The public JWK Set: every active and previous key, public parameters only."""
        keys: list[dict[str, object]] = []
        for entry in self._entries:
            public: dict[str, object] = dict(entry.key.as_dict(private=False))
            public.update({"kid": entry.kid, "alg": entry.alg, "use": "sig"})
            keys.append(public)
        return {"keys": keys}
