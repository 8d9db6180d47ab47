"""Everything authentication needs at run time, built from `Settings` (held by `Runtime.security`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from gateway.audit import AuditLog
from gateway.auth.clients import ClientRegistry
from gateway.auth.config import AuthSettings
from gateway.auth.introspection import Introspector
from gateway.auth.jwks import RemoteKeySet
from gateway.auth.resource_server import ResourceServer
from gateway.auth.saml_sp import SamlServiceProvider
from gateway.auth.sessions import SessionManager
from gateway.auth.store import AuthStore
from gateway.auth.tokens import DevIssuer, TokenValidator
from gateway.auth.usage import AccessTracker
from gateway.settings import Settings

HTTP_TIMEOUT = httpx.Timeout(5.0)


@dataclass
class SecurityServices:
    """The resource server, sessions, the auth database and the access tracker."""

    auth: AuthSettings
    store: AuthStore
    resource_server: ResourceServer
    sessions: SessionManager
    tracker: AccessTracker
    clients: ClientRegistry
    http: httpx.AsyncClient
    dev_issuer: DevIssuer | None
    saml: SamlServiceProvider | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        dev_issuer: DevIssuer,
        dev_validator: TokenValidator,
        audit: AuditLog,
    ) -> SecurityServices:
        """Wire the auth parts; with ``auth.issuer_url`` the dev issuer is switched off."""
        auth: AuthSettings = settings.auth
        audience = auth.audience or settings.token_audience
        http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        remote: RemoteKeySet | None = None
        if auth.issuer_url is not None:
            remote = RemoteKeySet(
                auth.issuer_url,
                http,
                metadata_url=auth.metadata_url,
                cache_seconds=auth.jwks_cache_seconds,
                min_refresh_seconds=auth.jwks_min_refresh_seconds,
            )
            keys = remote
            validator = TokenValidator(
                lambda: keys.keys,
                issuer=auth.issuer_url,
                audience=audience,
                leeway=settings.token_leeway_seconds,
            )
        else:
            validator = dev_validator
        introspector = None
        secret = auth.introspection_secret()
        if auth.introspection_endpoint and auth.introspection_client_id and secret:
            introspector = Introspector(
                auth.introspection_endpoint,
                http,
                client_id=auth.introspection_client_id,
                client_secret=secret,
                issuer=auth.issuer_url,
                audience=audience,
            )
        store = AuthStore(settings.home / "auth" / "auth.db")
        saml = (
            SamlServiceProvider(settings.saml, keys_dir=settings.keys_dir, store=store)
            if settings.saml.enabled
            else None
        )
        return cls(
            auth=auth,
            store=store,
            resource_server=ResourceServer(validator, remote_keys=remote, introspector=introspector),
            sessions=SessionManager(
                store,
                idle=timedelta(seconds=auth.session_idle_seconds),
                absolute=timedelta(seconds=auth.session_absolute_seconds),
            ),
            tracker=AccessTracker(store, audit),
            clients=ClientRegistry(settings.home / "auth" / "clients.json"),
            http=http,
            dev_issuer=None if auth.external else dev_issuer,
            saml=saml,
        )

    def open(self) -> None:
        """Open the auth database."""
        self.store.open()

    async def aclose(self) -> None:
        """Close the HTTP client and the database."""
        await self.http.aclose()
        self.store.close()
