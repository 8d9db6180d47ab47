"""The ``saml`` settings section: the gateway as a SAML 2.0 service provider for people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class SamlSettings(BaseModel):
    """SAML 2.0 sign-in. Off unless ``idp_metadata_file`` and ``base_url`` are set."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        None,
        description="The gateway's public URL as people's browsers reach it (e.g. https://rcmgw.example).",
    )
    idp_metadata_file: Path | None = Field(None, description="The IdP's SAML metadata (XML file).")
    sp_entity_id: str | None = Field(None, description="Our entity id; default <base_url>/saml/metadata.")
    role_attribute: str = Field("role", description="The assertion attribute that carries job functions.")
    role_map: dict[str, list[str]] = Field(
        default_factory=dict,
        description="IdP attribute value -> gateway roles (unlisted values: the role of that name).",
    )
    max_response_bytes: Annotated[int, Field(ge=4096, le=4 * 1024 * 1024)] = Field(
        256 * 1024, description="Largest SAML message accepted (decoded), checked before parsing."
    )
    max_xml_depth: Annotated[int, Field(ge=8, le=256)] = Field(
        48, description="Deepest XML nesting accepted, checked before parsing."
    )
    request_max_age_seconds: Annotated[int, Field(ge=60, le=3600)] = Field(
        600, description="How long an AuthnRequest id we issued stays answerable."
    )

    @property
    def enabled(self) -> bool:
        """True when SAML sign-in is configured."""
        return self.base_url is not None and self.idp_metadata_file is not None
