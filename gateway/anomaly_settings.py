"""Settings section ``anomaly``: counting, spike detection and meta-tickets."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from gateway.anomaly_detect import DetectionPolicy


class AnomalySettings(BaseModel):
    """Section ``anomaly``: hourly counts per payer, category and code; spikes open meta-tickets."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Count tickets and claims and look for spikes every hour.")
    max_scopes: Annotated[int, Field(ge=10, le=1_000_000)] = Field(
        5000, description="Most distinct scopes counted; past it new ones count as their kind's 'other'."
    )
    flush_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        10, description="How often counts held in memory are written to the store."
    )
    grace_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        60, description="Wait after an hour ends before judging it (late records of that hour)."
    )
    weeks: Annotated[int, Field(ge=1, le=12)] = Field(
        4, description="Previous weeks whose same hour of the week make the seasonal baseline."
    )
    min_count: Annotated[int, Field(ge=1)] = Field(
        10, description="Fewer occurrences in an hour are never a spike."
    )
    min_ratio: Annotated[float, Field(ge=1)] = Field(
        2.0, description="A spike is at least this many times its baseline."
    )
    significance: Annotated[float, Field(gt=0, lt=1)] = Field(
        1e-4, description="Largest p-value (upper tail) that counts as a spike."
    )
    cooldown_hours: Annotated[int, Field(ge=0, le=168)] = Field(
        24, description="A scope spiking again within this many hours adds to its open meta-ticket's episode."
    )
    owner: str = Field(
        "revenue-integrity",
        description="Taxonomy owner whose category meta-tickets get (queue and tier too).",
    )

    def policy(self) -> DetectionPolicy:
        """The detection thresholds."""
        return DetectionPolicy(
            weeks=self.weeks,
            min_count=self.min_count,
            min_ratio=self.min_ratio,
            significance=self.significance,
        )
