"""Settings of ``GET /metrics`` (`gateway.metrics`)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MetricsSettings(BaseModel):
    """``GET /metrics`` (Prometheus text format)."""

    model_config = ConfigDict(extra="forbid")

    unauthenticated_networks: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses or CIDR networks (e.g. 127.0.0.1/32, ::1) whose clients may scrape /metrics "
            "without a token; everyone else needs the metrics:read scope. Empty (the default): "
            "every scrape needs the scope. Behind a reverse proxy the proxy's address is seen."
        ),
    )

    @field_validator("unauthenticated_networks")
    @classmethod
    def _valid_networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values

    def allows(self, host: str | None) -> bool:
        """Whether a client at ``host`` may scrape without a token."""
        if not host or not self.unauthenticated_networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(
            address in ipaddress.ip_network(net, strict=False) for net in self.unauthenticated_networks
        )
