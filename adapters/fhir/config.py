"""Configuration models of the FHIR adapters: one `FhirInstance` per upstream server.

They live beside the adapters (``gateway.settings`` holds one `FhirSettings` field, section
``fhir``). Secrets are never inline: a Cerner system-account secret is named by an environment
variable; signing keys are files under ``$RCMGW_HOME/keys``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

Vendor = Literal["epic", "cerner"]
SigningAlg = Literal["RS384", "ES384"]

EPIC_DEFAULT_SEARCHES: tuple[dict[str, object], ...] = (
    {"resource": "ExplanationOfBenefit", "params": {"outcome": "partial"}},
    {"resource": "ExplanationOfBenefit", "params": {"outcome": "error"}},
    {"resource": "ClaimResponse", "params": {"outcome": "error"}},
    {"resource": "Coverage", "params": {"status": "cancelled,entered-in-error"}},
)
CERNER_DEFAULT_SEARCHES: tuple[dict[str, object], ...] = (
    {"resource": "ClaimResponse", "params": {"outcome": "error"}},
    {"resource": "Account", "params": {"status": "on-hold,inactive"}},
    {"resource": "ChargeItem", "params": {"status": "billable,aborted,entered-in-error"}},
    {"resource": "Coverage", "params": {"status": "cancelled,entered-in-error"}},
)


EPIC_ERROR_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"
# Vendor notes inside successful search Bundles that are not problems (see outcome_filter.py).
EPIC_DEFAULT_IGNORED_CODES: tuple[str, ...] = (f"{EPIC_ERROR_SYSTEM}|4101",)  # no results
CERNER_DEFAULT_IGNORED_CODES: tuple[str, ...] = ()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FhirSearch(_Strict):
    """One search run on every poll: ``GET {base}/{resource}?{params}&_lastUpdated=gt{cursor}``."""

    resource: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]{1,63}$")]
    params: dict[str, str] = Field(default_factory=dict, description="Search parameters.")

    @property
    def key(self) -> str:
        """A stable name for this search's cursor."""
        query = "&".join(f"{name}={value}" for name, value in sorted(self.params.items()))
        return f"{self.resource}?{query}"


class PeakWindow(_Strict):
    """Hours when production is busiest (claim submission): polls slow down to the peak interval.
    ``days`` are ISO weekdays (1 = Monday); ``end`` before ``start`` spans midnight."""

    start: time
    end: time
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls in this window."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return local.isoweekday() in self.days and self.start <= clock < self.end
        if clock >= self.start:
            return local.isoweekday() in self.days
        return clock < self.end and (local - timedelta(days=1)).isoweekday() in self.days


class FhirInstance(_Strict):
    """One Epic or Cerner FHIR R4 server we poll."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    vendor: Vendor
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    token_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = Field(
        None, description="Token endpoint; Cerner: discovered from smart-configuration when unset."
    )
    auth: Literal["private_key_jwt", "client_secret_basic"] = "private_key_jwt"
    client_secret_env: str | None = Field(
        None, description="Environment variable holding the system-account secret (client_secret_basic)."
    )
    signing_alg: SigningAlg = Field("RS384", description="ES384 only where a JWK Set URL is registered.")
    scope: str = "system/*.read"
    searches: list[FhirSearch] = Field(default_factory=list, description="Empty: the vendor's defaults.")
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    max_pages: Annotated[int, Field(ge=1, le=1000)] = 50
    interval_seconds: Annotated[float, Field(gt=0)] = 300.0
    peak_interval_seconds: Annotated[float, Field(gt=0)] = 1800.0
    peak_windows: list[PeakWindow] = Field(default_factory=list)
    jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.1
    requests_per_hour: Annotated[int, Field(ge=1)] = 600
    max_concurrency: Annotated[int, Field(ge=1, le=16)] = 2
    breaker_failures: Annotated[int, Field(ge=1)] = 5
    breaker_reset_seconds: Annotated[float, Field(gt=0)] = 300.0
    backoff_max_seconds: Annotated[float, Field(gt=0)] = 3600.0
    outage_after_seconds: Annotated[float, Field(ge=0)] = 900.0
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    initial_lookback_hours: Annotated[float, Field(ge=0)] = 24.0
    start_from: AwareDatetime | None = Field(None, description="First cursor; default now - lookback.")
    ignored_outcome_codes: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        None,
        description="Outcome-entry issue codes (`system|code` or `code`) of successful searches that "
        "raise no ticket; unset: the vendor's defaults (Epic 4101, no results); [] ignores none.",
    )
    ignore_information: bool = Field(
        True, description="Drop `information` issues of outcome entries in successful searches."
    )

    @model_validator(mode="after")
    def _auth_complete(self) -> FhirInstance:
        if self.auth == "client_secret_basic" and not self.client_secret_env:
            raise ValueError("client_secret_basic needs client_secret_env")
        if self.vendor == "epic" and self.token_url is None:
            raise ValueError("epic instances need token_url (the exact URL the assertion's aud names)")
        if self.peak_interval_seconds < self.interval_seconds:
            raise ValueError("peak_interval_seconds must not be shorter than interval_seconds")
        return self

    def effective_searches(self) -> list[FhirSearch]:
        """The configured searches, or the vendor's defaults."""
        if self.searches:
            return list(self.searches)
        defaults = EPIC_DEFAULT_SEARCHES if self.vendor == "epic" else CERNER_DEFAULT_SEARCHES
        return [FhirSearch.model_validate(item) for item in defaults]

    def effective_ignored_outcome_codes(self) -> list[str]:
        """The configured ignored outcome codes, or the vendor's defaults."""
        if self.ignored_outcome_codes is not None:
            return list(self.ignored_outcome_codes)
        defaults = EPIC_DEFAULT_IGNORED_CODES if self.vendor == "epic" else CERNER_DEFAULT_IGNORED_CODES
        return list(defaults)

    def interval_at(self, moment: datetime) -> float:
        """The poll interval that applies at ``moment``."""
        if any(window.contains(moment) for window in self.peak_windows):
            return self.peak_interval_seconds
        return self.interval_seconds

    def initial_cursor(self, now: datetime) -> datetime:
        """Where a search without a stored cursor starts."""
        return self.start_from or (now - timedelta(hours=self.initial_lookback_hours))


class FhirSettings(_Strict):
    """Settings section ``fhir``: the upstream FHIR servers to poll and the push endpoints."""

    enabled: bool = Field(True, description="Run the FHIR pollers configured under `instances`.")
    instances: list[FhirInstance] = Field(
        default_factory=list, description="FHIR servers to poll (a list; see docs/fhir.md)."
    )
    token_refresh_min_seconds: Annotated[float, Field(ge=0)] = Field(
        60.0, description="Never request a new upstream token more often than this."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> FhirSettings:
        names = [instance.name for instance in self.instances]
        if len(names) != len(set(names)):
            raise ValueError("FHIR instance names must be unique")
        return self
