"""Settings sections ``spool`` and ``sinks``: where the spool lives and where tickets go.

Secrets are never written in the configuration: the PostgreSQL DSN, webhook secrets and API keys are
*references*, ``env:NAME`` (an environment variable) or ``file:/path`` (a file, whitespace stripped),
resolved when the gateway starts (`resolve_secret`).

Example (YAML)::

    spool:
      backend: postgresql
      dsn: env:RCMGW_SPOOL_DSN
    sinks:
      - {name: file, kind: file}
      - {name: hook, kind: webhook, url: https://hooks.example/rcm, secrets: [file:/run/secrets/hook]}
      - {name: redmine, kind: redmine, url: https://redmine.example, api_key: env:REDMINE_KEY,
         project: rcm, external_id_field: 7}
      - {name: pull, kind: pull}

A ``rest`` sink is defined by its ``options`` (`fallback.rest_sink.RestSpec`: auth, search, create,
comment, mentions); see docs/sinks.md and docs/examples/rest-sink.yaml.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fallback.rest_sink import RestSpec

SecretRef = Annotated[str, Field(pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")]
"""``env:NAME`` or ``file:/path``: where a secret is read from at start-up."""


def resolve_secret(ref: str) -> str:
    """The secret a `SecretRef` points to; ValueError (naming the reference only) when missing."""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if not value:
            raise ValueError(f"secret reference {ref}: environment variable is not set")
        return value
    if kind == "file":
        try:
            return Path(where).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"secret reference {ref}: cannot read ({type(exc).__name__})") from None
    raise ValueError(f"secret reference {ref!r} must start with env: or file:")


class SpoolSettings(BaseModel):
    """Where the spool lives, and the delivery schedule."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "postgresql"] = Field(
        "sqlite", description="sqlite (embedded, one node) or postgresql (several nodes)."
    )
    dsn: SecretRef | None = Field(
        None, description="PostgreSQL DSN reference (env:NAME or file:/path), never the DSN itself."
    )
    lease_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        60.0, description="How long a worker holds entries before others may take them."
    )
    pull_lease_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        300.0, description="How long pulled tickets wait for an ack before they are offered again."
    )
    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(8, description="Attempts before dead letter.")
    max_age_hours: Annotated[float, Field(gt=0)] = Field(72.0, description="Age at which retrying stops.")
    schedule_seconds: list[Annotated[float, Field(ge=0)]] | None = Field(
        None, description="Retry delays; default: the Standard Webhooks schedule."
    )
    retention_days: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Delivered entries older than this are purged by `rcmgw spool purge`."
    )

    @model_validator(mode="after")
    def _postgresql_needs_a_dsn(self) -> SpoolSettings:
        if self.backend == "postgresql" and self.dsn is None:
            raise ValueError("spool.backend is postgresql but spool.dsn (env:NAME or file:PATH) is unset")
        return self


SinkKind = Literal["file", "webhook", "redmine", "jira", "servicenow", "zendesk", "rest", "pull"]


class SinkConfig(BaseModel):
    """One delivery target. Fields beyond ``name``/``kind`` apply to the kinds that use them."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$")]
    kind: SinkKind
    url: str | None = Field(None, description="Base URL (https; http only for loopback).")
    path: Path | None = Field(None, description="file: the JSONL file (default: the outbox).")
    secrets: list[SecretRef] = Field(default_factory=list, description="webhook signing secrets.")
    api_key: SecretRef | None = Field(None, description="redmine/zendesk/servicenow credential.")
    project: str | None = Field(None, description="redmine project identifier / jira project key.")
    external_id_field: int | None = Field(None, description="redmine custom field id for the fingerprint.")
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    rate_limit: str | float | None = Field(None, description="A preset name or requests per second.")
    circuit_breaker: bool = Field(True, description="Stop trying while the sink keeps failing.")
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        1, description="Sends in flight at once within a leased batch (1: one by one, in order)."
    )
    options: dict[str, object] = Field(default_factory=dict, description="Kind-specific extras.")

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://127.", "http://localhost")):
            raise ValueError("sink URLs must use https (plain http only for loopback)")
        return value

    @model_validator(mode="after")
    def _rest_spec(self) -> SinkConfig:
        if self.kind == "rest":
            if self.url is None:
                raise ValueError("a rest sink needs url")
            RestSpec.model_validate(self.options)  # the whole request spec, checked at load time
        return self


def default_sinks() -> list[SinkConfig]:
    """The out-of-the-box target: the JSONL outbox file."""
    return [SinkConfig(name="file", kind="file")]


__all__ = ["SecretRef", "SinkConfig", "SinkKind", "SpoolSettings", "default_sinks", "resolve_secret"]
