"""Settings section ``mllp``: the HL7 v2 MLLP listener and which HL7 messages become tickets.

Set as ``RCMGW_MLLP__<FIELD>`` or under ``mllp:`` in the YAML file. The host and port can also be
given as ``RCMGW_MLLP_HOST`` / ``RCMGW_MLLP_PORT`` (the names in the issue and the README); the
double-underscore form wins when both are set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.hl7v2.strict import StrictValidationSettings
from normalizers.hl7v2_rules import Hl7TicketRules

FLAT_ALIASES = {"host": "RCMGW_MLLP_HOST", "port": "RCMGW_MLLP_PORT"}


class MllpSettings(BaseModel):
    """The MLLP listener started by ``rcmgw serve`` beside HTTP."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Start the MLLP listener with `rcmgw serve`.")
    host: str = Field("127.0.0.1", description="MLLP listen address (also $RCMGW_MLLP_HOST).")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        2575, description="MLLP port, 0 picks a free one (also $RCMGW_MLLP_PORT)."
    )
    max_frame_bytes: Annotated[int, Field(ge=1024)] = Field(
        1024 * 1024, description="Largest MLLP frame accepted, in bytes; larger frames get AE."
    )
    idle_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        300.0, description="Close a connection that sends nothing for this long."
    )
    group_commit_max: Annotated[int, Field(ge=1, le=4096)] = Field(
        256,
        description="Most messages of concurrent connections sharing one durable commit (1: a "
        "commit per message); each ACK still follows the commit holding its message.",
    )
    tls_cert_file: Path | None = Field(None, description="PEM certificate: serve MLLP over TLS.")
    tls_key_file: Path | None = Field(None, description="PEM private key of `tls_cert_file`.")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA bundle: require client certificates signed by it (mutual TLS)."
    )
    tickets: Hl7TicketRules = Field(
        default_factory=Hl7TicketRules, description="Which HL7 messages open tickets."
    )
    strict: StrictValidationSettings = Field(
        default_factory=StrictValidationSettings,
        description="Strict validation against hl7apy's message structures (off by default; slow).",
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_environment(cls, data: Any) -> Any:
        """Apply RCMGW_MLLP_HOST / RCMGW_MLLP_PORT unless the nested form is set."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for field, variable in FLAT_ALIASES.items():
            nested = f"RCMGW_MLLP__{field.upper()}"
            if variable in os.environ and nested not in os.environ:
                merged[field] = os.environ[variable]
        return merged

    @model_validator(mode="after")
    def _tls_pair(self) -> MllpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")
        return self
