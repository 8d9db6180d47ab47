"""An OAuth 2.0 client-credentials access token (RFC 6749 4.4) for a sink that calls an API with
a bearer token: fetched on first use, cached until 30 s before ``expires_in``, one fetch at a time,
forgotten on request (a 401: expired or revoked early)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import httpx

from fallback.errors import PermanentDeliveryError
from fallback.http_delivery import check_response, send

MARGIN_SECONDS: Final = 30.0
"""A cached token is renewed this long before it expires."""


class ClientCredentials:
    """The token of one sink's client (``name`` labels errors; no secret is ever in one)."""

    def __init__(
        self,
        name: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float],
        form: dict[str, str] | None = None,
    ) -> None:
        self._name = name
        self._url = token_url
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._form = {"grant_type": "client_credentials", **(form or {})}
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def forget(self) -> None:
        """Drop the cached token: the next `bearer` fetches a new one."""
        self._token = None

    async def bearer(self, client: httpx.AsyncClient) -> str:
        """The cached token, or a new one from the token endpoint."""
        async with self._lock:
            if self._token is not None and self._clock() < self._token[1]:
                return self._token[0]
            response = await send(self._name, client, "POST", self._url, data=self._form, auth=self._auth)
            check_response(self._name, response)
            try:
                body = response.json()
            except ValueError:
                raise PermanentDeliveryError(f"{self._name}: the token response is not JSON") from None
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise PermanentDeliveryError(f"{self._name}: the token response holds no access_token")
            try:
                lifetime = float(body.get("expires_in", 300))
            except (TypeError, ValueError):
                lifetime = 300.0
            self._token = (token, self._clock() + max(lifetime - MARGIN_SECONDS, 0.0))
            self.fetches += 1
            return token


__all__ = ["MARGIN_SECONDS", "ClientCredentials"]
