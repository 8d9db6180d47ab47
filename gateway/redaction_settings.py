"""Settings of the redaction area (``RCMGW_REDACTION__<FIELD>``, or ``redaction:`` in YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class RedactionSettings(BaseModel):
    """Redaction and the optional re-identification vault (off by default)."""

    model_config = ConfigDict(extra="forbid")

    vault_enabled: bool = Field(
        False,
        description=(
            "Keep token -> value pairs in the re-identification vault (AES-256-GCM at rest), readable "
            "only through POST /v1/phi/reidentify with scope phi:reidentify; every read is audited."
        ),
    )
    vault_path: Path | None = Field(None, description="Vault SQLite file; default $HOME/vault/vault.db.")
    vault_retention_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        30, description="Days a token stays readable in the vault after it was last written."
    )
