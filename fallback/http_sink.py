"""`HttpSink`: the base of the sinks that talk HTTP (webhook, redmine, jira, servicenow, zendesk,
rest). It owns the `httpx.AsyncClient` (opened by ``open``, closed by ``aclose``), the timeouts, the
https-only rule for remote URLs, and the in-process memory of keys already delivered (so a repeat in
one process is answered without a request). Subclasses implement `_deliver`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

import httpx

from fallback.http_delivery import call, require_safe_url
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket

_REMEMBER: Final = 100_000
USER_AGENT: Final = "rcm-gateway/0.1"
_POOL: Final = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=30.0)


class HttpSink:
    """Common machinery of HTTP sinks (see the module docstring)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        verify: bool | str = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._base_url = require_safe_url(name, base_url.rstrip("/"))
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._verify = verify
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._delivered: OrderedDict[str, str | None] = OrderedDict()

    async def open(self) -> None:
        """Create the HTTP client. Idempotent."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                verify=self._verify,
                transport=self._transport,
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
                limits=_POOL,  # keep-alive connections reused across sends, concurrent ones too
            )

    async def aclose(self) -> None:
        """Close the HTTP client. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def deliver(self, ticket: SealedTicket, idempotency_key: str) -> DeliveryReceipt:
        """See `Sink.deliver`."""
        client = self._require_client()
        if idempotency_key in self._delivered:
            return DeliveryReceipt(remote_id=self._delivered[idempotency_key], duplicate=True)
        receipt = await self._deliver(client, ticket, idempotency_key)
        self._remember(idempotency_key, receipt.remote_id)
        return receipt

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        raise NotImplementedError

    async def _call(self, method: str, path_or_url: str, **kwargs: Any) -> httpx.Response:
        url = path_or_url if "://" in path_or_url else self._base_url + path_or_url
        return await call(self.name, self._require_client(), method, url, **kwargs)

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError(f"sink {self.name!r} is not open")
        return self._client

    def _remember(self, key: str, remote_id: str | None) -> None:
        self._delivered[key] = remote_id
        while len(self._delivered) > _REMEMBER:
            self._delivered.popitem(last=False)


__all__ = ["USER_AGENT", "HttpSink"]
