"""Signing keys of an external authorization server: discovered, fetched, cached, rotated.

The issuer's metadata is found by RFC 8414 (``/.well-known/oauth-authorization-server``) and then
OIDC discovery (``/.well-known/openid-configuration``); its ``issuer`` must equal the configured
one. The JWKS at ``jwks_uri`` is cached for ``cache_seconds``. A token whose ``kid`` is not in the
cache triggers a refresh (key rotation), at most once per ``min_refresh_seconds``, so a flood of
forged kids cannot turn the gateway into a request amplifier. Symmetric (``oct``) keys and keys
for algorithms outside the allow-list are dropped: a public key set can never verify an HMAC.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
from joserfc.jwk import KeySet

from gateway.auth.config import require_https_or_loopback
from gateway.auth.errors import AuthenticationFailed
from gateway.auth.tokens import ALLOWED_ALGORITHMS

log = logging.getLogger("rcmgw.auth")
MAX_DOCUMENT_BYTES = 256 * 1024


def metadata_urls(issuer: str) -> list[str]:
    """Where the metadata of ``issuer`` may be: RFC 8414 first, then OIDC discovery."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")
    )
    oidc = urlunsplit((parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", ""))
    return [rfc8414, oidc]


def _usable(key: dict[str, object]) -> bool:
    if key.get("kty") not in ("EC", "RSA", "OKP"):
        return False
    if key.get("use") not in (None, "sig"):
        return False
    return key.get("alg") in (None, *ALLOWED_ALGORITHMS)


class RemoteKeySet:
    """The signing keys of one issuer, fetched over HTTPS and cached."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        *,
        metadata_url: str | None = None,
        cache_seconds: int = 3600,
        min_refresh_seconds: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._http = http
        self._metadata_urls = [metadata_url] if metadata_url else metadata_urls(issuer)
        self._cache_seconds = cache_seconds
        self._min_refresh = min_refresh_seconds
        self.clock = clock
        self._keys = KeySet([])
        self._kids: frozenset[str] = frozenset()
        self._jwks_uri: str | None = None
        self._metadata: dict[str, object] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self.fetches = 0

    @property
    def keys(self) -> KeySet:
        """The keys as last fetched (empty before the first fetch)."""
        return self._keys

    @property
    def metadata(self) -> dict[str, object]:
        """The issuer's metadata document (empty before discovery)."""
        return dict(self._metadata)

    async def ensure(self, kid: str | None) -> None:
        """Make sure the cache is fresh and, if allowed by the rate limit, holds ``kid``."""
        now = self.clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._cache_seconds
        unknown = kid is not None and kid not in self._kids
        may_retry = self._attempted_at is None or now - self._attempted_at >= self._min_refresh
        if (stale or unknown) and may_retry:
            await self.refresh()

    async def refresh(self) -> None:
        """Fetch the key set now (discovering ``jwks_uri`` first if needed). On failure the old
        keys stay in use; with none at all, tokens fail with ``issuer_unavailable``."""
        self._attempted_at = self.clock()
        try:
            if self._jwks_uri is None:
                await self._discover()
            assert self._jwks_uri is not None
            document = await self._get_json(self._jwks_uri)
        except (httpx.HTTPError, ValueError) as error:
            log.warning("jwks fetch failed", extra={"error_class": type(error).__name__})
            if not self._kids:
                raise AuthenticationFailed("issuer_unavailable") from None
            return
        raw_keys = document.get("keys")
        if not isinstance(raw_keys, list):
            log.warning("jwks document has no keys", extra={"issuer": self._issuer})
            return
        usable = [key for key in raw_keys if isinstance(key, dict) and _usable(key)]
        self._keys = KeySet.import_key_set({"keys": usable}) if usable else KeySet([])
        self._kids = frozenset(str(key.get("kid")) for key in usable if key.get("kid"))
        self._fetched_at = self._attempted_at
        self.fetches += 1
        log.info("jwks refreshed", extra={"issuer": self._issuer, "keys": len(usable)})

    async def _discover(self) -> None:
        for url in self._metadata_urls:
            try:
                metadata = await self._get_json(url)
            except (httpx.HTTPError, ValueError):
                continue
            if metadata.get("issuer") != self._issuer:
                log.warning("issuer metadata names another issuer", extra={"metadata_url": url})
                continue
            jwks_uri = metadata.get("jwks_uri")
            if isinstance(jwks_uri, str):
                self._jwks_uri = require_https_or_loopback(jwks_uri)
                self._metadata = metadata
                return
        raise ValueError("no usable issuer metadata")

    async def _get_json(self, url: str) -> dict[str, object]:
        response = await self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise ValueError("document too large")
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return document
