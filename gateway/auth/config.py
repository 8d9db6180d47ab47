"""The ``auth`` settings section: which issuer the resource server trusts, introspection, sessions.

With no ``issuer_url`` the gateway runs its embedded dev issuer (out-of-the-box mode: tokens from
`rcmgw token` or ``POST /oauth/token``). With ``issuer_url`` set, only that issuer's tokens are
accepted: its keys come from the JWKS named in its metadata (RFC 8414 or OIDC discovery) and the
dev issuer is switched off. Secrets are referenced (an environment variable name or a file), never
written inline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def require_https_or_loopback(url: str) -> str:
    """``url`` if it is https, or http on a loopback host (tests, a sidecar); ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return url
    raise ValueError("must be an https URL (http only on a loopback host)")


class AuthSettings(BaseModel):
    """Settings of the OAuth 2.0 resource server and of people's sessions."""

    model_config = ConfigDict(extra="forbid")

    issuer_url: str | None = Field(
        None, description="External authorization server (its `iss`); unset: the embedded dev issuer."
    )
    audience: str | None = Field(None, description="Expected `aud`; unset: `token_audience`.")
    metadata_url: str | None = Field(
        None, description="Issuer metadata URL; unset: RFC 8414 then OIDC discovery from issuer_url."
    )
    jwks_cache_seconds: Annotated[int, Field(ge=60, le=86400)] = Field(
        3600, description="How long fetched signing keys are trusted before a refresh."
    )
    jwks_min_refresh_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        30, description="At most one key refresh per this many seconds (a token with an unknown kid)."
    )
    introspection_endpoint: str | None = Field(
        None, description="RFC 7662 endpoint for opaque tokens; unset: only JWT access tokens."
    )
    introspection_client_id: str | None = Field(None, description="Client id for introspection.")
    introspection_secret_env: str | None = Field(
        None, description="Name of the environment variable holding the introspection client secret."
    )
    introspection_secret_file: Path | None = Field(
        None, description="File holding the introspection client secret (first line)."
    )
    session_idle_seconds: Annotated[int, Field(ge=60, le=86400)] = Field(
        900, description="A person's session ends after this long without a request (HIPAA logoff)."
    )
    session_absolute_seconds: Annotated[int, Field(ge=300, le=7 * 86400)] = Field(
        43200, description="A person's session ends this long after sign-in, active or not."
    )
    unused_after_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        90, description="`rcmgw access-review` flags principals unused for this many days."
    )

    @field_validator("issuer_url", "metadata_url", "introspection_endpoint")
    @classmethod
    def _secure_url(cls, value: str | None) -> str | None:
        return None if value is None else require_https_or_loopback(value)

    @property
    def external(self) -> bool:
        """True when an external issuer is configured (the dev issuer is then off)."""
        return self.issuer_url is not None

    def introspection_secret(self) -> str | None:
        """The introspection client secret from its environment variable or file, if configured."""
        if self.introspection_secret_env:
            value = os.environ.get(self.introspection_secret_env)
            if value:
                return value
        if self.introspection_secret_file is not None:
            lines = self.introspection_secret_file.read_text("utf-8").splitlines()
            return lines[0].strip() if lines else None
        return None
