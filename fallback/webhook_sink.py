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

Transport: unless a test transport is given or a proxy applies to the URL (``HTTPS_PROXY`` and
friends, honoured by httpx), POSTs go through the lean keep-alive `Http1Pool`
(`fallback.http1_client`), not httpx: on the delivery hot path httpx costs several times the CPU of
the exchange. Status handling is the same for both (`fallback.http_delivery.check_status`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx

from fallback.http1_client import Http1Pool, check_header
from fallback.http_delivery import check_status
from fallback.http_sink import USER_AGENT, HttpSink
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a configured secret (``whsec_`` + base64, or the raw string's bytes)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body`` under every secret."""
    return _sign_with_keys([secret_bytes(s) for s in secrets], msg_id, timestamp, body)


def _sign_with_keys(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    parts = ["v1," + base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode() for k in keys]
    return " ".join(parts)


def proxy_applies(url: str) -> bool:
    """True when the environment configures a proxy for ``url`` (httpx would use it)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


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
        self._keys = tuple(secret_bytes(s) for s in secrets)
        self._headers = dict(headers or {})
        for header, value in self._headers.items():
            check_header(header, value)
        self._now = now
        self._timeout_seconds = (timeout, connect_timeout)
        parts = urlsplit(self._url)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._lean = transport is None and not proxy_applies(self._url)
        self._pool: Http1Pool | None = None

    async def open(self) -> None:
        """Create the HTTP client (and the lean connection pool). Idempotent."""
        await super().open()
        if self._lean and self._pool is None:
            timeout, connect_timeout = self._timeout_seconds
            self._pool = Http1Pool(
                self.name,
                self._url,
                timeout=timeout,
                connect_timeout=connect_timeout,
                verify=self._verify,
                headers={"User-Agent": USER_AGENT, "Accept": "*/*", **_unsigned(self._headers)},
            )

    async def aclose(self) -> None:
        """Close the connections. Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
        await super().aclose()

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        stamp = int(self._now())
        signed = {
            "content-type": "application/json",
            "webhook-id": idempotency_key,
            "webhook-timestamp": str(stamp),
            "webhook-signature": _sign_with_keys(self._keys, idempotency_key, stamp, ticket.body),
        }
        if self._pool is not None:
            response = await self._pool.request("POST", self._target, signed, ticket.body)
            check_status(self.name, response.status, response.headers.get("retry-after"))
            content_type, body = response.headers.get("content-type", ""), response.body
        else:
            headers = {**self._headers, **signed}
            sent = await self._call("POST", self._url, content=ticket.body, headers=headers)
            content_type, body = sent.headers.get("content-type", ""), sent.content
        return DeliveryReceipt(remote_id=idempotency_key, duplicate=_duplicate(content_type, body))


def _unsigned(headers: dict[str, str]) -> dict[str, str]:
    """Configured headers minus those every request sets itself (they win, as with httpx)."""
    own = {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"}
    return {k: v for k, v in headers.items() if k.lower() not in own}


def _duplicate(content_type: str, body: bytes) -> bool:
    """True when a JSON answer says ``{"duplicate": true}``."""
    if not content_type.startswith("application/json"):
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and bool(answer.get("duplicate", False))


__all__ = ["WebhookSink", "proxy_applies", "secret_bytes", "sign", "verify"]
