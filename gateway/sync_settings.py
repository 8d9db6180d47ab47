"""Settings section ``sync``: ticket status back from the ticketing systems (callbacks, the Redmine
poller), the remote-state mapping per sink, and the write-back targets. See docs/two-way-sync.md.

Example (YAML)::

    sync:
      enabled: true
      sinks:
        jira: {auth: {type: hmac, secret: env:JIRA_HOOK_SECRET}}
        zendesk:
          auth: {type: hmac, secret: env:ZD_SECRET, encoding: base64,
                 signature_header: X-Zendesk-Webhook-Signature,
                 timestamp_header: X-Zendesk-Webhook-Signature-Timestamp}
        redmine: {poll_seconds: 60, states: {Resolved: resolved, Closed: resolved}}
      writeback:
        - {name: cerner-events, kind: cerner, url: https://fhir.example, tenant: t1,
           token_url: https://auth.example/token, client_id: rcmgw, client_secret: env:CERNER_SECRET}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.delivery_settings import SecretRef

RemoteState = Literal["open", "acknowledged", "resolved", "reopened"]
WritebackOn = Literal["acknowledged", "resolved"]
Shape = Literal["jira", "servicenow", "zendesk", "generic"]

DEFAULT_STATES: dict[str, dict[str, RemoteState]] = {
    "jira": {"new": "open", "to do": "open", "indeterminate": "acknowledged", "in progress": "acknowledged",
             "done": "resolved"},
    "servicenow": {"1": "open", "new": "open", "2": "acknowledged", "in progress": "acknowledged",
                   "3": "acknowledged", "on hold": "acknowledged", "6": "resolved", "resolved": "resolved",
                   "7": "resolved", "closed": "resolved", "8": "resolved", "canceled": "resolved"},
    "zendesk": {"new": "open", "open": "acknowledged", "pending": "acknowledged", "hold": "acknowledged",
                "solved": "resolved", "closed": "resolved"},
    "redmine": {"new": "open", "in progress": "acknowledged", "feedback": "acknowledged",
                "resolved": "resolved", "closed": "resolved", "rejected": "resolved"},
    "generic": {"open": "open", "acknowledged": "acknowledged", "resolved": "resolved",
                "reopened": "reopened"},
}  # fmt: skip
"""Remote status (lower case; ServiceNow by state number or label) -> gateway state, per shape."""


class CallbackAuth(BaseModel):
    """How a sink's callbacks authenticate: ``hmac`` (a signature over timestamp + body) or
    ``token`` (a per-sink bearer token). Both need the timestamp header (replay window)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["hmac", "token"] = "hmac"
    secret: SecretRef = Field(description="The HMAC key or the bearer token (env:NAME / file:PATH).")
    encoding: Literal["hex", "base64"] = Field("hex", description="hmac: how the signature is written.")
    signature_header: str = Field("X-Rcmgw-Signature", description="hmac: header with the signature.")
    timestamp_header: str = Field("X-Rcmgw-Timestamp", description="Unix seconds or ISO 8601 UTC.")
    event_id_header: str = Field(
        "X-Rcmgw-Event-Id", description="Unique event id (nonce); default the signature or body digest."
    )


class SinkSync(BaseModel):
    """Status sync of one sink (keyed by the sink's name)."""

    model_config = ConfigDict(extra="forbid")

    shape: Shape | None = Field(None, description="Callback body shape; default from the sink kind.")
    auth: CallbackAuth | None = Field(None, description="Callback authentication (required for callbacks).")
    states: dict[str, RemoteState] = Field(
        default_factory=dict,
        description="Remote status -> open/acknowledged/resolved/reopened (adds to defaults).",
    )
    poll_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        60.0, description="redmine: seconds between polls of the REST API (updated_on cursor)."
    )

    @field_validator("states")
    @classmethod
    def _lower(cls, value: dict[str, RemoteState]) -> dict[str, RemoteState]:
        return {key.strip().lower(): state for key, state in value.items()}


def _resolved_only() -> list[WritebackOn]:
    return ["resolved"]


class WritebackTarget(BaseModel):
    """One write-back target: ``cerner`` (Revenue Cycle Events API with its own client-credentials
    token), ``webhook`` (the signed webhook of `fallback.webhook_sink`) or ``hl7`` (an HL7 v2
    message over MLLP, `fallback.mllp_writeback_sink`)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$")]
    kind: Literal["cerner", "webhook", "hl7"]
    url: str | None = Field(
        None, description="cerner: the API base URL; webhook: the endpoint (https; http only loopback)."
    )
    on: list[WritebackOn] = Field(
        default_factory=_resolved_only, description="Which status changes are written back."
    )
    tenant: str | None = Field(None, description="cerner: the tenant id (POST /v1/{tenant}/events).")
    token_url: str | None = Field(None, description="cerner: the system account's token endpoint.")
    client_id: str | None = Field(None, description="cerner: the system account's client id.")
    client_secret: SecretRef | None = Field(None, description="cerner: the system account's secret.")
    scope: str | None = Field(None, description="cerner: scope to request, if any.")
    secrets: list[SecretRef] = Field(default_factory=list, description="webhook: signing secrets.")
    host: str | None = Field(None, description="hl7: the MLLP receiver's host.")
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(None, description="hl7: the MLLP port.")
    tls: bool = Field(False, description="hl7: MLLP over TLS (server certificate verified).")
    receiving_app: str = Field("RCM", description="hl7: MSH-5.")
    receiving_facility: str = Field("", description="hl7: MSH-6.")

    @field_validator("url", "token_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://127.", "http://localhost")):
            raise ValueError("write-back URLs must use https (plain http only for loopback)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> WritebackTarget:
        need = {
            "cerner": ("url", "tenant", "token_url", "client_id", "client_secret"),
            "webhook": ("url", "secrets"),
            "hl7": ("host", "port"),
        }[self.kind]
        missing = [name for name in need if not getattr(self, name)]
        if missing:
            raise ValueError(f"write-back {self.name!r} ({self.kind}) needs {', '.join(missing)}")
        return self


class SyncSettings(BaseModel):
    """Section ``sync``: two-way sync with the ticketing systems (docs/two-way-sync.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Record remote ids, accept callbacks, poll Redmine, write back.")
    sinks: dict[str, SinkSync] = Field(
        default_factory=dict, description="Per sink name: auth, states, polling."
    )
    replay_window_seconds: Annotated[int, Field(ge=10, le=3600)] = Field(
        300, description="Callbacks whose timestamp is further than this from now are rejected."
    )
    writeback: list[WritebackTarget] = Field(default_factory=list, description="Write-back targets.")
    payer_labels: Annotated[int, Field(ge=0, le=500)] = Field(
        50, description="Distinct payer ids kept as metric labels; later ones are reported as 'other'."
    )


__all__ = [
    "DEFAULT_STATES",
    "CallbackAuth",
    "RemoteState",
    "Shape",
    "SinkSync",
    "SyncSettings",
    "WritebackTarget",
]
