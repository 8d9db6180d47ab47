"""Service clients registered with the embedded dev issuer (``$RCMGW_HOME/auth/clients.json``).

Each client has an id, roles and/or scopes, and a secret stored only as an scrypt hash. `rcmgw
client add` registers one and prints its secret once. The dev issuer's token endpoint
(``POST /oauth/token``, client-credentials grant) authenticates clients against this file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.auth.roles import Role, scopes_for

_N, _R, _P = 2**14, 8, 1


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt>$<hash>`` for ``secret``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def secret_matches(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (constant time)."""
    try:
        scheme, salt, _ = stored.split("$")
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(hash_secret(secret, base64.b64decode(salt)), stored)


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A client of the dev issuer."""

    client_id: str
    secret_hash: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: str

    @property
    def allowed_scopes(self) -> frozenset[str]:
        """The scopes this client may ask for: its own plus its roles'."""
        return frozenset(self.scopes) | scopes_for(Role(role) for role in self.roles)


class ClientRegistry:
    """The clients file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[RegisteredClient]:
        """Every registered client."""
        if not self.path.is_file():
            return []
        data = json.loads(self.path.read_text("utf-8"))
        return [
            RegisteredClient(
                c["client_id"], c["secret_hash"], tuple(c["roles"]), tuple(c["scopes"]), c["created_at"]
            )
            for c in data.get("clients", [])
        ]

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client with this id, if registered."""
        return next((c for c in self.all() if c.client_id == client_id), None)

    def add(self, client_id: str, *, roles: list[Role], scopes: list[str]) -> str:
        """Register (or re-key) a client; returns its new secret, which is not stored."""
        secret = secrets.token_urlsafe(32)
        clients = [c for c in self.all() if c.client_id != client_id]
        clients.append(
            RegisteredClient(
                client_id,
                hash_secret(secret),
                tuple(sorted(role.value for role in roles)),
                tuple(sorted(set(scopes))),
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )
        self._write(clients)
        return secret

    def remove(self, client_id: str) -> bool:
        """Unregister a client; False when it was not registered."""
        clients = self.all()
        kept = [c for c in clients if c.client_id != client_id]
        self._write(kept)
        return len(kept) != len(clients)

    def _write(self, clients: list[RegisteredClient]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = {
            "clients": [
                {
                    "client_id": c.client_id,
                    "secret_hash": c.secret_hash,
                    "roles": list(c.roles),
                    "scopes": list(c.scopes),
                    "created_at": c.created_at,
                }
                for c in clients
            ]
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
