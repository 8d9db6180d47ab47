"""The access review: every principal (service clients and SAML users) with roles, scopes and last
use; those unused for ``unused_after_days`` (default 90) or never used are flagged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.auth.clients import ClientRegistry
from gateway.auth.store import AuthStore


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One principal in the review."""

    kind: str
    principal_id: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    last_used: datetime | None
    registered: bool
    unused: bool

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "kind": self.kind,
            "id": self.principal_id,
            "roles": list(self.roles),
            "scopes": list(self.scopes),
            "last_used": self.last_used.isoformat() if self.last_used else None,
            "registered": self.registered,
            "unused": self.unused,
        }


def access_review(
    store: AuthStore, clients: ClientRegistry, *, unused_after_days: int, now: datetime | None = None
) -> list[ReviewRow]:
    """Principals seen by the gateway plus registered clients never seen, flagged when unused."""
    now = now or datetime.now(UTC)
    limit = now - timedelta(days=unused_after_days)
    rows: dict[tuple[str, str], ReviewRow] = {}
    registered = {client.client_id: client for client in clients.all()}
    for use in store.principals():
        rows[(use.kind, use.principal_id)] = ReviewRow(
            use.kind,
            use.principal_id,
            registered[use.principal_id].roles if use.principal_id in registered else use.roles,
            use.scopes,
            use.last_used,
            use.principal_id in registered,
            use.last_used is None or use.last_used < limit,
        )
    for client in registered.values():
        rows.setdefault(
            ("service", client.client_id),
            ReviewRow(
                "service",
                client.client_id,
                client.roles,
                tuple(sorted(client.allowed_scopes)),
                None,
                True,
                True,
            ),
        )
    return [rows[key] for key in sorted(rows)]
