"""Settings sections ``rules`` (which rules file) and ``lifecycle`` (dedup timing, fingerprint
fields), and building the routing parts of the runtime from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fallback.cipher import PayloadCipher
from gateway.lifecycle_flow import LifecycleGate
from gateway.lifecycle_flusher import LifecycleFlusher
from gateway.lifecycle_store import LifecycleStore, SqliteLifecycleStore
from normalizers.fingerprint import FINGERPRINT_FIELDS, check_fields
from normalizers.lifecycle import LifecyclePolicy
from normalizers.normalizer import Normalizer
from normalizers.rule_loader import load_rules
from normalizers.rule_set import RuleSet, Stage

if TYPE_CHECKING:
    from gateway.dataflow import FlowPart


class RulesSettings(BaseModel):
    """Section ``rules``: the routing rules file."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(
        None, description="YAML rules file; default the shipped normalizers/data/rules-default.yaml."
    )


class LifecycleSettings(BaseModel):
    """Section ``lifecycle``: one open ticket per fingerprint, repeats folded into it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Fold repeats of a problem into its open ticket.")
    group_wait_seconds: Annotated[float, Field(ge=0)] = Field(
        30, description="Repeats within this time of a ticket's opening never trigger an update."
    )
    repeat_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        14400, description="At most one update per fingerprint per this many seconds."
    )
    recurrence_window_seconds: Annotated[float, Field(gt=0)] = Field(
        86400, description="Window for counting the facilities a problem recurs at."
    )
    fingerprint_fields: list[str] = Field(
        list(FINGERPRINT_FIELDS), description="Draft fields that identify a problem (its fingerprint)."
    )
    flush_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        1.0,
        description="How often the group-wait flusher looks for absorbed repeats whose update is due"
        " without further input.",
    )

    @field_validator("fingerprint_fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        return list(check_fields(tuple(value)))

    def policy(self) -> LifecyclePolicy:
        """The lifecycle timing."""
        return LifecyclePolicy(
            group_wait=timedelta(seconds=self.group_wait_seconds),
            repeat_interval=timedelta(seconds=self.repeat_interval_seconds),
            recurrence_window=timedelta(seconds=self.recurrence_window_seconds),
        )


@dataclass(frozen=True, slots=True)
class RoutingParts:
    """What the runtime needs from the rules and lifecycle settings."""

    rules: RuleSet
    normalizer: Normalizer
    post_rules: RuleSet
    fingerprint_fields: tuple[str, ...]


def build_routing(rules: RulesSettings, lifecycle: LifecycleSettings) -> RoutingParts:
    """Load and validate the rules (`RuleConfigError` names file and line) and split them into the
    record stage (the normalizer) and the sealed stage (the sealer)."""
    rule_set = load_rules(rules.path)
    return RoutingParts(
        rules=rule_set,
        normalizer=Normalizer(rules=rule_set.stage(Stage.RECORD)),
        post_rules=rule_set.stage(Stage.SEALED),
        fingerprint_fields=tuple(lifecycle.fingerprint_fields),
    )


def build_lifecycle(
    settings: LifecycleSettings,
    spool_file: Path,
    *,
    postgres_dsn: str | None = None,
    cipher: PayloadCipher | None = None,
) -> LifecycleGate | None:
    """The lifecycle gate, or None when disabled: on the SQLite spool database file, or with
    ``postgres_dsn`` (the PostgreSQL spool's) in that database with a cluster-wide lock so several
    nodes share dedup and lifecycle. With ``cipher`` opened tickets are kept (encrypted) as
    group-wait flush templates."""
    if not settings.enabled:
        return None
    if postgres_dsn is not None:
        from gateway.lifecycle_postgres import PostgresLifecycleStore

        store = PostgresLifecycleStore(postgres_dsn)
        gate = LifecycleGate(store, settings.policy(), lock=store.cluster_lock(), cipher=cipher)
    else:
        gate = LifecycleGate(SqliteLifecycleStore(spool_file), settings.policy(), cipher=cipher)
    gate.flush_interval = settings.flush_interval_seconds
    return gate


class LifecycleService:
    """A `BackgroundService` that runs the group-wait flusher (`gateway.lifecycle_flusher`) and
    closes the lifecycle store (and its cluster lock) when the runtime stops (the store opens
    itself on first use)."""

    name = "lifecycle-store"

    def __init__(self, gate: LifecycleGate) -> None:
        self._gate = gate
        self.flusher = LifecycleFlusher(gate.flush_interval)

    @property
    def store(self) -> LifecycleStore:
        """The lifecycle store (the console reads occurrence history from it)."""
        return self._gate.store

    async def start(self, runtime: object) -> None:
        """Start the flusher."""
        await self.flusher.start(runtime)

    async def stop(self) -> None:
        """Stop the flusher (its last pass spools what is due), then close the store."""
        await self.flusher.stop()
        await self._gate.store.aclose()
        close = getattr(self._gate.lock, "aclose", None)
        if close is not None:
            await close()

    def dataflow_node(self) -> FlowPart:
        """The per-fingerprint state: fingerprints, ticket ids, counts and claim pseudonyms; the
        flusher spools PHI-free updates built from the (encrypted) sealed opening tickets."""
        from gateway.dataflow import IN_PROCESS, METADATA, PHI_FREE, FlowEdge, FlowNode, FlowPart

        node = FlowNode(
            "lifecycle", "store", "lifecycle state (fingerprints, claim pseudonyms)", at_rest="no PHI stored"
        )
        flushed = FlowEdge("lifecycle", "spool", PHI_FREE, "in process (group-wait updates)")
        return FlowPart([node], [FlowEdge("redact", "lifecycle", METADATA, IN_PROCESS), flushed])
