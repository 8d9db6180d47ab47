"""`CernerEventsSink`: the write-back target for Cerner's Revenue Cycle Management Events API,
``POST {url}/v1/{tenant}/events``, authenticated with the gateway's own system account: an OAuth 2.0
client-credentials token from ``token_url`` (HTTP Basic client authentication), cached until
shortly before ``expires_in`` and fetched again once when the API answers 401.

The event carries ids and codes only, read from the write-back ticket that two-way sync seals
(`gateway.sync_status`): the gateway ticket it concerns (``lifecycle.of``), the status, the
ticketing system's name and remote id (``source.control_ids``), the category, codes (system and
code, no descriptions), the payer id and the tier. Never the summary, description, evidence or
subjects. ``eventId`` is the write-back ticket id (stable across retries) and is also sent as
``Idempotency-Key``; a 409 answer means the event was already accepted (a duplicate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from fallback.client_credentials import ClientCredentials
from fallback.http_delivery import check_response, require_safe_url, send
from fallback.http_sink import HttpSink
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket


def event_body(ticket: SealedTicket) -> dict[str, Any]:
    """The Events API body of a write-back ticket (ids and codes only)."""
    p = ticket.payload
    ids = p.source.control_ids
    status = ids.get("status", "resolved")
    return {
        "eventId": p.id,
        "eventType": f"rcm-gateway.ticket.{status}",
        "occurredAt": p.received_at.isoformat(),
        "ticketId": p.lifecycle.of if p.lifecycle is not None else None,
        "status": status,
        "ticketingSystem": ids.get("sink"),
        "remoteTicketId": ids.get("remote_id"),
        "category": p.category,
        "codes": [{"system": c.system, "code": c.code} for c in p.codes],
        "payerId": p.payer.id if p.payer is not None else None,
        "tier": p.tier,
    }


class CernerEventsSink(HttpSink):
    """See the module docstring."""

    def __init__(
        self,
        url: str,
        tenant: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        name: str = "cerner-events",
        scope: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, url, **kwargs)
        if not client_secret:
            raise ValueError(f"sink {name!r}: the client secret is empty")
        self._tenant = tenant
        self._credentials = ClientCredentials(
            name, require_safe_url(name, token_url), client_id, client_secret,
            clock=clock, form={"scope": scope} if scope else None,
        )  # fmt: skip

    @property
    def token_fetches(self) -> int:
        """How many access tokens were fetched (each one is reused until shortly before expiry)."""
        return self._credentials.fetches

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        url = f"{self._base_url}/v1/{self._tenant}/events"
        body = event_body(ticket)
        response = await self._post(client, url, body, idempotency_key)
        if response.status_code == 401:
            self._credentials.forget()  # expired or revoked early: one new token, one more try
            response = await self._post(client, url, body, idempotency_key)
        if response.status_code == 409:
            return DeliveryReceipt(remote_id=None, duplicate=True)
        check_response(self.name, response)
        remote: str | None = None
        try:
            data = response.json()
            remote = str(data["id"]) if isinstance(data, dict) and data.get("id") is not None else None
        except ValueError:
            remote = None
        return DeliveryReceipt(remote_id=remote or response.headers.get("location"), duplicate=False)

    async def _post(
        self, client: httpx.AsyncClient, url: str, body: dict[str, Any], key: str
    ) -> httpx.Response:
        headers = {
            "Authorization": "Bearer " + await self._credentials.bearer(client),
            "Idempotency-Key": key,
        }
        return await send(self.name, client, "POST", url, json=body, headers=headers)


__all__ = ["CernerEventsSink", "event_body"]
