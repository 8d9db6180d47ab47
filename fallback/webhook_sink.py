"""`WebhookSink`: POSTs the sealed ticket JSON to a URL, signed per the Standard Webhooks spec.

Headers (https://www.standardwebhooks.com/):

* ``webhook-id``: the ticket id. It is the same on every retry and replay, so the receiver
  deduplicates on it (the spec's idempotency key);
* ``webhook-timestamp``: Unix seconds of this attempt;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``, one per
  configured secret, space separated, so a receiver can rotate secrets without a gap.

Secrets are ``whsec_<base64>`` (the bytes after the prefix are the key) or raw strings. The body is
exactly ``ticket.body``. A receiver may answer a repeat with ``{"duplicate": true}``; the sink then
reports ``duplicate=True``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

import httpx

from fallback.http_sink import HttpSink
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a configured secret (``whsec_`` + base64, or the raw string's bytes)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body`` under every secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    parts = [
        "v1," + base64.b64encode(hmac.new(secret_bytes(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    ]
    return " ".join(parts)


def verify(secret: str, headers: httpx.Headers | dict[str, str], body: bytes) -> bool:
    """True when one of the ``v1`` signatures in ``headers`` matches ``secret`` (receivers, tests)."""
    msg_id, stamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    expected = sign([secret], msg_id, stamp, body).split(",", 1)[1]
    return any(
        part.startswith("v1,") and hmac.compare_digest(part[3:], expected)
        for part in headers["webhook-signature"].split()
    )


class WebhookSink(HttpSink):
    """Delivers to ``url`` with Standard Webhooks signatures (see the module docstring)."""

    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        *,
        name: str = "webhook",
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not secrets:
            raise ValueError(f"sink {name!r}: a webhook needs at least one signing secret")
        super().__init__(name, url, timeout=timeout, connect_timeout=connect_timeout, transport=transport)
        self._url = self._base_url
        self._secrets = tuple(secrets)
        self._headers = dict(headers or {})
        self._now = now

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        stamp = int(self._now())
        headers = {
            **self._headers,
            "content-type": "application/json",
            "webhook-id": idempotency_key,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self._secrets, idempotency_key, stamp, ticket.body),
        }
        response = await self._call("POST", self._url, content=ticket.body, headers=headers)
        duplicate = False
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                duplicate = bool(response.json().get("duplicate", False))
            except (ValueError, AttributeError):
                duplicate = False
        return DeliveryReceipt(remote_id=idempotency_key, duplicate=duplicate)


__all__ = ["WebhookSink", "secret_bytes", "sign", "verify"]
