"""`SmartTokenSource`: SMART Backend Services access tokens for one FHIR instance.

Client credentials grant through authlib's httpx-based `AsyncOAuth2Client`, authenticated with a
fresh `private_key_jwt` assertion (`adapters.fhir.assertion`) or, for a Cerner system account,
``client_secret_basic``. The token endpoint is configured (Epic) or discovered from
``{base}/.well-known/smart-configuration`` (Cerner, per tenant).

- A token is cached until ``expires_in`` minus a safety margin; no refresh token is expected.
- A 401 from the FHIR server triggers one re-authentication (`reauthenticate`).
- A new token is never requested within ``min_refresh_seconds`` of the previous request (Cerner
  asks for at most one a minute): `TokenRefreshTooSoon` says when to come back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import authlib.deprecate  # noqa: F401 - installs authlib's "always" filter before ours below
import httpx

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 fork and warns when it falls back to httpx; the gateway (and
    # respx, which its tests use) is on httpx, which authlib still supports.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from adapters.fhir.assertion import PrivateKeyJwtAuth
from adapters.fhir.config import FhirInstance
from adapters.fhir.errors import (
    TokenRefreshTooSoon,
    TokenRequestFailed,
    UpstreamBadResponse,
    UpstreamThrottled,
    UpstreamUnreachable,
)
from adapters.fhir.retry_after import parse_retry_after
from adapters.fhir.signing_keys import KeyRing

log = logging.getLogger("rcmgw.fhir.auth")
EXPIRY_MARGIN_SECONDS = 60.0
DEFAULT_EXPIRES_IN = 300.0


def _throttle_hook(response: httpx.Response) -> httpx.Response:
    if response.status_code in (429, 503):
        raise UpstreamThrottled(
            f"token endpoint answered {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            status=response.status_code,
        )
    return response


class SmartTokenSource:
    """Access tokens for ``instance``; one object per instance, safe for concurrent callers."""

    def __init__(
        self,
        instance: FhirInstance,
        keyring: KeyRing | None,
        *,
        min_refresh_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._instance = instance
        self._keyring = keyring
        self._min_refresh = min_refresh_seconds
        self._transport = transport
        self._environ = environ
        self._clock = clock
        self._token_url = instance.token_url
        self._token: str | None = None
        self._expires_at = 0.0
        self._last_request: float | None = None
        self._lock = asyncio.Lock()
        self.requests = 0

    async def token_url(self) -> str:
        """The token endpoint: configured, or discovered from smart-configuration."""
        if self._token_url is None:
            self._token_url = await self._discover()
        return self._token_url

    async def _discover(self) -> str:
        url = self._instance.base_url.rstrip("/") + "/.well-known/smart-configuration"
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=self._instance.timeout_seconds
            ) as http:
                response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise UpstreamUnreachable(f"smart-configuration: {type(error).__name__}") from None
        _throttle_hook(response)
        if response.status_code != 200:
            raise UpstreamUnreachable(
                f"smart-configuration answered {response.status_code}", status=response.status_code
            )
        try:
            endpoint = response.json()["token_endpoint"]
        except (ValueError, KeyError, TypeError):
            raise UpstreamBadResponse("smart-configuration has no token_endpoint") from None
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise UpstreamBadResponse("smart-configuration token_endpoint is not a URL")
        return endpoint

    async def access_token(self) -> str:
        """A valid access token, from the cache when it has more than the margin left."""
        async with self._lock:
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            return await self._fetch()

    async def reauthenticate(self, rejected: str) -> str:
        """After a 401 with ``rejected``: drop it and get a new token (once; callers do not loop)."""
        async with self._lock:
            if self._token is not None and self._token != rejected and self._clock() < self._expires_at:
                return self._token  # another caller already re-authenticated
            self._token = None
            return await self._fetch()

    def _client(self, token_url: str) -> AsyncOAuth2Client:
        instance = self._instance
        kwargs: dict[str, Any] = {"timeout": instance.timeout_seconds}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        if instance.auth == "client_secret_basic":
            secret = self._environ.get(instance.client_secret_env or "", "")
            client = AsyncOAuth2Client(
                client_id=instance.client_id,
                client_secret=secret,
                token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
                scope=instance.scope,
                **kwargs,
            )
        else:
            keyring = self._keyring
            if keyring is None:
                raise ValueError("private_key_jwt needs a key ring")
            client = AsyncOAuth2Client(
                client_id=instance.client_id,
                token_endpoint_auth_method=PrivateKeyJwtAuth.name,
                scope=instance.scope,
                **kwargs,
            )
            client.register_client_auth_method(
                PrivateKeyJwtAuth(token_url, lambda: keyring.active(instance.signing_alg))
            )
        client.register_compliance_hook("access_token_response", _throttle_hook)
        return client

    async def _fetch(self) -> str:
        now = self._clock()
        if self._last_request is not None and now - self._last_request < self._min_refresh:
            wait = self._min_refresh - (now - self._last_request)
            raise TokenRefreshTooSoon(
                "a token was requested less than the minimum interval ago", retry_after=wait
            )
        token_url = await self.token_url()
        self._last_request = now
        self.requests += 1
        try:
            async with self._client(token_url) as client:
                token = await client.fetch_token(token_url, grant_type="client_credentials")
        except OAuthError as error:
            code = str(error.error or "unknown")[:64]
            log.warning(
                "token request rejected", extra={"instance": self._instance.name, "oauth_error": code}
            )
            raise TokenRequestFailed(
                f"token endpoint rejected the request ({code})", oauth_error=code
            ) from None
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            if status >= 500:
                raise UpstreamUnreachable(f"token endpoint answered {status}", status=status) from None
            raise TokenRequestFailed(f"token endpoint answered {status}", status=status) from None
        except httpx.HTTPError as error:
            raise UpstreamUnreachable(f"token endpoint: {type(error).__name__}") from None
        except ValueError:
            raise UpstreamBadResponse("token endpoint answer is not a JSON object") from None
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise UpstreamBadResponse("token endpoint answer has no access_token")
        try:
            expires_in = float(token.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        margin = min(EXPIRY_MARGIN_SECONDS, expires_in / 10)
        self._token = access
        self._expires_at = now + max(expires_in - margin, 0.0)
        log.info("token obtained", extra={"instance": self._instance.name, "expires_in": int(expires_in)})
        return access
