"""Gateway settings: one object, from defaults < config file (YAML) < ``RCMGW_*`` environment.

Feature areas add a nested section (a pydantic model in their own module, one field here); its
fields are set as ``RCMGW_<SECTION>__<FIELD>`` or under ``<section>:`` in the YAML file.

Secrets never live here inline: keys are files under ``$RCMGW_HOME/keys`` (generated on first start
in the embedded default mode) or paths given by settings. `get_settings()` builds a fresh object;
nothing is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from adapters.fhir.config import FhirSettings
from gateway.anomaly_settings import AnomalySettings
from gateway.auth.config import AuthSettings
from gateway.auth.saml_config import SamlSettings
from gateway.delivery_settings import SinkConfig, SpoolSettings, default_sinks
from gateway.metrics_settings import MetricsSettings
from gateway.mllp_settings import MllpSettings
from gateway.redaction_settings import RedactionSettings
from gateway.retention import RetentionSettings
from gateway.rules_settings import LifecycleSettings, RulesSettings
from gateway.sync_settings import SyncSettings
from gateway.x12_settings import InboxSettings, SftpSettings, X12Settings

ENV_PREFIX = "RCMGW_"
CONFIG_ENV = "RCMGW_CONFIG"


class Settings(BaseSettings):
    """Every setting of the gateway. Each field can be set as ``RCMGW_<FIELD>`` (upper case) or in
    the YAML file named by ``RCMGW_CONFIG`` / ``--config``. See docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(Path("var"), description="Data directory: spool, outbox, keys, logs, quarantine.")
    http_host: str = Field("127.0.0.1", description="HTTP listen address.")
    http_port: Annotated[int, Field(ge=0, le=65535)] = Field(8080, description="HTTP port (0: any free).")
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        1024 * 1024, description="Largest request body accepted, in bytes."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_file: Path | None = Field(None, description="JSON log file; default $HOME/log/gateway.log.")
    spool_path: Path | None = Field(None, description="SQLite spool file; default $HOME/spool/spool.db.")
    outbox_path: Path | None = Field(
        None, description="File sink output; default $HOME/outbox/tickets.jsonl."
    )
    delivery_enabled: bool = Field(True, description="Run the delivery workers in this process.")
    delivery_poll_interval: Annotated[float, Field(gt=0, le=60)] = Field(
        0.5, description="Seconds between spool polls when idle (a new ticket wakes the worker at once)."
    )
    token_issuer: str = Field("rcmgw-dev", description="Expected `iss` of access tokens.")
    token_audience: str = Field("rcm-gateway", description="Expected `aud` of access tokens.")
    token_leeway_seconds: Annotated[int, Field(ge=0, le=60)] = Field(
        30, description="Clock skew allowed on exp/nbf, in seconds (at most 60)."
    )
    dev_token_ttl_seconds: Annotated[int, Field(ge=60, le=86400)] = Field(
        3600, description="Lifetime of tokens minted by `rcmgw token`."
    )
    mllp: MllpSettings = Field(default_factory=MllpSettings, description="HL7 v2 MLLP listener.")
    fhir: FhirSettings = Field(default_factory=FhirSettings, description="Epic / Cerner FHIR adapters.")
    auth: AuthSettings = Field(
        default_factory=AuthSettings, description="OAuth 2.0 resource server, sessions."
    )
    saml: SamlSettings = Field(default_factory=SamlSettings, description="SAML 2.0 sign-in for people.")
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings, description="Retention of quarantine, audit, delivered spool."
    )
    redaction: RedactionSettings = Field(
        default_factory=RedactionSettings, description="Redaction and the re-identification vault."
    )
    spool: SpoolSettings = Field(default_factory=SpoolSettings, description="Spool backend and retries.")
    sinks: list[SinkConfig] = Field(default_factory=default_sinks, description="Delivery targets.")
    x12: X12Settings = Field(default_factory=X12Settings, description="X12 over HTTP.")
    inbox: InboxSettings = Field(default_factory=InboxSettings, description="Watched X12 inbox.")
    sftp: SftpSettings = Field(default_factory=SftpSettings, description="SFTP mailbox for X12.")
    rules: RulesSettings = Field(default_factory=RulesSettings, description="Routing rules.")
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings, description="Dedup lifecycle.")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="Prometheus /metrics.")
    sync: SyncSettings = Field(
        default_factory=SyncSettings, description="Two-way sync with ticketing systems."
    )
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings, description="Anomaly detection.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence, highest first: explicit arguments, environment, config file."""
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    @property
    def spool_file(self) -> Path:
        """The SQLite spool path."""
        return self.spool_path or self.home / "spool" / "spool.db"

    @property
    def outbox_file(self) -> Path:
        """The file sink's JSONL path."""
        return self.outbox_path or self.home / "outbox" / "tickets.jsonl"

    @property
    def log_path(self) -> Path:
        """The JSON log file."""
        return self.log_file or self.home / "log" / "gateway.log"

    @property
    def keys_dir(self) -> Path:
        """Where generated keys live."""
        return self.home / "keys"

    @property
    def inbox_dir(self) -> Path:
        """The watched X12 inbox."""
        return self.inbox.directory or self.home / "inbox" / "x12"

    @property
    def quarantine_dir(self) -> Path:
        """Where rejected inputs are kept, encrypted."""
        return self.home / "quarantine"


def get_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from ``config_file`` (or ``$RCMGW_CONFIG``), the environment and ``overrides``."""
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="__",
            extra="forbid",
            validate_default=True,
            yaml_file=path,
        )

    return _FileSettings(**overrides)  # type: ignore[arg-type]
